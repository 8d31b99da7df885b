"""Maintenance actions on a database file: checkpoint, online backup, VACUUM, integrity check, optimize.

Plain blocking functions: the caller runs them off the GUI thread. Each opens its own connection and
closes it before returning; the `*_on(connection)` forms that write run on the caller's connection instead
(the session's one writer). Every failure is a typed `PulseError` with a message a person understands.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import apsw

from desktop_app.core import errors
from desktop_app.core.database import (
    connect_read,
    connect_write,
    open_database,
    pragma,
    roll_back_hot_journal,
)
from desktop_app.core.words import counted

CHECKPOINT_MODES = ("passive", "full", "restart", "truncate")
# Copying every page in one step holds the source's read lock for the whole copy; in WAL mode that does
# not block writers, so a backup restarted this many times by concurrent writes finishes in one go.
BACKUP_RESTARTS_BEFORE_ONE_STEP = 3
# PRAGMA optimize flags: 0x02 runs ANALYZE where it helps, 0x10000 looks at every table (a fresh
# connection has not queried any, so the default mask would do nothing), 0x01 only lists the work.
OPTIMIZE_MASK = 0x10002
OPTIMIZE_DEBUG = 0x01
# The maintenance jobs that write the file (the others only read it): refused on a read-only open, and the
# sampler is told of them, so the app's own work never raises a flag. One list, read by the window and the
# session alike.
WRITE_JOBS = frozenset({"checkpoint", "vacuum", "optimize"})
CHECK_LINES_SHOWN = 20  # problems listed in a check's description (the rest are counted)


def human_bytes(count: float) -> str:
    """1,000-based sizes as people read them: 512 bytes, 1.5 MB."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000.0
    return f"{count:,.1f} TB"


@dataclass(frozen=True)
class CheckpointResult:
    mode: str
    busy: int  # 1 when a reader or writer prevented the checkpoint from finishing
    # Frames in the WAL, and how many of them are now in the database file, as SQLite reports them:
    # -1 and -1 when the database is not in WAL mode; 0 and 0 after a TRUNCATE that emptied the WAL.
    log_frames: int
    checkpointed_frames: int

    @property
    def incomplete(self) -> bool:
        """Some WAL frames were not copied (a reader's snapshot or a busy writer stopped the copy)."""
        return 0 <= self.checkpointed_frames < self.log_frames

    def describe(self) -> str:
        """The result in words: SQLite's three numbers, and what to do when it could not finish."""
        mode = self.mode.upper()
        if self.log_frames < 0:
            return f"Checkpoint ({mode}): the database is not in WAL mode, so there is nothing to checkpoint."
        text = (
            f"Checkpoint ({mode}): busy={self.busy}, WAL frames={self.log_frames:,}, "
            f"checkpointed={self.checkpointed_frames:,}."
        )
        if self.busy:
            text += " Another connection was busy, so the checkpoint could not finish; try again when it is idle."
        elif self.incomplete:
            left = self.log_frames - self.checkpointed_frames
            text += f" {left:,} frames were not copied: they are still needed by an open reader."
        return text


@dataclass(frozen=True)
class BackupResult:
    destination: Path
    pages: int
    seconds: float
    cancelled: bool

    def describe(self) -> str:
        if self.cancelled:
            return "Backup cancelled; no partial file was left behind."
        return f"Backed up {self.pages:,} pages to {self.destination} in {self.seconds:.1f} s."


@dataclass(frozen=True)
class VacuumResult:
    before_bytes: int
    after_bytes: int
    seconds: float
    destination: Path | None  # set by VACUUM INTO

    def describe(self) -> str:
        saved = self.before_bytes - self.after_bytes
        target = f" into {self.destination}" if self.destination else ""
        return (
            f"VACUUM{target}: {human_bytes(self.before_bytes)} → {human_bytes(self.after_bytes)} "
            f"({'saved ' + human_bytes(saved) if saved > 0 else 'no space reclaimed'}) in {self.seconds:.1f} s."
        )


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    messages: list[str]  # SQLite's own rows ("ok", or one problem per row), up to max_errors
    quick: bool
    rolled_back_journal: bool = False  # a hot journal was rolled back first, as a read-write open does

    def describe(self, *, most: int | None = CHECK_LINES_SHOWN) -> str:
        """Passed, or the problems SQLite listed (the first `most` of them; None: all)."""
        kind = "Quick check" if self.quick else "Integrity check"
        note = (
            "Rolled back a hot journal first: the transaction a writer left unfinished was undone, every "
            "committed one is kept.\n" if self.rolled_back_journal else ""
        )
        if self.ok:
            return f"{note}{kind} passed: the database is consistent."
        lines = [line for message in self.messages for line in message.splitlines()]  # a row can hold several
        shown = lines if most is None else lines[:most]
        more = f"\n… and {len(lines) - len(shown)} more" if len(shown) < len(lines) else ""
        listed = "\n".join(f"  {line}" for line in shown)
        return f"{note}{kind} found {counted(len(self.messages), 'problem')}:\n{listed}{more}"


