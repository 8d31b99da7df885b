"""Foreign keys: which columns of a table refer to another, the row a reference points at, and the rows whose
references point nowhere (`PRAGMA foreign_key_check`).

A reference is found by a seek: the referenced columns of a foreign key must be the parent's primary key or
carry a UNIQUE index (SQLite reports a "foreign key mismatch" otherwise), so `locate` reads one row through
that index and returns its key, the cursor the data grid opens the parent at. Each function is a few short
statements on a connection its caller owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

import apsw

from desktop_app.core import errors, keyset
from desktop_app.core.errors import QueryError
from desktop_app.core.keyset import Cursor, Relation
from desktop_app.core.query import quote_identifier
from desktop_app.core.words import counted

MAX_VIOLATIONS = 10_000  # listed by a check; the count goes on


@dataclass(frozen=True)
class ForeignKey:
    id: int  # SQLite's number for it within the child table
    table: str  # the child: the table that declares it
    parent: str  # the referenced table, as the declaration spells it
    columns: tuple[str, ...]  # the child's columns, in key order
    parent_columns: tuple[str, ...]  # the referenced columns; () when the declaration names none (the parent's PK)

    @property
    def target(self) -> str:
        """"parent(columns)", or the parent alone when the declaration names no columns (its primary key)."""
        return f"{self.parent}({', '.join(self.parent_columns)})" if self.parent_columns else self.parent

    def describe(self) -> str:
        return f"{', '.join(self.columns)} → {self.target}"


def foreign_keys(connection: apsw.Connection, table: str) -> list[ForeignKey]:
    """Every foreign key `table` declares, composite ones as one key."""
    try:
        rows = cast(list[tuple[int, str, str, str | None]], connection.execute(
            'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq', (table,)
        ).fetchall())
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    keys: dict[int, tuple[str, list[str], list[str | None]]] = {}
    for key_id, parent, column, parent_column in rows:
        entry = keys.setdefault(int(key_id), (str(parent), [], []))
        entry[1].append(str(column))
        entry[2].append(parent_column)
    return [
        ForeignKey(key_id, table, parent, tuple(columns), tuple(str(c) for c in targets) if None not in targets else ())
        for key_id, (parent, columns, targets) in keys.items()
    ]


def locate(connection: apsw.Connection, key: ForeignKey, values: Sequence[object]) -> tuple[Relation, Cursor | None]:
    """The parent table and the key of the row that `values` (the child's columns of `key`) refer to, None
    when no row has them. Raises QueryError for a NULL reference (it refers to nothing) or a parent that
    cannot be addressed by key."""
    if any(value is None for value in values):
        raise QueryError(f"{', '.join(key.columns)} is NULL here: this row refers to no row of {key.parent}.")
    try:
        relation = keyset.describe(connection, key.parent)
        targets = key.parent_columns or _primary_key(connection, relation.name)
        if not targets or len(targets) != len(values):
            raise QueryError(
                f"The foreign key {key.describe()} names no columns and {relation.name} has no primary key: "
                "SQLite cannot follow it either (foreign key mismatch)."
            )
        if not relation.paged_by_key:
            raise QueryError(f"{relation.name} is a {relation.kind}: it has no key to open it at a row.")
        select = ", ".join(quote_identifier(c) for c in relation.key)
        where = " AND ".join(f"{quote_identifier(c)} = ?" for c in targets)
        sql = f"SELECT {select} FROM {quote_identifier(relation.name)} WHERE {where} LIMIT 1"
        rows = connection.execute(sql, tuple(values)).fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return relation, (tuple(rows[0]) if rows else None)


def _primary_key(connection: apsw.Connection, table: str) -> tuple[str, ...]:
    rows = connection.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)).fetchall()
    return tuple(str(row[0]) for row in rows)


# ----- the check -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One row whose reference points at no row: `PRAGMA foreign_key_check`'s line, with the key named."""

    table: str
    rowid: int | None  # None for a WITHOUT ROWID table
    parent: str
    key: ForeignKey | None

    def describe(self) -> str:
        row = f"row {self.rowid}" if self.rowid is not None else "a row (WITHOUT ROWID: no rowid)"
        via = self.key.describe() if self.key is not None else f"a reference to {self.parent}"
        return f"{self.table} {row}: {via} has no matching row"


@dataclass(frozen=True)
class ForeignKeyReport:
    violations: list[Violation]
    tables: int  # tables with foreign keys, all checked
    problems: list[str] = field(default_factory=list)  # keys SQLite cannot check (a mismatch), per table
    more: int = 0  # violations past MAX_VIOLATIONS, counted but not listed

    @property
    def ok(self) -> bool:
        return not self.violations and not self.problems and not self.more

    def describe(self) -> str:
        if self.ok:
            return f"Foreign key check passed: every reference in {counted(self.tables, 'table')} points at a row."
        found = len(self.violations) + self.more
        text = f"Foreign key check found {counted(found, 'row')} whose reference points at no row"
        return text + (f"; {counted(len(self.problems), 'key')} could not be checked." if self.problems else ".")


def check(
    connection: apsw.Connection,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> ForeignKeyReport:
    """`PRAGMA foreign_key_check`, one table at a time (progress per table; a cancel stops between tables,
    an interrupt of `connection` within one)."""
    try:
        tables = [str(row[0]) for row in connection.execute(
            "SELECT DISTINCT m.name FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS k "
            "WHERE m.type = 'table' ORDER BY m.name"
        ).fetchall()]
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    violations: list[Violation] = []
    problems: list[str] = []
    more = 0
    for done, table in enumerate(tables):
        if cancelled():
            raise errors.QueryInterrupted("Cancelled.")
        keys = {key.id: key for key in foreign_keys(connection, table)}
        try:
            # Row by row: past MAX_VIOLATIONS only counted (a table of broken rows is not held in memory)
            rows = cast(Iterable[tuple[str, int | None, str, int]], connection.execute(
                f"PRAGMA foreign_key_check({quote_identifier(table)})"
            ))
            for _table, rowid, parent, key_id in rows:
                if len(violations) >= MAX_VIOLATIONS:
                    more += 1
                    continue
                violations.append(Violation(table, rowid, str(parent), keys.get(key_id)))
        except apsw.SQLError as exc:  # a foreign key mismatch: name it, check the other tables
            problems.append(f"{table}: {str(exc).removeprefix('SQLError: ')}")
        except apsw.Error as exc:
            raise errors.translate(exc, connection.filename) from exc
        if progress is not None:
            progress(done + 1, len(tables))
    return ForeignKeyReport(violations, len(tables), problems, more)
