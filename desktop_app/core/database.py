"""Open a user's SQLite file without changing it, or create a new one with production settings.

Every connection in SQLite Pulse comes from here, so the safety settings live in one place:
`trusted_schema=OFF`, a busy timeout, and read connections that never checkpoint on close
(closing the last connection to a WAL database would otherwise checkpoint and delete the WAL) and that
refuse to read or build a value over `errors.MAX_VALUE_BYTES` (256 MiB).
"""

from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import apsw

from desktop_app.core import errors

SQLITE_HEADER = b"SQLite format 3\x00"
HEADER_SIZE = 100
DEFAULT_BUSY_TIMEOUT_MS = 5000
RECOMMENDED_PAGE_SIZE = 8192


@dataclass(frozen=True)
class Database:
    """A validated SQLite file. Hands out connections; holds none itself, so it is safe to share."""

    path: Path
    read_only: bool

    def connect_read(self, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> apsw.Connection:
        return connect_read(self.path, busy_timeout_ms)

    def connect_write(self, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> apsw.Connection:
        if self.read_only:
            raise errors.DatabaseReadOnly(
                f"{self.path.name} was opened read-only; reopen it read-write to change it."
            )
        return connect_write(self.path, busy_timeout_ms)


def open_database(path: Path | str, *, read_only: bool = True) -> Database:
    """Validate `path` and prove it can be read. Raises a typed `PulseError`; never modifies the file.

    The returned path is resolved (symlinks followed), as SQLite itself does: its -wal, -shm and -journal
    live beside the real file, so everything derived from `Database.path` finds them.
    """
    path = Path(path).expanduser().absolute()
    size = check_file(path)
    path = path.resolve()
    if not read_only and not os.access(path, os.W_OK):
        raise errors.DatabaseReadOnly(
            f"{path.name} is not writable by this user. Open it read-only, or change its permissions."
        )
    try:
        _probe(path, size)
    except errors.HotJournal:
        if read_only:
            raise  # a read-only open must not write: the message says how to recover
        roll_back_hot_journal(path)  # what SQLite itself does on a read-write open
        _probe(path, check_file(path))
    return Database(path=path, read_only=read_only)


def _probe(path: Path, size: int) -> None:
    # Reading the schema proves the file is a readable database (catches encryption, corruption, locks).
    connection = connect_read(path, busy_timeout_ms=1000)
    try:
        check_header(connection, path, size)
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    finally:
        connection.close()


FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_file(path: Path) -> int:
    """What `os.stat` can tell before SQLite sees the file: it exists and is a regular file. Returns its size.

    Never opens the file: closing any descriptor of a database drops this process's SQLite locks on it,
    and reading a FIFO or a device could block forever or never end.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise errors.DatabaseMissing(f"{path} does not exist.") from exc
    except PermissionError as exc:
        raise errors.DatabaseReadOnly(f"No permission to read {path}.") from exc
    except OSError as exc:
        raise errors.translate(exc, path) from exc
    if stat.S_ISDIR(info.st_mode):
        raise errors.NotADatabase(f"{path} is a folder, not a database file.")
    for test, kind in FILE_KINDS:
        if test(info.st_mode):
            raise errors.SpecialFile(f"{path} is {kind}, not a database file.")
    if not stat.S_ISREG(info.st_mode):
        raise errors.SpecialFile(f"{path} is not a regular file, so it cannot be a database.")
    if not os.access(path, os.R_OK):
        raise errors.DatabaseReadOnly(f"No permission to read {path}.")
    return info.st_size


def check_header(connection: apsw.Connection, path: Path, size: int) -> None:
    """The first 100 bytes, read through SQLite's own file handle: a SQLite header, and not truncated."""
    if size == 0:
        return  # SQLite treats an empty file as an empty database
    _complete, header = connection.read("main", 0, 0, HEADER_SIZE)
    header = header[: min(size, HEADER_SIZE)]
    if not header.startswith(SQLITE_HEADER[: min(len(header), len(SQLITE_HEADER))]):
        raise errors.NotADatabase(
            f"{path.name} is not a SQLite database (its first bytes are not a SQLite header)."
        )
    if size < HEADER_SIZE:
        raise errors.DatabaseCorrupt(f"{path.name} is truncated: {size} bytes, shorter than a SQLite header.")
    expected = expected_size_from_header(header)
    # The WAL, or a hot journal being rolled back, can legitimately hold pages the file lacks.
    companion = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))
    if expected is not None and size < expected and not companion:
        raise errors.DatabaseCorrupt(
            f"{path.name} is truncated: its header says {expected:,} bytes but the file has {size:,}."
        )