def describe_optimize(statements: list[str]) -> str:
    """What PRAGMA optimize did (`optimize` returns the statements it ran)."""
    if not statements:
        return "Optimize: the query planner statistics are already current; nothing to do."
    return "Optimize ran:\n" + "\n".join(statements)


def checkpoint(path: Path | str, mode: str = "passive") -> CheckpointResult:
    """`PRAGMA wal_checkpoint(MODE)`: copy WAL frames back into the database file.

    PASSIVE never waits; FULL waits for writers; RESTART also waits for readers so the next writer starts
    the WAL from the beginning; TRUNCATE does that and truncates the WAL file to zero bytes.
    """
    database = open_database(path, read_only=False)
    connection = connect_write(database.path)
    try:
        # Closing this connection must not run a second, full checkpoint: report exactly what MODE did.
        connection.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
        return checkpoint_on(connection, mode)
    finally:
        connection.close()


def checkpoint_on(connection: apsw.Connection, mode: str = "passive") -> CheckpointResult:
    """`checkpoint` on the caller's write connection (the session's one writer)."""
    mode = mode.lower()
    if mode not in CHECKPOINT_MODES:
        raise ValueError(f"checkpoint mode must be one of {CHECKPOINT_MODES}, not {mode!r}")
    try:
        busy, log_frames, checkpointed = cast(tuple[int, int, int], connection.execute(
            f"PRAGMA wal_checkpoint({mode.upper()})"
        ).fetchall()[0])
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return CheckpointResult(mode=mode, busy=busy, log_frames=log_frames, checkpointed_frames=checkpointed)

def backup(
    source_path: Path | str,
    destination_path: Path | str,
    *,
    pages_per_step: int = 1024,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    overwrite: bool = False,
    verify: bool = True,
) -> BackupResult:
    """Copy a live database with SQLite's online backup API, `pages_per_step` pages at a time.

    Between steps the source is unlocked, so writers keep going. The copy is written to a hidden file
    beside the destination and renamed into place when complete: a cancelled or failed backup leaves
    nothing behind, and an existing destination is only replaced (with `overwrite=True`) by a whole copy.
    `progress(done_pages, total_pages)` is called after each step. With `verify` the copy must pass
    `quick_check` before it takes the destination's name; if it fails, the source is damaged and
    `CopyDamaged` says so (nothing is left behind).
    """
    if pages_per_step == 0 or pages_per_step < -1:
        raise ValueError("pages_per_step must be positive, or -1 for everything in one step")
    source = open_database(source_path).path
    destination = Path(destination_path).expanduser().absolute()
    _check_destination(source, destination, overwrite=overwrite)
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    _remove_database_files(partial)
    started = time.perf_counter()
    cancelled = False
    pages = 0
    try:
        source_connection = connect_read(source)
        try:
            wal_source = pragma(source_connection, "journal_mode") == "wal"
            target = connect_write(partial, create=True)
            try:
                pages, cancelled = _copy_pages(
                    source_connection, target, pages_per_step, wal_source, progress, cancel
                )
                if verify and not cancelled:  # on the copy's own connection, before it gets its name
                    problems = check_lines(target, quick=True, max_errors=VERIFY_MAX_ERRORS)
                    if problems:
                        raise _damaged(source, destination, "backup", problems)
            finally:
                target.close()
        finally:
            source_connection.close()
        if cancelled:
            _remove_database_files(partial)
        else:
            _sync(partial)
            os.replace(partial, destination)
            _sync(destination.parent)
    except apsw.Error as exc:
        _remove_database_files(partial)
        failed_on = destination if isinstance(exc, apsw.FullError | apsw.CantOpenError) else source
        raise errors.translate(exc, failed_on) from exc
    except BaseException:
        _remove_database_files(partial)
        raise
    return BackupResult(
        destination=destination, pages=pages, seconds=time.perf_counter() - started, cancelled=cancelled
    )


