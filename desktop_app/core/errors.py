"""Typed errors with messages a person understands.

Environment problems (missing file, locked, full disk, not a database) are `PulseError`s and are
shown to the user; anything else is a bug and should surface as one.
"""

from __future__ import annotations

from pathlib import Path

import apsw


class PulseError(Exception):
    """A problem with the user's file or environment, explained in plain words."""


class DatabaseMissing(PulseError):
    pass


class NotADatabase(PulseError):
    pass


class DatabaseCorrupt(PulseError):
    pass


class DatabaseLocked(PulseError):
    pass


class DatabaseReadOnly(PulseError):
    pass


class DatabaseFull(PulseError):
    pass


class DatabaseExists(PulseError):
    pass


class SpecialFile(NotADatabase):
    """A FIFO, socket or device: refused before SQLite (or anything else) tries to read it."""


class HotJournal(DatabaseReadOnly):
    """A writer died mid-transaction and left a hot `-journal`: only a read-write open can roll it back."""


class CopyDamaged(DatabaseCorrupt):
    """A backup or VACUUM INTO copy failed its verification: the source is damaged."""


class IngestError(PulseError):
    """The stream cannot be ingested as configured (bad URL, bad table name, bad limit, ...)."""


class ImportFailed(PulseError):
    """A file cannot be imported as asked: a row with the wrong number of fields (its line named), a column the
    table lacks, a table that exists already. Raised before anything is written, or with everything rolled back."""


class QueryError(PulseError):
    """SQL the user typed failed: a syntax error, a missing table, a write on a read-only database."""


class QueryInterrupted(PulseError):
    pass


class ValueTooBig(QueryError):
    """A string or BLOB over MAX_VALUE_BYTES: SQLite stopped the statement (SQLITE_TOOBIG)."""


# The longest string or BLOB a connection running the user's SQL may read or build (its SQLITE_LIMIT_LENGTH,
# set in core/database.py): a view such as `SELECT zeroblob(1000000000)` then fails in SQLite instead of
# taking gigabytes here. Well above what a grid, a console or a CSV cell is for.
MAX_VALUE_BYTES = 256 * 1024 * 1024


SQLITE_READONLY_ROLLBACK = 776  # SQLITE_READONLY | (3 << 8): a hot journal needs a read-write open


def hot_journal(path: Path) -> HotJournal:
    journal = Path(f"{path}-journal")
    try:
        size = f", {journal.stat().st_size:,} bytes"
    except OSError:
        size = ""
    return HotJournal(
        f"{path.name} has a hot journal ({journal.name}{size}): a writer stopped in the middle of a transaction. "
        f"Roll it back first: `sqlite-pulse check {path}` does it (as SQLite does on any read-write open) "
        "and then checks the file; or open it read-write."
    )


def describe_lock_holders(path: Path) -> str:
    """' (held by process 1234 python3)' when /proc/locks tells who locks the file, else ''."""
    from desktop_app.core.locks import lock_holders  # local: keeps this module import-light

    holders = lock_holders(path)
    if not holders:
        return ""
    named = ", ".join(f"{pid} {name}".strip() for pid, name in holders)
    return f" (held by process {named})"


def translate(exc: BaseException, path: Path | str) -> PulseError:
    """Map an apsw/OS error about `path` to a typed, readable `PulseError`."""
    path = Path(path)
    name = path.name
    if isinstance(exc, PulseError):
        return exc
    if isinstance(exc, apsw.NotADBError):
        return NotADatabase(f"{name} is not a SQLite database (or it is encrypted).")
    if isinstance(exc, apsw.CorruptError):
        return DatabaseCorrupt(
            f"{name} is corrupt: {exc}. Open a backup, or try `.recover` in the sqlite3 shell."
        )
    if isinstance(exc, apsw.BusyError | apsw.LockedError):
        return DatabaseLocked(
            f"{name} is locked by another connection{describe_lock_holders(path)}. "
            "A write or a long transaction is in progress; wait, or close the other program."
        )
    if isinstance(exc, apsw.ReadOnlyError) and getattr(exc, "extendedresult", 0) == SQLITE_READONLY_ROLLBACK:
        return hot_journal(path)
    if isinstance(exc, apsw.ReadOnlyError):
        return DatabaseReadOnly(
            f"{name} is read-only here: {exc}. Open it read-only, or check its permissions."
        )
    if isinstance(exc, apsw.FullError):
        return DatabaseFull(f"{name}: the disk is full or the database reached its size limit ({exc}).")
    if isinstance(exc, apsw.CantOpenError | FileNotFoundError):
        if not path.exists():
            return DatabaseMissing(f"{path} does not exist.")
        return DatabaseReadOnly(
            f"Cannot open {path}: {exc}. Check the permissions of the file and its folder."
        )
    if isinstance(exc, apsw.InterruptError):
        return QueryInterrupted("Cancelled.")
    if isinstance(exc, apsw.TooBigError):
        return ValueTooBig(
            f"A value in this result is larger than {MAX_VALUE_BYTES >> 20} MiB, the limit for reading one value, "
            "so the statement was stopped before it used gigabytes of memory. Leave that column (or view) out "
            "of the query; the sqlite3 shell can read such a value whole."
        )
    if isinstance(exc, apsw.SQLError | apsw.ConstraintError | apsw.MismatchError):
        return QueryError(str(exc).removeprefix("SQLError: "))
    if isinstance(exc, PermissionError):
        return DatabaseReadOnly(f"No permission to open {path}.")
    if isinstance(exc, apsw.IOError | OSError):
        return PulseError(f"{name}: input/output error: {exc}")
    raise exc
