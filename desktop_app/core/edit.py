"""Changing a table's rows from the grid, on purpose: one cell, one new row, some deleted rows, and undo.

Each function is one transaction on the write connection its caller owns (the session's writer thread), and
returns a `Change` that records the old values, so `undo(connection, change)` puts them back in one more
transaction. Rows are addressed by their key, never by position: the rowid (or its INTEGER PRIMARY KEY alias)
of a rowid table, the primary key columns of a WITHOUT ROWID table (see `keyset.Relation.key`). Views and
virtual tables are not editable here (`not_editable_reason` says why).

An update is guarded by the value the user saw (`... AND col IS old`): if another connection changed or
deleted the row since it was shown, nothing is written and `EditConflict` says so. A constraint that fails
(NOT NULL, UNIQUE, CHECK, a foreign key) rolls the transaction back and raises `ConstraintFailed` with
SQLite's own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, cast

import apsw

from desktop_app.core import errors
from desktop_app.core.errors import QueryError
from desktop_app.core.keyset import Relation
from desktop_app.core.query import quote_identifier

Key = tuple  # the key values of one row, in the order of `Relation.key`


class EditRefused(QueryError):
    """This relation (or this database) cannot be changed from the grid; the message says why."""


class ConstraintFailed(QueryError):
    """SQLite refused the change (NOT NULL, UNIQUE, CHECK, foreign key): nothing was written."""


class EditConflict(QueryError):
    """The row changed or went since it was shown: nothing was written."""


@dataclass(frozen=True)
class Change:
    """One committed change and what undoing it needs."""

    kind: str  # "update", "insert" or "delete"
    table: str
    key_columns: tuple[str, ...]
    keys: tuple[Key, ...]  # the rows' keys after the change (update, insert) or before it (delete)
    column: str | None = None  # update: the column changed
    old: object = None  # update: the value before
    new: object = None  # update: the value after
    rows: tuple[tuple, ...] = ()  # delete: the rows as they were, in `columns` order
    columns: tuple[str, ...] = ()  # delete: the columns of `rows` (the rowid first for a rowid table)

    def describe(self) -> str:
        count = len(self.keys)
        if self.kind == "update":
            return f"changed {self.column} of 1 row in {self.table}"
        noun = "row" if count == 1 else "rows"
        return f"{'added' if self.kind == 'insert' else 'deleted'} {count:,} {noun} in {self.table}"


def not_editable_reason(relation: Relation) -> str:
    """"" when rows of `relation` can be changed by key; otherwise a sentence saying why not."""
    if relation.kind == "view":
        return f"{relation.name} is a view: change the tables it reads (a view has no rows of its own)."
    if relation.kind == "virtual":
        return f"{relation.name} is a virtual table: its module decides what a change means; use the console."
    if not relation.key:
        return f"{relation.name} has no rowid or primary key to address a row by; use the console."
    return ""


def update_cell(
    connection: apsw.Connection, relation: Relation, key: Key, column: str, old: object, new: object
) -> Change:
    """Set `column` of the row `key` from `old` (as the user saw it) to `new`, in one transaction."""
    _check(relation)
    sql = f"UPDATE {quote_identifier(relation.name)} SET {quote_identifier(column)} = ? WHERE {_where(relation)}"
    sql += f" AND {quote_identifier(column)} IS ?"
    with _transaction(connection):
        connection.execute(sql, (new, *key, old))
        if connection.changes() != 1:
            raise EditConflict(
                f"The row changed or was deleted since it was shown, so {column} was not changed. "
                "The grid shows it as it is now."
            )
    new_key = tuple(new if name == column else value for name, value in zip(relation.key, key, strict=True))
    return Change("update", relation.name, relation.key, (new_key,), column=column, old=old, new=new)


def insert_row(connection: apsw.Connection, relation: Relation, values: dict[str, object] | None = None) -> Change:
    """Add a row: `values` where given, each column's default otherwise. A NOT NULL column without a default
    gets a neutral value by its type (0, '', x''), as DB Browser does, and a single integer key of a WITHOUT
    ROWID table the next number; the user edits them next."""
    _check(relation)
    quoted = quote_identifier(relation.name)
    returning = ", ".join(quote_identifier(c) for c in relation.key)
    with _transaction(connection):
        given = dict(values or {})
        for name, declared, notnull, default, pk in _required(connection, relation):
            if name in given:
                continue
            if pk and relation.kind == "without rowid" and len(relation.key) == 1:
                given[name] = connection.execute(f"SELECT coalesce(max({quote_identifier(name)}), 0) + 1 FROM {quoted}").fetchall()[0][0]
            elif notnull and default is None and not (pk and name == relation.rowid_alias):
                given[name] = _neutral(declared)
        if given:
            names = ", ".join(quote_identifier(c) for c in given)
            marks = ", ".join("?" * len(given))
            sql = f"INSERT INTO {quoted} ({names}) VALUES ({marks}) RETURNING {returning}"
        else:
            sql = f"INSERT INTO {quoted} DEFAULT VALUES RETURNING {returning}"
        key = tuple(connection.execute(sql, tuple(given.values())).fetchall()[0])
    return Change("insert", relation.name, relation.key, (key,))


def delete_rows(connection: apsw.Connection, relation: Relation, keys: Sequence[Key]) -> Change:
    """Delete the rows `keys` in one transaction, keeping them (with their rowid) for undo."""
    _check(relation)
    quoted = quote_identifier(relation.name)
    columns = _stored_columns(connection, relation)
    select = ", ".join(quote_identifier(c) for c in columns)
    kept: list[tuple] = []
    with _transaction(connection):
        for key in keys:
            rows = connection.execute(f"SELECT {select} FROM {quoted} WHERE {_where(relation)}", tuple(key)).fetchall()
            if not rows:
                raise EditConflict("A row to delete was already deleted since it was shown: nothing was deleted.")
            connection.execute(f"DELETE FROM {quoted} WHERE {_where(relation)}", tuple(key))
            kept.append(tuple(rows[0]))
    return Change("delete", relation.name, relation.key, tuple(tuple(k) for k in keys), rows=tuple(kept), columns=columns)


def undo(connection: apsw.Connection, relation: Relation, change: Change) -> None:
    """Put back what `change` changed, in one transaction (EditConflict if the rows moved on since)."""
    _check(relation)
    quoted = quote_identifier(relation.name)
    with _transaction(connection):
        if change.kind == "update":
            assert change.column is not None
            column = quote_identifier(change.column)
            connection.execute(
                f"UPDATE {quoted} SET {column} = ? WHERE {_where(relation)} AND {column} IS ?",
                (change.old, *change.keys[0], change.new),
            )
            if connection.changes() != 1:
                raise EditConflict(f"{change.column} was changed again since; the undo was not applied.")
        elif change.kind == "insert":
            for key in change.keys:
                connection.execute(f"DELETE FROM {quoted} WHERE {_where(relation)}", tuple(key))
        elif change.kind == "delete":
            names = ", ".join(quote_identifier(c) for c in change.columns)
            marks = ", ".join("?" * len(change.columns))
            for row in change.rows:
                connection.execute(f"INSERT INTO {quoted} ({names}) VALUES ({marks})", row)


def value_from_text(text: str, old: object) -> object:
    """What the user typed, as the value to store: a number stays a number when the cell held one and the text
    reads as one; anything else is text (SQLite's column affinity converts it where the column says so)."""
    if isinstance(old, bool):
        old = int(old)
    if isinstance(old, int):
        try:
            return int(text.strip())
        except ValueError:
            pass
    if isinstance(old, int | float):
        try:
            return float(text.strip())
        except ValueError:
            pass
    return text


def edit_text(value: object) -> str:
    """The text an editor starts from (NULL: empty; a BLOB is not edited as text)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


# Helpers ------------------------------------------------------------------------------------------------


def _check(relation: Relation) -> None:
    reason = not_editable_reason(relation)
    if reason:
        raise EditRefused(reason)


def _where(relation: Relation) -> str:
    return " AND ".join(f"{quote_identifier(c)} = ?" for c in relation.key)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; apsw errors become typed PulseErrors."""

    def __init__(self, connection: apsw.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except apsw.Error as exc:
            raise errors.translate(exc, self.connection.filename) from exc

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: TracebackType | None
    ) -> Literal[False]:
        if exc is None:
            try:
                self.connection.execute("COMMIT")
                return False
            except apsw.Error as commit_error:  # a deferred foreign key fails here
                exc = commit_error
        if not self.connection.getautocommit():
            self.connection.execute("ROLLBACK")
        if isinstance(exc, apsw.ConstraintError):
            raise ConstraintFailed(f"{str(exc).removeprefix('ConstraintError: ')}: nothing was changed.") from exc
        if isinstance(exc, apsw.Error):
            raise errors.translate(exc, self.connection.filename) from exc
        return False


def _required(connection: apsw.Connection, relation: Relation) -> list[tuple[str, str, bool, object, int]]:
    rows = cast(list[tuple[str, str | None, int, object, int]], connection.execute(
        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid",
        (relation.name,),
    ).fetchall())
    return [(str(name), str(declared or ""), bool(notnull), default, int(pk)) for name, declared, notnull, default, pk in rows]


def _neutral(declared: str) -> object:
    upper = declared.upper()
    if "INT" in upper:
        return 0
    if any(part in upper for part in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return 0
    if "BLOB" in upper:
        return b""
    return ""


def _stored_columns(connection: apsw.Connection, relation: Relation) -> tuple[str, ...]:
    """The columns a deleted row needs to come back as it was: the rowid (when it is not a column) first,
    then every stored column (generated columns are computed again)."""
    names = tuple(
        str(row[0])
        for row in connection.execute(
            "SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid", (relation.name,)
        ).fetchall()
    )
    if relation.kind == "table" and relation.rowid_alias is None:
        return (relation.key[0], *names)
    return names
