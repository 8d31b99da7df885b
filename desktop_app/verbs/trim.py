"""`sqlite-pulse trim DB --table T --keep-rows N | --keep-for D [--time-column C] | --keep-bytes S`: delete a
table's oldest rows in bounded chunks, whatever filled it (core/ingest/retention.py).

Each chunk is its own short transaction, so a writer in another process (an ingest) gets the lock between
chunks; the busy timeout waits for it. `--dry-run` only counts. Ctrl+C stops between chunks: what was deleted
stays deleted, the rest is untouched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop_app.core.ingest.retention import Retention

EXIT_OK = 0
BUSY_TIMEOUT_MS = 5000  # a chunk waits this long for another process's write to finish
DEFAULT_CHUNK = 10_000


def register(subparsers: argparse._SubParsersAction) -> None:
    trim = subparsers.add_parser("trim", help="delete a table's oldest rows in bounded chunks (retention)")
    trim.add_argument("db", type=Path)
    trim.add_argument("--table", required=True)
    trim.add_argument("--keep-rows", metavar="N", help="keep the newest N rows (rowid order)")
    trim.add_argument("--keep-for", metavar="D", help="keep rows whose time is within the last D (90s, 12h, 7d)")
    trim.add_argument("--time-column", metavar="C", help="--keep-for reads this column (Unix seconds; default received_at)")
    trim.add_argument("--keep-bytes", metavar="S", help="keep at most S of the table and its indexes (500MB, 2GiB)")
    trim.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, metavar="N", help="rows per transaction")
    trim.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    trim.add_argument("--json", action="store_true", help="print one JSON object")
    trim.set_defaults(handler=run_trim)


def _policy(args: argparse.Namespace) -> Retention:
    from desktop_app.core.errors import PulseError
    from desktop_app.core.ingest.retention import Retention, parse_duration, parse_rows, parse_size

    given = [flag for flag in ("keep_rows", "keep_for", "keep_bytes") if getattr(args, flag) is not None]
    if not given:
        raise PulseError("Say what to keep: --keep-rows N, --keep-for D or --keep-bytes S.")
    if args.time_column is not None and args.keep_for is None:
        raise PulseError("--time-column goes with --keep-for.")
    if args.chunk < 1:
        raise PulseError(f"--chunk must be at least 1 (got {args.chunk}).")
    try:
        return Retention(
            rows=parse_rows(args.keep_rows) if args.keep_rows is not None else None,
            seconds=parse_duration(args.keep_for) if args.keep_for is not None else None,
            time_column=args.time_column,
            bytes=parse_size(args.keep_bytes) if args.keep_bytes is not None else None,
        )
    except ValueError as exc:
        raise PulseError(f"{exc}.") from None


def run_trim(args: argparse.Namespace) -> int:
    import apsw

    from desktop_app.core.database import open_database
    from desktop_app.core.errors import translate
    from desktop_app.core.ingest.retention import format_size, trim_table

    policy = _policy(args)
    database = open_database(args.db, read_only=args.dry_run)
    connection = database.connect_read() if args.dry_run else database.connect_write(BUSY_TIMEOUT_MS)
    show = sys.stderr.isatty() and not args.json

    def progress(deleted: int) -> None:
        if show:
            sys.stderr.write(f"\r\x1b[Kdeleted {deleted:,} rows")
            sys.stderr.flush()

    try:
        result = trim_table(connection, args.table, policy, chunk=args.chunk, dry_run=args.dry_run, progress=progress)
    except KeyboardInterrupt:
        if show:
            sys.stderr.write("\n")
        print("sqlite-pulse: interrupted: the chunks already deleted stay deleted.", file=sys.stderr)
        return 130
    except apsw.Error as exc:
        raise translate(exc, database.path) from exc
    finally:
        connection.close()
    if show:
        sys.stderr.write("\r\x1b[K")
    if args.json:
        print(json.dumps(result.to_dict()))
        return EXIT_OK
    verb = "would delete" if result.dry_run else "deleted"
    kept = "" if result.kept_rows is None else f" (keeping {result.kept_rows:,})"
    print(
        f"{result.table}: {verb} {result.deleted:,} of {result.rows_before:,} rows{kept} in {result.seconds:.2f} s; "
        f"freelist {result.freelist_pages:,} pages ({format_size(result.freelist_pages * result.page_size)}), "
        "reused by the next inserts"
    )
    return EXIT_OK
