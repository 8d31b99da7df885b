"""Browsing a relation in any order, filtered, from either end: keyset paging with a cursor per page.

A `BrowseSpec` is what the grid shows: a table or view, an optional sort column (ascending or descending) and
per-column `Condition`s, combined with AND and always bound as parameters. Rows come in the order
(sort column, key...), where the key is the rowid (rowid tables, FTS5, rtree) or the primary key columns
(WITHOUT ROWID). A `Cursor` is the order-key values of one row; the next page is "the rows after this cursor",
a range seek on an index when one exists, so page 20,000 costs what page 1 costs, and the last page is the
first page of the reversed order. NULLs sort first ascending and last descending, as in SQLite, and the
pages step across the NULL block with a second range query rather than an OR (which would lose the index).

Relations without a usable key (views, virtual tables without a rowid) are paged by position (OFFSET);
their cursor is the row number and `Relation.paged_by_key` says so. Each function is one or two short
statements on a connection the caller owns (the browse worker's).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import apsw

from desktop_app.core import errors
from desktop_app.core.errors import QueryError
from desktop_app.core.query import ROWID_ALIASES, quote_identifier

Cursor = tuple  # the order-key values of one row (or `(offset,)` for a relation paged by position)


class FilterError(QueryError):
    """A filter the user typed cannot be understood; the message says what would be."""


# ----- relations -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str  # "table", "without rowid", "view" or "virtual"
    columns: tuple[str, ...]  # as SELECT * returns them
    key: tuple[str, ...]  # rowid alias or primary key columns; () when paged by position
    rowid_alias: str | None = None  # the INTEGER PRIMARY KEY column, which *is* the rowid

    @property
    def paged_by_key(self) -> bool:
        return bool(self.key)

    @property
    def paging_note(self) -> str:
        if self.paged_by_key:
            return ""
        what = "a view" if self.kind == "view" else "this virtual table"
        return f"{what} has no key, so it is paged by position (OFFSET): deep pages take longer"


def describe(connection: apsw.Connection, name: str) -> Relation:
    try:
        return _describe(connection, name)
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc


def _describe(connection: apsw.Connection, name: str) -> Relation:
    rows = connection.execute(
        "SELECT type, wr, name FROM pragma_table_list WHERE schema = 'main' AND name = ? COLLATE NOCASE", (name,)
    ).fetchall()
    if not rows:
        raise QueryError(f"There is no table or view named {name!r}.")
    kind, without_rowid, name = str(rows[0][0]), bool(rows[0][1]), str(rows[0][2])
    info = cast(list[tuple[str, str, int, int]], connection.execute(
        "SELECT name, type, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid", (name,)
    ).fetchall())
    columns = tuple(str(column) for column, _type, _pk, hidden in info if hidden != 1)
    lower = {str(column).lower() for column, *_rest in info}
    if kind == "table" and without_rowid:
        key = tuple(str(column) for column, _type, pk, _hidden in sorted(info, key=lambda r: r[2]) if pk > 0)
        return Relation(name, "without rowid", columns, key)
    if kind == "table":
        pks = [(column, str(decl)) for column, decl, pk, _hidden in info if pk > 0]
        alias = str(pks[0][0]) if len(pks) == 1 and pks[0][1].upper() == "INTEGER" else None
        rowid = alias or next((a for a in ROWID_ALIASES if a not in lower), None)
        return Relation(name, "table", columns, (rowid,) if rowid else (), rowid_alias=alias)
    if kind == "virtual" and not any(a in lower for a in ROWID_ALIASES):
        try:  # FTS5 and rtree have a rowid that seeks; a table-valued module may not
            connection.execute(f"SELECT rowid FROM {quote_identifier(name)} LIMIT 0").fetchall()
            return Relation(name, "virtual", columns, ("rowid",))
        except apsw.SQLError:
            pass
    return Relation(name, kind, columns, ())


# ----- filters -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # "=", "!=", "<", "<=", ">", ">=", "between", "like", "not like", "is null", "is not null"
    values: tuple = ()

    def sql(self) -> tuple[str, tuple]:
        column = quote_identifier(self.column)
        if self.op in ("is null", "is not null"):
            return f"{column} {self.op.upper()}", ()
        if self.op == "between":
            return f"{column} BETWEEN ? AND ?", self.values
        if self.op in ("like", "not like"):
            return f"{column} {self.op.upper()} ? ESCAPE '\\'", self.values
        return f"{column} {self.op} ?", self.values


_COMPARISON = re.compile(r"^(==|=|!=|<>|<=|>=|<|>)\s*(.*)$", re.DOTALL)
_RANGE = re.compile(r"^(.+?)\s*\.\.\s*(.+)$", re.DOTALL)
_NUMBER_RANGE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)$")
FILTER_HELP = (
    "=11  !=11  >5  <=3  5..10 (or 5-10)  %ab% (LIKE)  abc (contains)  NULL  !NULL  ·  'quoted' forces text"
)


def parse_value(text: str) -> object:
    """What the user typed as an SQL value: an integer, a real, or text ('quotes' force text)."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse_filter(column: str, text: str) -> Condition | None:
    """One column's filter text as a Condition (None when empty); FilterError says what is accepted."""
    text = text.strip()
    if not text:
        return None
    upper = " ".join(text.upper().split())
    if upper in ("NULL", "IS NULL", "=NULL"):
        return Condition(column, "is null")
    if upper in ("!NULL", "NOT NULL", "IS NOT NULL", "!=NULL"):
        return Condition(column, "is not null")
    match = _COMPARISON.match(text)
    if match:
        op, rest = match.groups()
        if not rest.strip():
            raise FilterError(f"{column}: '{text}' needs a value after {op}, e.g. {op}10")
        op = {"==": "=", "<>": "!="}.get(op, op)
        return Condition(column, op, (parse_value(rest),))
    if text.startswith("!") and len(text) > 1:
        return Condition(column, "not like", (f"%{_escape_like(text[1:])}%",))
    match = _NUMBER_RANGE.match(text) or _RANGE.match(text)
    if match:
        low, high = (parse_value(part) for part in match.groups())
        return Condition(column, "between", (low, high))
    if text.endswith("..") or text.startswith(".."):
        raise FilterError(f"{column}: a range needs two ends, e.g. 5..10")
    if "%" in text:
        return Condition(column, "like", (text,))
    value = parse_value(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Condition(column, "=", (value,))
    return Condition(column, "like", (f"%{_escape_like(str(value))}%",))


@dataclass(frozen=True)
class Search:
    """Rows where any of `columns` (read as text) contains `text` literally: `%`, `_` and quotes are plain
    characters, and the text is bound, never spliced in. "Contains" has no index to seek on, so it reads
    rows in the page order until a page is full; the next page starts from the last row's key."""

    text: str
    columns: tuple[str, ...]

    def sql(self) -> tuple[str, tuple]:
        pattern = "'%' || ? || '%' ESCAPE '\\'"
        tests = [f"CAST({quote_identifier(column)} AS TEXT) LIKE {pattern}" for column in self.columns]
        return f"({' OR '.join(tests)})", (_escape_like(self.text),) * len(self.columns)


Filter = Condition | Search  # what a spec's rows must match, each bound as parameters


def where_clause(conditions: Sequence[Filter]) -> tuple[str, tuple]:
    """`(a) AND (b)` with `?` placeholders and the values to bind, in order; ("", ()) without conditions."""
    parts: list[str] = []
    values: list[object] = []
    for condition in conditions:
        sql, bound = condition.sql()
        parts.append(sql)
        values.extend(bound)
    return " AND ".join(parts), tuple(values)


def sql_literal(value: object) -> str:
    """`value` written as an SQL literal (for showing and copying a filter, never for running one)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else "NULL"
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    return "'" + str(value).replace("'", "''") + "'"


def inline(sql: str, values: Sequence[object]) -> str:
    """`sql` with each `?` outside quotes replaced by the literal of the next value."""
    out, remaining, quote = [], list(values), ""
    for char in sql:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "?" and remaining:
            out.append(sql_literal(remaining.pop(0)))
            continue
        out.append(char)
    return "".join(out)


# ----- what to show, and its pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class BrowseSpec:
    relation: Relation
    sort: str | None = None
    descending: bool = False
    conditions: tuple[Filter, ...] = field(default_factory=tuple)

    def order_columns(self) -> tuple[str, ...]:
        """The columns rows are ordered by: the sort column, then the key (without repeating the sort)."""
        if not self.relation.paged_by_key:
            return (self.sort,) if self.sort else ()
        key = self.relation.key
        if self.sort is None or (len(key) == 1 and self.sort == self.relation.rowid_alias):
            return key
        return (self.sort, *(k for k in key if k != self.sort))

    @property
    def nullable_sort(self) -> bool:
        """The first order column can hold NULLs (key columns never do)."""
        return self.relation.paged_by_key and self.order_columns()[0] not in self.relation.key

    def query(self) -> tuple[str, tuple]:
        """Every row of this view, in its order: `SELECT * ... WHERE ... ORDER BY ...` with `?` placeholders
        and the values to bind (what an export of exactly what the grid shows runs)."""
        sql = f"SELECT * FROM {quote_identifier(self.relation.name)}"
        where, values = where_clause(self.conditions)
        if where:
            sql += f" WHERE {where}"
        order = self.order_columns() if self.relation.paged_by_key else ((self.sort,) if self.sort else ())
        if order:
            sql += f" ORDER BY {_order_by(order, self.descending)}"
        return sql, values

    def select_sql(self) -> str:
        """The statement a user would type for this view, with the filter values inlined as literals."""
        sql = f"SELECT * FROM {quote_identifier(self.relation.name)}"
        where, values = where_clause(self.conditions)
        if where:
            sql += f" WHERE {inline(where, values)}"
        if self.sort:
            sql += f" ORDER BY {quote_identifier(self.sort)}{' DESC' if self.descending else ''}"
        return sql


@dataclass(frozen=True)
class Page:
    rows: list[tuple]
    first: Cursor | None  # cursor of the first row (None when empty)
    last: Cursor | None  # cursor of the last row
    complete: bool  # fewer rows than asked: the end (in the direction read) was reached
    cursors: list[Cursor] = field(default_factory=list)  # one per row: where it sits in the order


def _order_by(columns: Sequence[str], descending: bool) -> str:
    direction = " DESC" if descending else ""
    return ", ".join(f"{quote_identifier(c)}{direction}" for c in columns)


def _row_value(columns: Sequence[str]) -> str:
    quoted = ", ".join(quote_identifier(c) for c in columns)
    return f"({quoted})"


def _segments(spec: BrowseSpec, cursor: Cursor | None, descending: bool, inclusive: bool) -> list[tuple[str, tuple]]:
    """The predicates, each one index range, whose rows in order come after `cursor` (nothing: all rows).

    With a nullable sort column the NULL block sits first ascending and last descending; a cursor inside it
    continues within the block by key, then (ascending) moves on to the non-NULL rows."""
    if cursor is None:
        return [("", ())]
    columns = spec.order_columns()
    op = (">=" if inclusive else ">") if not descending else ("<=" if inclusive else "<")
    if not spec.nullable_sort:
        return [(f"{_row_value(columns)} {op} ({', '.join('?' * len(columns))})", tuple(cursor))]
    sort, key = quote_identifier(columns[0]), columns[1:]
    key_pred = f"{_row_value(key)} {op} ({', '.join('?' * len(key))})"
    if cursor[0] is None:
        in_nulls = (f"{sort} IS NULL AND {key_pred}", tuple(cursor[1:]))
        return [in_nulls] if descending else [in_nulls, (f"{sort} IS NOT NULL", ())]
    past = (f"{_row_value(columns)} {op} ({', '.join('?' * len(columns))})", tuple(cursor))
    return [past, (f"{sort} IS NULL", ())] if descending else [past]


def _statement(spec: BrowseSpec, predicate: str, descending: bool) -> tuple[str, tuple]:
    columns = spec.order_columns()
    where, values = where_clause(spec.conditions)
    clauses = [part for part in (where, predicate) if part]
    keys = ", ".join(quote_identifier(c) for c in columns)
    sql = f"SELECT {keys}, * FROM {quote_identifier(spec.relation.name)}"
    if clauses:
        sql += " WHERE " + " AND ".join(f"({c})" for c in clauses)
    return sql + f" ORDER BY {_order_by(columns, descending)} LIMIT ?", values


def fetch_page(
    connection: apsw.Connection,
    spec: BrowseSpec,
    *,
    after: Cursor | None = None,
    limit: int,
    backward: bool = False,
    inclusive: bool = False,
) -> Page:
    """Up to `limit` rows after `after` (None: from the start) in the spec's order, or, `backward`, the rows
    before it (None: the last rows), still returned in display order."""
    try:
        if not spec.relation.paged_by_key:
            return _offset_page(connection, spec, after, limit, backward, inclusive)
        descending = spec.descending != backward
        width = len(spec.order_columns())
        rows: list[tuple] = []
        for predicate, cursor_values in _segments(spec, after, descending, inclusive):
            sql, values = _statement(spec, predicate, descending)
            rows += connection.execute(sql, (*values, *cursor_values, limit - len(rows))).fetchall()
            if len(rows) >= limit:
                break
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    complete = len(rows) < limit
    if backward:
        rows.reverse()
    cursors = [tuple(row[:width]) for row in rows]
    return Page(
        [row[width:] for row in rows], cursors[0] if rows else None, cursors[-1] if rows else None, complete, cursors
    )


def _offset_page(
    connection: apsw.Connection, spec: BrowseSpec, after: Cursor | None, limit: int, backward: bool, inclusive: bool
) -> Page:
    """Paging by position: the cursor is `(offset of the row,)`; backward from None needs a count."""
    if backward:
        end = (after[0] + inclusive) if after is not None else count_rows(connection, spec)
        start = max(end - limit, 0)
        limit, complete = end - start, start == 0
    else:
        start = (after[0] + (not inclusive)) if after is not None else 0
        complete = False
    where, values = where_clause(spec.conditions)
    sql = f"SELECT * FROM {quote_identifier(spec.relation.name)}"
    if where:
        sql += f" WHERE {where}"
    if spec.sort:
        # Every column breaks ties, so pages of a sorted view neither repeat nor skip rows of equal value.
        ties = ", ".join(str(n) for n in range(1, len(spec.relation.columns) + 1))
        sql += f" ORDER BY {_order_by([spec.sort], spec.descending)}, {ties}"
    rows = connection.execute(sql + " LIMIT ? OFFSET ?", (*values, limit, start)).fetchall()
    if not backward:
        complete = len(rows) < limit
    if not rows:
        return Page([], None, None, complete)
    return Page(rows, (start,), (start + len(rows) - 1,), complete, [(start + n,) for n in range(len(rows))])


def cursor_at(connection: apsw.Connection, spec: BrowseSpec, offset: int, total: int | None = None) -> Cursor | None:
    """The cursor of the row at `offset` (0-based) in the spec's order, None past the end.

    Reads only the order-key columns, so SQLite walks the smallest b-tree that has them in order (the
    sort column's index, or the table's own rowid b-tree) without decoding the rows. With the exact
    `total` known it walks from the nearer end, and a rowid table whose rowids have no gaps
    (max - min + 1 == total, the usual append-only table) needs no walk at all."""
    if not spec.relation.paged_by_key:
        return (offset,)
    if total is not None:
        if offset >= total:
            return None
        if not spec.conditions and spec.relation.kind == "table" and spec.order_columns() == spec.relation.key:
            key = quote_identifier(spec.relation.key[0])
            name = quote_identifier(spec.relation.name)
            low, high = connection.execute(f"SELECT (SELECT min({key}) FROM {name}), (SELECT max({key}) FROM {name})").fetchall()[0]
            if isinstance(low, int) and isinstance(high, int) and high - low + 1 == total:
                return (high - offset,) if spec.descending else (low + offset,)
        if offset > total // 2:
            return _cursor_at(connection, dataclasses.replace(spec, descending=not spec.descending), total - 1 - offset)
    return _cursor_at(connection, spec, offset)


def _cursor_at(connection: apsw.Connection, spec: BrowseSpec, offset: int) -> Cursor | None:
    columns = spec.order_columns()
    where, values = where_clause(spec.conditions)
    sql = f"SELECT {', '.join(quote_identifier(c) for c in columns)} FROM {quote_identifier(spec.relation.name)}"
    if where:
        sql += f" WHERE {where}"
    sql += f" ORDER BY {_order_by(columns, spec.descending)} LIMIT 1 OFFSET ?"
    try:
        rows = connection.execute(sql, (*values, max(offset, 0))).fetchall()
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return tuple(rows[0]) if rows else None


def count_rows(connection: apsw.Connection, spec: BrowseSpec) -> int:
    """Exactly how many rows match (a full pass over the smallest index: run it in the background)."""
    where, values = where_clause(spec.conditions)
    sql = f"SELECT count(*) FROM {quote_identifier(spec.relation.name)}"
    try:
        return int(cast(int, connection.execute(sql + (f" WHERE {where}" if where else ""), values).fetchall()[0][0]))
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc


@dataclass(frozen=True)
class Plan:
    sort_scans: bool  # SQLite sorts every matching row for each page (no index for the order)
    filter_scans: bool  # the filter visits every row (no index for it)
    details: tuple[str, ...]


def page_plan(connection: apsw.Connection, spec: BrowseSpec) -> Plan:
    """EXPLAIN QUERY PLAN of the first page: does the order or the filter need a full pass?"""
    if spec.relation.paged_by_key:
        sql, values = _statement(spec, "", spec.descending)
        values = (*values, 1)
    else:
        where, values = where_clause(spec.conditions)
        sql = f"SELECT * FROM {quote_identifier(spec.relation.name)}" + (f" WHERE {where}" if where else "")
        if spec.sort:
            sql += f" ORDER BY {_order_by([spec.sort], spec.descending)}"
    try:
        details = tuple(str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", values).fetchall())
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    sorts = any(d.startswith("USE TEMP B-TREE FOR") and "ORDER BY" in d and "RIGHT PART" not in d for d in details)
    scans = bool(spec.conditions) and any(d.startswith("SCAN ") and "COVERING INDEX" not in d for d in details)
    return Plan(sort_scans=sorts and spec.sort is not None, filter_scans=scans, details=details)
