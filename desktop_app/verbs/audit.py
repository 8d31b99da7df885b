"""`sqlite-pulse audit DB [--json]`: the production checklist (core/audit.py), exit status like a linter.

0: nothing at warning or above; 1: a finding at warning or above; 2: bad input (`cli.py` prints the
PulseError as one line). Read-only: the database file is never written, and -wal/-shm files a read
connection had to create are cleaned up by SQLite itself afterwards (see `companions_as_found`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import apsw

    from desktop_app.core.audit import AuditReport

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INTERRUPTED = 130  # as cli.py answers a Ctrl+C
COMPANIONS = ("-wal", "-shm")
HEADINGS = {"error": "Errors", "warning": "Warnings", "info": "Notes"}
log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="check a database against the production checklist (read-only; exit 1 on warnings or errors)",
    )
    audit.add_argument("db", type=Path)
    audit.add_argument("--json", action="store_true", help="print one JSON object")
    audit.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from desktop_app.core.audit import audit  # noqa: PLC0415 (verbs load their core when called)
    from desktop_app.core.database import open_database  # noqa: PLC0415
    from desktop_app.core.errors import QueryInterrupted  # noqa: PLC0415

    path = Path(args.db).expanduser().absolute()
    stopped = threading.Event()
    reading: list[apsw.Connection] = []

    def interrupt(_signum: int, _frame: object) -> None:
        # Python runs handlers between bytecodes, not inside a long quick_check: stop SQLite's statement too.
        stopped.set()
        for connection in reading:
            connection.interrupt()

    previous = signal.signal(signal.SIGINT, interrupt)  # before the file is opened: no Ctrl+C goes unheard
    try:
        with companions_as_found(path):
            database = open_database(path, read_only=True)
            connection = database.connect_read()
            reading.append(connection)
            try:
                report = audit(connection, database.path, cancelled=stopped.is_set)
            finally:
                reading.clear()
                connection.close()
    except QueryInterrupted:
        if not stopped.is_set():
            raise
        print("sqlite-pulse: audit interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print(json.dumps(report.to_dict(), default=str))
    else:
        print(format_report(report))
    return EXIT_FINDINGS if report.has_problems else EXIT_CLEAN


def format_report(report: AuditReport) -> str:
    lines = [f"{report.path}: {report.summary()}"]
    for severity, findings in report.by_severity().items():
        if not findings:
            continue
        lines.append("")
        lines.append(f"{HEADINGS[severity]} ({len(findings)}):")
        for finding in findings:
            lines.append(f"  [{finding.code}] {finding.title}")
            lines.extend(f"      {line}" for line in finding.evidence.splitlines())
            lines.append(f"    Fix: {finding.advice}")
            if finding.fix_sql:
                lines.extend(f"      {line}" for line in finding.fix_sql.splitlines())
    return "\n".join(lines)


@contextlib.contextmanager
def companions_as_found(path: Path) -> Iterator[None]:
    """Leave no -wal/-shm behind that were not there before.

    A read-only connection to a WAL database creates both when they are missing and, unable to checkpoint,
    leaves them on close. So when neither existed, a read-write connection that only reads is opened and
    closed afterwards: as the last connection, SQLite checkpoints the (empty) WAL and deletes both files; the
    database file is not written. If another connection opened meanwhile, SQLite keeps them for it."""
    real = path.resolve() if path.exists() else path
    existed = any(Path(f"{real}{suffix}").exists() for suffix in COMPANIONS)
    try:
        yield
    finally:
        if not existed and any(Path(f"{real}{suffix}").exists() for suffix in COMPANIONS):
            _let_sqlite_tidy(real)


def _let_sqlite_tidy(path: Path) -> None:
    import apsw  # noqa: PLC0415

    from desktop_app.core.database import connect_write  # noqa: PLC0415
    from desktop_app.core.errors import PulseError  # noqa: PLC0415

    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        return  # SQLite could not delete them either: they stay, as after any read-only reader
    try:
        connection = connect_write(path, busy_timeout_ms=0)
        try:
            connection.execute("PRAGMA schema_version").fetchall()  # a read: the WAL is opened, so closed
        finally:
            connection.close()
    except (PulseError, apsw.Error) as exc:  # the audit's answer stands; only the tidying is skipped
        log.warning("left %s-wal and -shm in place: %s", path.name, exc)
