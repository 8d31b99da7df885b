"""Reading and writing the console's .sql files (called off the GUI thread).

A file the console opens or saves is never the open database or one of its -wal/-shm/-journal files:
opening and closing one of those with Python's open() would drop the locks SQLite holds on it.
`refuse_database_files` is that check for every file the app reads or writes beside the database.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from desktop_app.core.errors import PulseError

MAX_EDITOR_BYTES = 20 << 20  # bigger scripts are for Execute file…, which streams them
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def refuse_database_files(
    path: Path,
    database: Path | str | None,
    message: str = "{name} is the open database's own file; choose a .sql text file.",
) -> None:
    """Raise PulseError(`message`, its `{name}` the file's name) when `path` is the open database or one of its
    side files: the same file (by inode), or the same name once resolved (a -wal or -journal not there yet).
    No database, or an in-memory one (a connection's filename is then empty), has no files to refuse."""
    if not database:
        return
    target = path.expanduser().resolve()
    for suffix in SQLITE_SIDE_FILES:
        other = Path(f"{database}{suffix}")
        if target == other.resolve() or _same_file(path, other):
            raise PulseError(message.format(name=target.name))


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist: not the same file
        return False


def read_bounded(
    path: Path, limit: int, too_big: Callable[[int], str], error: type[PulseError] = PulseError
) -> bytes:
    """The bytes of the file at `path`, refused before reading when it is larger than `limit` (`too_big(size)`
    says why) and when it grew past it while read; the refusals and an OSError are raised as `error`."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(too_big(size))
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if len(data) > limit:  # it grew meanwhile
        raise error(f"{path.name} grew past {limit:,} bytes while it was read.")
    return data


def read_sql_file(path: Path, *, database: Path | None = None) -> str:
    """The text of the .sql file at `path` (UTF-8, a byte order mark dropped)."""
    refuse_database_files(path, database)
    data = read_bounded(
        path, MAX_EDITOR_BYTES,
        lambda size: f"{path.name} is {size >> 20} MiB, too big to edit here; use Execute file… to run it.",
    )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PulseError(f"{path.name}, line {line}: not UTF-8 text; save it as UTF-8 to open it.") from exc


def write_sql_file(path: Path, text: str, *, database: Path | None = None) -> None:
    """Write `text` to `path` whole or not at all (a temporary file renamed over it)."""
    refuse_database_files(path, database)
    temporary = path.with_name(f".{path.name}.saving")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise PulseError(f"Cannot save {path}: {exc.strerror or exc}.") from exc
