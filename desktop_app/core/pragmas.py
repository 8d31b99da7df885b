"""The pragmas worth seeing, declared once: what each means, whether the file keeps it, and how to change it.

Some settings live in the database file (the header's application_id and user_version, auto_vacuum,
page_size, WAL mode): every program that opens the file sees them, and the app changes them on the
session's one write connection. The others belong to each connection (foreign_keys, busy_timeout,
cache_size, synchronous, temp_store, ...): another program's connections have their own, so the values
shown are this app's, read on a background read connection, and not offered for change.

A pragma's value cannot be a bound parameter, so a new value is checked against the declaration (an
integer in range, or one of the listed words) and only then written into the statement.
"""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from desktop_app.core import errors
from desktop_app.core.errors import QueryError

INT32 = (-(2**31), 2**31 - 1)


class PragmaError(QueryError):
    """A value a pragma cannot take, or a change SQLite would not make; the message says why."""


@dataclass(frozen=True)
class Pragma:
    name: str
    about: str
    stored: bool  # kept in the database file (True) or set per connection
    choices: tuple[str, ...] = ()  # the words it takes, in SQLite's numeric order when it answers a number
    bounds: tuple[int, int] | None = None  # an integer pragma's range
    editable: bool = False  # the app offers to change it (stored ones only)

    def parse(self, text: str) -> int | str:
        """The value `text` stands for, or PragmaError saying what is accepted."""
        text = text.strip()
        if self.choices:
            if text.lower() not in self.choices:
                raise PragmaError(f"{self.name} takes one of: {', '.join(self.choices)}.")
            return text.lower()
        try:
            value = int(text, 0)
        except ValueError:
            raise PragmaError(f"{self.name} takes a whole number, not {text!r}.") from None
        low, high = self.bounds or INT32
        if not low <= value <= high:
            raise PragmaError(f"{self.name} takes a number from {low:,} to {high:,}.")
        return value


PAGE_SIZES = tuple(str(2**n) for n in range(9, 17))
PRAGMAS: tuple[Pragma, ...] = (
    Pragma("application_id", "A 32-bit number in the file header naming the application the file belongs to "
           "(file(1) can show it). SQLite itself ignores it.", True, bounds=INT32, editable=True),
    Pragma("user_version", "A 32-bit number in the file header for the application's own use, often its "
           "schema version. SQLite itself ignores it.", True, bounds=INT32, editable=True),
    Pragma("auto_vacuum", "Whether pages freed by deletes go back to the file system: FULL at every commit, "
           "INCREMENTAL when PRAGMA incremental_vacuum asks. Turning it on or off takes effect only after "
           "VACUUM; FULL ↔ INCREMENTAL at once.", True, choices=("none", "full", "incremental"), editable=True),
    Pragma("page_size", "Bytes per page. A new size takes effect only when VACUUM rebuilds the file "
           "(Tools ▸ VACUUM), and cannot change while the file is in WAL mode.", True, choices=PAGE_SIZES,
           editable=True),
    Pragma("journal_mode", "How commits stay atomic. WAL (readers go on while one writer writes) is kept in "
           "the file; the rollback modes (DELETE, TRUNCATE, PERSIST) are each connection's choice. Leaving "
           "WAL needs every other connection to the file closed.", True, choices=("wal", "delete"), editable=True),
    Pragma("encoding", "How text is stored; fixed when the first table is created.", True),
    Pragma("page_count", "Pages in the file (with those still in the WAL).", True),
    Pragma("freelist_count", "Unused pages in the file: VACUUM (or auto_vacuum) gives them back.", True),
    Pragma("foreign_keys", "Whether this connection enforces foreign keys (SQLite's default is off; each "
           "program decides for its own connections).", False, choices=("off", "on")),
    Pragma("busy_timeout", "Milliseconds a connection waits for another's lock before 'database is locked'.", False),
    Pragma("cache_size", "Page cache of a connection: a positive number is pages, a negative one KiB.", False),
    Pragma("synchronous", "How often a connection waits for the disk: NORMAL is safe in WAL mode (a power cut "
           "may lose the last commits, never the file); FULL also keeps those.", False,
           choices=("off", "normal", "full", "extra")),
    Pragma("temp_store", "Where temporary tables and indexes live: as compiled (default), a file, or memory.",
           False, choices=("default", "file", "memory")),
    Pragma("wal_autocheckpoint", "WAL pages after which a commit of this connection checkpoints (0: never).", False),
    Pragma("mmap_size", "Bytes of the file a connection reads through memory mapping (0: none).", False),
    Pragma("locking_mode", "NORMAL releases locks after each transaction; EXCLUSIVE keeps them.", False),
)
BY_NAME = {pragma.name: pragma for pragma in PRAGMAS}
CONNECTION_NOTE = (
    "Per-connection pragmas apply only to the connection that sets them: the values shown are this app's "
    "(its background read connection); other programs set their own, and nothing of them is stored in the file."
)


LEAVING_WAL = (
    "journal_mode stays WAL: SQLite leaves WAL only when no other connection has the file open, and this app keeps "
    "read connections open while it shows the file (other programs may too). Close the file here, then run "
    "PRAGMA journal_mode=DELETE in the sqlite3 shell."
)


@dataclass(frozen=True)
class PragmaValue:
    pragma: Pragma
    value: str  # as shown: a word for the pragmas that take words


def read_all(connection: apsw.Connection) -> list[PragmaValue]:
    """Every declared pragma's value on `connection` (read-only pragmas: nothing changes)."""
    values = []
    try:
        for pragma in PRAGMAS:
            rows = connection.execute(f"PRAGMA main.{pragma.name}").fetchall()
            values.append(PragmaValue(pragma, _shown(pragma, rows[0][0] if rows else None)))
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return values


def _shown(pragma: Pragma, value: object) -> str:
    if isinstance(value, int) and pragma.choices and pragma.name != "page_size" and 0 <= value < len(pragma.choices):
        return pragma.choices[value]
    return str(value).lower() if pragma.choices else str(value)


def set_value(connection: apsw.Connection, name: str, text: str) -> str:
    """Change a stored pragma on the write connection; returns what happened (and what still has to)."""
    pragma = BY_NAME.get(name)
    if pragma is None or not pragma.editable:
        raise PragmaError(f"{name} is not one the app changes.")
    value = pragma.parse(text)
    try:
        if name == "page_size" and _word(connection, "journal_mode") == "wal":
            raise PragmaError(
                "page_size cannot change while the file is in WAL mode: with the file closed here, switch "
                "journal_mode to DELETE, change page_size and VACUUM (in the sqlite3 shell), then switch back to WAL."
            )
        rows = connection.execute(f"PRAGMA main.{name} = {value}").fetchall()
    except apsw.BusyError as exc:
        if name == "journal_mode" and value != "wal":
            raise PragmaError(LEAVING_WAL) from exc
        raise errors.translate(exc, connection.filename) from exc
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    if name == "journal_mode":
        now = str(rows[0][0]).lower() if rows else ""
        if now != value:
            raise PragmaError(LEAVING_WAL if now == "wal" else f"SQLite kept journal_mode {now.upper()}.")
        return f"journal_mode is now {now.upper()}."
    if name == "page_size":
        return f"page_size {value} takes effect when VACUUM rebuilds the file (Tools ▸ VACUUM)."
    if name == "auto_vacuum":
        return f"auto_vacuum is {str(value).upper()}; from or to NONE it takes effect after VACUUM."
    return f"{name} is now {value}."


def _word(connection: apsw.Connection, name: str) -> str:
    return str(connection.execute(f"PRAGMA main.{name}").fetchall()[0][0]).lower()
