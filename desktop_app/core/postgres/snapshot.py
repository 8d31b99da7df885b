"""A consistent copy of a rollback-journal source for `migrate` to read, so the application keeps writing.

In DELETE / TRUNCATE / PERSIST (rollback-journal) mode a reader's open transaction blocks every writer's
COMMIT until it ends, and `migrate` reads in one transaction for the whole run. So such a source is first
copied with SQLite's online backup API in steps (the source is locked only during each step; writers commit
between steps), into a temporary file that `migrate` then reads and removes. A write between steps makes
SQLite restart the copy; each restart doubles the step, so a busy source is still copied (at worst in one
step, holding the lock for that one copy). WAL sources are read directly: their readers block no writer.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import apsw

from desktop_app.core.database import connect_read

FIRST_STEP_PAGES = 256
BUSY_SECONDS = 30.0  # how long a step waits for a writer holding the source before giving up


def needs_snapshot(connection: apsw.Connection) -> bool:
    """True for a rollback-journal source (every mode but WAL), whose long read would block its writers."""
    mode = connection.execute("PRAGMA journal_mode").fetchone()
    return str(mode[0] if mode else "").lower() != "wal"


def open_snapshot(source: Path, cancel: threading.Event) -> tuple[apsw.Connection, Path]:
    """(a read connection to the snapshot, its temporary directory to remove once that is closed). Raises
    `Cancelled` when `cancel` is set; on any failure, opening the copy included, the directory is removed."""
    folder = Path(tempfile.mkdtemp(prefix="pulse-migrate-"))
    copy = folder / "snapshot.db"
    try:
        reader = connect_read(source, busy_timeout_ms=5000)
        try:
            target = apsw.Connection(str(copy))
            try:
                _copy(reader, target, cancel)
            finally:
                target.close()
        finally:
            reader.close()
        return connect_read(copy, busy_timeout_ms=5000), folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


class Cancelled(Exception):
    pass


def _copy(source: apsw.Connection, target: apsw.Connection, cancel: threading.Event) -> None:
    step, last_done = FIRST_STEP_PAGES, 0
    deadline = time.monotonic() + BUSY_SECONDS
    with target.backup("main", source, "main") as job:
        while not job.done:
            if cancel.is_set():
                raise Cancelled
            try:
                job.step(step)
            except apsw.BusyError:  # a writer holds the source: wait for it, as a busy timeout would
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            done = job.page_count - job.remaining
            if not job.done and done <= last_done:  # a write restarted the copy from the first page
                step = -1 if step >= job.page_count else step * 2
            last_done = done