# apsw's stub declares Backup.__exit__ -> bool, so mypy thinks the `with` may swallow an exception and fall
# through; it never does (it finishes the copy and lets the exception propagate).
def _copy_pages(  # type: ignore[return]
    source: apsw.Connection,
    target: apsw.Connection,
    pages_per_step: int,
    wal_source: bool,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> tuple[int, bool]:
    """Run the backup steps; (total pages, cancelled)."""
    restarts, last_done, step = 0, 0, pages_per_step
    with target.backup("main", source, "main") as job:
        while not job.done:
            if cancel is not None and cancel.is_set():
                return job.page_count, True
            job.step(step)
            total = job.page_count
            done = total - job.remaining
            # Every step copies at least one page, so no progress means another connection wrote to the
            # source and SQLite restarted the copy from the first page.
            if not job.done and done <= last_done:
                restarts += 1
                if wal_source and restarts >= BACKUP_RESTARTS_BEFORE_ONE_STEP:
                    step = -1
            last_done = done
            if progress is not None:
                progress(done, total)
        return job.page_count, False


def _check_destination(source: Path, destination: Path, *, overwrite: bool) -> None:
    if destination == source or (destination.exists() and destination.samefile(source)):
        raise errors.DatabaseExists("The backup destination is the source database itself; choose another file.")
    if not destination.parent.is_dir():
        raise errors.DatabaseMissing(f"The folder {destination.parent} does not exist.")
    if destination.is_dir():
        raise errors.DatabaseExists(f"{destination} is a folder; give a file name for the copy.")
    if destination.exists() and not overwrite:
        raise errors.DatabaseExists(f"{destination} already exists; choose a new file name or allow overwriting.")
    for suffix in ("-wal", "-journal"):
        companion = Path(f"{destination}{suffix}")
        if companion.exists() and companion.stat().st_size > 0:
            raise errors.DatabaseLocked(
                f"{destination.name} has a {suffix} file beside it: it is open in another program or was not "
                "closed cleanly. Close it first, or choose a new file name."
            )


def _remove_database_files(path: Path) -> None:
    for candidate in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def _sync(path: Path) -> None:
    """fsync a file or a folder, so a rename survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def vacuum(path: Path | str) -> VacuumResult:
    """Rebuild the database in place, returning free pages to the file system.

    In WAL mode the rebuilt pages land in the WAL first, so a TRUNCATE checkpoint follows: without it the
    file would not shrink until some later checkpoint.
    """
    database = open_database(path, read_only=False)
    connection = connect_write(database.path)
    try:
        return vacuum_on(connection)
    finally:
        connection.close()


def vacuum_on(connection: apsw.Connection) -> VacuumResult:
    """`vacuum` on the caller's write connection (the session's one writer)."""
    path = Path(connection.filename)
    before = _size(path)
    started = time.perf_counter()
    try:
        connection.execute("VACUUM")
        if pragma(connection, "journal_mode") == "wal":
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    return VacuumResult(
        before_bytes=before,
        after_bytes=_size(path),
        seconds=time.perf_counter() - started,
        destination=None,
    )

def vacuum_into(path: Path | str, destination: Path | str, *, verify: bool = True) -> VacuumResult:
    """Write a compacted copy of the database to `destination` (which must not exist); the source is only read.

    With `verify`, the source and the copy must pass `quick_check`, else `CopyDamaged` and no copy is left.
    """
    database = open_database(path)
    target = Path(destination).expanduser().absolute()
    if target.exists():
        raise errors.DatabaseExists(f"{target} already exists; choose a new file name.")
    if not target.parent.is_dir():
        raise errors.DatabaseMissing(f"The folder {target.parent} does not exist.")
    before = _size(database.path)
    started = time.perf_counter()
    connection = connect_read(database.path)
    try:
        connection.execute("VACUUM INTO ?", (str(target),))
        if verify:
            # VACUUM INTO rebuilds the b-trees, so a damaged source can yield a copy that passes
            # quick_check yet lacks rows: check the source too (quick_check reads it once more).
            problems = check_lines(connection, quick=True, max_errors=VERIFY_MAX_ERRORS)
            if problems:
                raise _damaged(database.path, target, "VACUUM INTO", problems)
            _verify_copy(database.path, target, target, what="VACUUM INTO")
        _sync(target)  # VACUUM INTO does not sync its output
    except errors.CopyDamaged:
        _remove_database_files(target)
        raise
    except apsw.Error as exc:
        _remove_database_files(target)
        failed_on = target if isinstance(exc, apsw.FullError | apsw.CantOpenError) else database.path
        raise errors.translate(exc, failed_on) from exc
    finally:
        connection.close()
    return VacuumResult(
        before_bytes=before,
        after_bytes=_size(target),
        seconds=time.perf_counter() - started,
        destination=target,
    )


def integrity_check(
    path: Path | str,
    *,
    quick: bool = False,
    max_errors: int = 100,
    interrupts: Callable[[apsw.Connection], AbstractContextManager[object]] = contextlib.nullcontext,
) -> CheckResult:
    """`PRAGMA integrity_check` (or the faster `quick_check`, which skips index contents) on a read-only connection.

    A hot journal (a writer killed mid-transaction) is rolled back first, as SQLite does on any read-write
    open: `rolled_back_journal` says so. A damaged file is still checked: SQLite's own lines are the result.
    """
    rolled_back = False
    try:
        database_path = open_database(path).path
    except errors.HotJournal:
        database_path = roll_back_hot_journal(path)
        rolled_back = True
    except errors.DatabaseCorrupt:
        database_path = Path(path).expanduser().absolute().resolve()  # a SQLite file, damaged: check it
    connection = connect_read(database_path)
    try:
        with interrupts(connection):  # a job's cancel stops the check mid-table
            messages = check_lines(connection, quick=quick, max_errors=max_errors) or ["ok"]
    finally:
        connection.close()
    return CheckResult(ok=messages == ["ok"], messages=messages, quick=quick, rolled_back_journal=rolled_back)


def check_lines(connection: apsw.Connection, *, quick: bool, max_errors: int) -> list[str]:
    """SQLite's problem rows from integrity_check/quick_check, [] when it says ok.

    The check can report some rows and then stop on damage it cannot walk past: the rows so far are kept.
    """
    name = "quick_check" if quick else "integrity_check"
    rows: list[str] = []
    try:
        for (message,) in connection.execute(f"PRAGMA {name}({int(max_errors)})"):
            rows.append(str(message))
    except apsw.CorruptError as exc:
        rows.append(f"The check stopped on damaged data: {exc}")
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return [] if rows == ["ok"] else rows[: max(1, int(max_errors))]


VERIFY_MAX_ERRORS = 10


def _verify_copy(source: Path, copy: Path, destination: Path, *, what: str) -> None:
    # Read-write on purpose: the copy is ours alone, and the last connection's close removes its -wal/-shm.
    connection = connect_write(copy)
    try:
        problems = check_lines(connection, quick=True, max_errors=VERIFY_MAX_ERRORS)
    finally:
        connection.close()
    if problems:
        raise _damaged(source, destination, what, problems)


def _damaged(source: Path, destination: Path, what: str, problems: list[str]) -> errors.CopyDamaged:
    first = " ".join(problems[0].split())
    return errors.CopyDamaged(
        f"{source.name} is damaged, so the {what} copy is not written to {destination}: quick_check reports "
        f"{f'{len(problems)}+ problems' if len(problems) >= VERIFY_MAX_ERRORS else counted(len(problems), 'problem')}, first: {first}. "
        f"Run `sqlite-pulse check {source}` for the full list; `.recover` in the sqlite3 shell can salvage rows."
    )


def optimize(path: Path | str) -> list[str]:
    """`PRAGMA optimize` over every table; returns the statements it ran (ANALYZE of stale tables), maybe none."""
    database = open_database(path, read_only=False)
    connection = connect_write(database.path)
    try:
        return optimize_on(connection)
    finally:
        connection.close()


def optimize_on(connection: apsw.Connection) -> list[str]:
    """`optimize` on the caller's write connection (the session's one writer)."""
    try:
        planned = connection.execute(f"PRAGMA optimize({OPTIMIZE_MASK | OPTIMIZE_DEBUG:#x})").fetchall()
        connection.execute(f"PRAGMA optimize({OPTIMIZE_MASK:#x})").fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return [str(statement) for (statement,) in planned]
