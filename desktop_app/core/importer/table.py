"""The table an import fills: created with the chosen types, or an existing one whose columns are matched by
name, checked before anything is written; and the one transaction every import runs in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import apsw

from desktop_app.core.errors import ImportFailed, QueryInterrupted
from desktop_app.core.importer.columns import Column
from desktop_app.core.query import CANCEL_CHECK_INSTRUCTIONS, quote_identifier


def existing_columns(connection: apsw.Connection, table: str) -> list[str] | None:
    """The columns an INSERT can name (generated ones left out), or None when there is no such table."""
    kind = connection.execute(
        "SELECT type FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE", (table,)
    ).fetchall()
    if not kind:
        return None
    if kind[0][0] == "view":
        raise ImportFailed(f"{table} is a view: import into a table.")
    rows = connection.execute("SELECT name, hidden FROM pragma_table_xinfo(?)", (table,)).fetchall()
    return [str(name) for name, hidden in rows if hidden == 0]


def target_columns(connection: apsw.Connection, table: str, columns: Sequence[Column], *, named: bool) -> list[str]:
    """For an import into the existing `table`: the table's column each imported column goes to (by name,
    without case, as SQLite compares names; by position when the file has no names). Raises ImportFailed
    naming what does not match."""
    have = existing_columns(connection, table)
    if have is None:
        raise ImportFailed(f"There is no table {table} to add rows to; create it instead (--create; in the window, New table).")
    if not named:
        if len(columns) != len(have):
            raise ImportFailed(
                f"The file has {len(columns)} columns and no header; {table} has {len(have)} ({', '.join(have)}). "
                "Without a header the columns are matched by position, so the counts must be equal."
            )
        return have
    by_name = {name.lower(): name for name in have}
    missing = [column.name for column in columns if column.name.lower() not in by_name]
    if missing:
        raise ImportFailed(
            f"{table} has no column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (it has {', '.join(have)}). Rename the file's columns, "
            "or import into a new table."
        )
    return [by_name[column.name.lower()] for column in columns]


def create_table(connection: apsw.Connection, table: str, columns: Sequence[Column]) -> None:
    if existing_columns(connection, table) is not None:
        raise ImportFailed(
            f"A table named {table} exists already: add the rows to it (--append; in the window, Add to the "
            "existing table), or choose another name."
        )
    if not table.strip():
        raise ImportFailed("The table needs a name.")
    if table.lower().startswith("sqlite_"):
        raise ImportFailed(f"{table}: names starting with sqlite_ are reserved for SQLite itself; choose another name.")
    body = ", ".join(f"{quote_identifier(column.name)} {column.type}" for column in columns)
    connection.execute(f"CREATE TABLE {quote_identifier(table)} ({body})")


def add_column(connection: apsw.Connection, table: str, column: Column) -> None:
    connection.execute(f"ALTER TABLE {quote_identifier(table)} ADD COLUMN {quote_identifier(column.name)} {column.type}")


def insert_sql(table: str, targets: Sequence[str], *, empty_is_null: bool = False) -> str:
    """INSERT of one row; with `empty_is_null` SQLite turns '' into NULL (cheaper than doing it in Python)."""
    value = "nullif(?, '')" if empty_is_null else "?"
    names = ", ".join(quote_identifier(name) for name in targets)
    return f"INSERT INTO {quote_identifier(table)} ({names}) VALUES ({', '.join([value] * len(targets))})"


@contextlib.contextmanager
def one_transaction(connection: apsw.Connection, cancelled: Callable[[], bool]) -> Iterator[apsw.Cursor]:
    """BEGIN ... COMMIT around the block, which gets a cursor; an error or a cancel rolls back, so the database
    is left exactly as it was. `cancelled` is also asked every few thousand SQLite VM steps."""
    if not connection.get_autocommit():
        raise ImportFailed("A transaction is already open on this connection; an import runs in its own.")
    cursor = connection.cursor()
    connection.set_progress_handler(cancelled, CANCEL_CHECK_INSTRUCTIONS)
    try:
        connection.execute("BEGIN IMMEDIATE")  # the write lock first: another writer is waited for (busy timeout)
        yield cursor
        cursor.close(force=True)
        connection.set_progress_handler(None)
        connection.execute("COMMIT")
    except BaseException as exc:
        cursor.close(force=True)  # first: a statement still running would stop the ROLLBACK too
        connection.set_progress_handler(None)
        if not connection.get_autocommit():
            connection.execute("ROLLBACK")
        if isinstance(exc, apsw.InterruptError):
            raise QueryInterrupted("Cancelled.") from exc
        raise
    finally:
        connection.set_progress_handler(None)
