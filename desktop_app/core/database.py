"""Open a user's SQLite file without changing it, or create a new one with production settings.

Every connection in SQLite Pulse comes from here, so the safety settings live in one place:
`trusted_schema=OFF`, a busy timeout, and read connections that never checkpoint on close
(closing the last connection to a WAL database would otherwise checkpoint and delete the WAL).
"""

from __future__ import annotations

import os
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
    """Validate `path` and prove it can be read. Raises a typed `PulseError`; never modifies the file."""
    path = Path(path).expanduser().absolute()
    check_file(path)
    if not read_only and not os.access(path, os.W_OK):
        raise errors.DatabaseReadOnly(
            f"{path.name} is not writable by this user. Open it read-only, or change its permissions."
        )
    # Reading the schema proves the file is a readable database (catches encryption, corruption, locks).
    connection = connect_read(path, busy_timeout_ms=1000)
    try:
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    finally:
        connection.close()
    return Database(path=path, read_only=read_only)


def check_file(path: Path) -> None:
    """Cheap checks on the file itself, before SQLite sees it: exists, a file, a SQLite header, not truncated."""
    if not path.exists():
        raise errors.DatabaseMissing(f"{path} does not exist.")
    if path.is_dir():
        raise errors.NotADatabase(f"{path} is a folder, not a database file.")
    try:
        with path.open("rb") as handle:
            header = handle.read(HEADER_SIZE)
    except PermissionError as exc:
        raise errors.DatabaseReadOnly(f"No permission to read {path}.") from exc
    size = path.stat().st_size
    if size == 0:
        return  # SQLite treats an empty file as an empty database
    if not header.startswith(SQLITE_HEADER[: min(len(header), len(SQLITE_HEADER))]):
        raise errors.NotADatabase(
            f"{path.name} is not a SQLite database (its first bytes are not a SQLite header)."
        )
    if size < HEADER_SIZE:
        raise errors.DatabaseCorrupt(f"{path.name} is truncated: {size} bytes, shorter than a SQLite header.")
    expected = expected_size_from_header(header)
    wal_exists = Path(f"{path}-wal").exists()
    if expected is not None and size < expected and not wal_exists:
        raise errors.DatabaseCorrupt(
            f"{path.name} is truncated: its header says {expected:,} bytes but the file has {size:,}."
        )


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


def connect_read(path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> apsw.Connection:
    """A read-only connection that takes no write lock and never checkpoints or deletes the WAL on close."""
    path = Path(path)
    try:
        connection = apsw.Connection(
            _uri(path, mode="ro"), flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        )
        connection.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)
        _configure(connection, busy_timeout_ms)
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    return connection


def connect_write(
    path: Path | str, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, *, create: bool = False
) -> apsw.Connection:
    """A read-write connection. In WAL mode it uses synchronous=NORMAL (durable at checkpoints, fast commits)."""
    path = Path(path)
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
