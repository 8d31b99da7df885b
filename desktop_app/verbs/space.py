"""`sqlite-pulse space DB [--json]`: where the file's bytes go, per table and index (core/space.py).

Read-only. The scan runs on a thread of its own so the main thread stays in Python, where Ctrl+C lands at
once: it interrupts the statement walking a big table instead of waiting for it to finish.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import apsw

    from desktop_app.core.space import SpaceReport

EXIT_OK = 0
EXIT_INTERRUPTED = 130
MB = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    space = subparsers.add_parser("space", help="space used by each table and index, like sqlite3_analyzer (read-only)")
    space.add_argument("db", type=Path)
    space.add_argument("--json", action="store_true", help="print one JSON object")
    space.set_defaults(handler=run_space)


def run_space(args: argparse.Namespace) -> int:
    from desktop_app.core.database import open_database

    database = open_database(args.db, read_only=True)
    connection = database.connect_read()
    try:
        report = _scan(connection)
    except KeyboardInterrupt:
        print("sqlite-pulse: space: cancelled.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        connection.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(format_report(report))
    return EXIT_OK


def _scan(connection: apsw.Connection) -> SpaceReport:
    """`analyze` on a worker thread; a KeyboardInterrupt here interrupts it and waits for it to stop."""
    from desktop_app.core.space import analyze

    outcome: list[SpaceReport] = []
    failure: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome.append(analyze(connection))
        except BaseException as exc:  # handed to the main thread, which raises it
            failure.append(exc)
        finally:
            finished.set()

    # Waited for with an Event, not Thread.join: Python 3.11 marks a thread as ended when a KeyboardInterrupt
    # lands in its join(), and the connection would then be closed while the scan still runs.
    threading.Thread(target=run, name="pulse-space", daemon=True).start()
    try:
        finished.wait()  # a lock wait: Python runs the SIGINT handler during it
    except KeyboardInterrupt:
        while not finished.is_set():
            connection.interrupt()  # stops the running statement; the scan then ends in QueryInterrupted
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl+C while it stops changes nothing
                finished.wait()
        raise
    if failure:
        raise failure[0]
    return outcome[0]


COLUMNS = ("name", "kind", "pages", "MB", "%", "payload MB", "unused MB", "overflow", "avg row", "rows")


def format_report(report: SpaceReport) -> str:
    from desktop_app.core.maintenance import human_bytes

    rows = [
        (
            o.name,
            o.kind if o.kind == "table" else f"index on {o.table}",
            f"{o.pages:,}",
            f"{o.bytes / MB:,.2f}",
            f"{o.share:.2f}",
            f"{o.payload_bytes / MB:,.2f}",
            f"{o.unused_bytes / MB:,.2f}",
            f"{o.overflow_pages:,}",
            "" if o.avg_row_bytes is None else f"{o.avg_row_bytes:,.1f}",
            f"{o.rows:,}",
        )
        for o in report.objects
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(COLUMNS, *rows, strict=False)]
    left = 2  # name and kind read left-aligned, numbers right-aligned

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [str(report.path), line(COLUMNS), *(line(r) for r in rows), ""]
    ps = report.page_size
    overhead = [f"{report.header_bytes} header bytes"]
    if report.pointer_map_pages:
        overhead.append(f"{report.pointer_map_pages:,} pointer-map pages")
    if report.lock_byte_pages:
        overhead.append("the lock-byte page")
    if report.other_pages:
        overhead.append(f"{report.other_pages:,} pages unaccounted for")
    out += [
        f"tables     {human_bytes(report.table_bytes):>12}  ({report.tables} b-trees)",
        f"indexes    {human_bytes(report.index_bytes):>12}  ({report.indexes} b-trees)",
        f"freelist   {human_bytes(report.freelist_bytes):>12}  ({report.freelist_pages:,} pages of {ps:,} bytes)",
        f"overhead   {human_bytes(report.overhead_bytes):>12}  ({', '.join(overhead)})",
        f"total      {human_bytes(report.total_bytes):>12}  ({report.total_bytes:,} bytes = {report.page_count:,} pages × {ps:,})",
        describe_file(report),
    ]
    if report.changed_during_scan:
        out.append("note: another connection changed the database during the scan; run it again for exact numbers.")
    return "\n".join(out)


def describe_file(report: SpaceReport) -> str:
    if report.file_bytes == report.database_bytes:
        return f"= the file size ({report.file_bytes:,} bytes)"
    wal = f"; the -wal holds {report.wal_bytes:,} bytes" if report.wal_bytes else ""
    return (
        f"the file has {report.file_bytes:,} bytes: pages still in the WAL count in the total "
        f"until a checkpoint copies them into the file{wal}"
    )