def roll_back_hot_journal(path: Path | str) -> Path:
    """Undo the unfinished transaction a killed writer left in a hot `-journal`, exactly as SQLite does:
    open read-write and read. Committed data is kept. Returns the resolved database path."""
    real = Path(path).expanduser().absolute()
    check_file(real)
    real = real.resolve()
    if not os.access(real, os.W_OK) or not os.access(real.parent, os.W_OK):
        raise errors.DatabaseReadOnly(
            f"{real.name} has a hot journal, and rolling it back needs write access to the file and its folder: "
            "open or check it as a user who can write there."
        )
    connection = connect_write(real)  # its first read rolls the journal back
    try:
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, real) from exc
    finally:
        connection.close()
    return real


def expected_size_from_header(header: bytes) -> int | None:
    """Database size the header claims, or None when the in-header size is not trustworthy."""
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    version_valid_for = struct.unpack(">I", header[92:96])[0]
    if page_count == 0 or change_counter != version_valid_for:
        return None  # written by a very old SQLite: the size field is not maintained
    return page_count * page_size


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"file:{quote(str(path))}?{query}"


def _configure(connection: apsw.Connection, busy_timeout_ms: int) -> None:
    connection.set_busy_timeout(busy_timeout_ms)
    # Views and triggers from an untrusted file must not call application functions with side effects.
    connection.execute("PRAGMA trusted_schema = OFF")


def limit_value_size(connection: apsw.Connection) -> None:
    """Cap every string, BLOB and row this connection reads or builds at `errors.MAX_VALUE_BYTES`.

    For connections that run the user's SQL or browse the user's tables: a hostile view
    (`printf('%.*c', 900000000, 'x')`, `zeroblob(1e9)`) then ends in SQLITE_TOOBIG, not in an OOM.
    Per connection and not stored in the file, so opening a database does not change it, and the
    ingest writer keeps SQLite's own limit.
    """
    connection.limit(apsw.SQLITE_LIMIT_LENGTH, errors.MAX_VALUE_BYTES)


def _refuse_special_file(path: Path) -> None:
    """SQLite would block opening a FIFO or read a device as an endless empty database: refuse both."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: SQLite's own error says which
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        check_file(path)


def connect_read(path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> apsw.Connection:
    """A read-only connection that takes no write lock and never checkpoints or deletes the WAL on close.
    Values it reads are capped at `errors.MAX_VALUE_BYTES` (see `limit_value_size`)."""
    path = Path(path)
    _refuse_special_file(path)
    try:
        connection = apsw.Connection(
            _uri(path, mode="ro"), flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        )
        connection.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
        _configure(connection, busy_timeout_ms)
        limit_value_size(connection)
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    return connection


def connect_write(
    path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, *, create: bool = False
) -> apsw.Connection:
    """A read-write connection. In WAL mode it uses synchronous=NORMAL (durable at checkpoints, fast commits)."""
    path = Path(path)
    _refuse_special_file(path)
    flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI
    if create:
        flags |= apsw.SQLITE_OPEN_CREATE
    try:
        connection = apsw.Connection(_uri(path, mode="rwc" if create else "rw"), flags=flags)
        _configure(connection, busy_timeout_ms)
        if pragma(connection, "journal_mode") == "wal":
            connection.execute("PRAGMA synchronous = NORMAL")
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    return connection


def create_database(path: Path | str, *, page_size: int = RECOMMENDED_PAGE_SIZE) -> Database:
    """Create a new database with production settings: WAL, the given page size. Refuses to overwrite."""
    path = Path(path).expanduser().absolute()
    if path.exists() and path.stat().st_size > 0:
        raise errors.DatabaseExists(f"{path} already exists; choose a new file name.")
    if not path.parent.is_dir():
        raise errors.DatabaseMissing(f"The folder {path.parent} does not exist.")
    connection = connect_write(path, create=True)
    try:
        # page_size must be set before the first table, and before WAL is on (WAL fixes the page size).
        connection.execute(f"PRAGMA page_size = {int(page_size)}")
        connection.execute("PRAGMA journal_mode = WAL").fetchall()  # writes page 1: both settings persist
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    finally:
        connection.close()
    return Database(path=path, read_only=False)


def pragma(connection: apsw.Connection, name: str) -> object:
    """Value of a read-only `PRAGMA name` (first column of the first row), statement fully finished."""
    rows = connection.execute(f"PRAGMA {name}").fetchall()
    return rows[0][0] if rows else None


def pragma_int(connection: apsw.Connection, name: str) -> int:
    """`pragma` for a numeric PRAGMA (page_size, data_version...): its value as an int."""
    value = pragma(connection, name)
    if not isinstance(value, int | float | str | bytes):
        raise TypeError(f"PRAGMA {name} returned {value!r}, not a number")
    return int(value)
