"""Run the user's SQL: streamed result pages, EXPLAIN as data, a cancel that cancels.

Plain functions over a connection the caller owns; the session runs them as jobs (core/worker.py) on its
console thread (reads, a `mode=ro` connection) or its one write thread. Every statement is checked with
`sqlite3_stmt_readonly` before it runs, so a write typed into the console is refused with a clear message
before it touches anything. No run leaves a statement or a transaction open afterwards: an open read
transaction would pin a WAL snapshot and starve checkpoints.

The table-browsing helpers at the bottom are plain functions over a connection the caller owns; each is
one short statement, and none counts rows (`count(*)` on a 90M-row table takes minutes).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

import apsw

from desktop_app.core import errors
from desktop_app.core.database import Database
from desktop_app.core.errors import PulseError, QueryError, QueryInterrupted

T = TypeVar("T")

# How often (in VM instructions) SQLite asks whether the run was cancelled. interrupt() is the fast path;
# this catches a cancel that lands between two statements, where interrupt() alone would be forgotten.
CANCEL_CHECK_INSTRUCTIONS = 20_000

# Argument-less pragmas that SQLite flags as not read-only but that only report a value. Anything with
# an argument, and the action pragmas below, still need writes enabled.
ACTION_PRAGMAS = frozenset({"wal_checkpoint", "incremental_vacuum", "optimize", "shrink_memory"})
PRAGMA_QUERY = re.compile(r"PRAGMA\s+(?:[\w\"]+\s*\.\s*)?\"?(\w+)\"?\s*;?\s*$", re.IGNORECASE)
ROWID_ALIASES = ("rowid", "_rowid_", "oid")


@dataclass(frozen=True)
class ResultPage:
    columns: list[str]
    rows: list[tuple]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    row_count: int
    elapsed_ms: float
    truncated: bool  # stopped at max_rows
    changes: int  # rows inserted, updated or deleted by the run (triggers included)


@dataclass
class PlanNode:
    id: int
    parent: int
    detail: str
    full_scan: bool
    children: list[PlanNode] = field(default_factory=list)


@dataclass(frozen=True)
class SchemaObject:
    type: str
    name: str
    tbl_name: str
    sql: str | None


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def strip_leading_trivia(sql: str) -> str:
    """`sql` without leading whitespace, comments and empty statements (`;`)."""
    position, length = 0, len(sql)
    while position < length:
        char = sql[position]
        if char.isspace() or char == ";":
            position += 1
        elif sql.startswith("--", position):
            newline = sql.find("\n", position)
            position = length if newline < 0 else newline + 1
        elif sql.startswith("/*", position):
            end = sql.find("*/", position + 2)
            position = length if end < 0 else end + 2
        else:
            break
    return sql[position:]


def has_statement(sql: str) -> bool:
    return bool(strip_leading_trivia(sql))


def is_pragma_query(statement: str) -> bool:
    """True for `PRAGMA name` without an argument, other than the pragmas that act (checkpoint, optimize)."""
    match = PRAGMA_QUERY.match(strip_leading_trivia(statement))
    return match is not None and match.group(1).lower() not in ACTION_PRAGMAS


def is_full_scan(detail: str, cte_names: frozenset[str] = frozenset()) -> bool:
    """A plan step that visits every row of a table: `SCAN t` or `SCAN t USING INDEX i`.

    Not full scans: covering-index scans (they read only the smaller index), constant rows, subquery
    results, CTE results and virtual tables (table-valued functions have no rows on disk).
    """
    if not detail.startswith("SCAN "):
        return False
    rest = detail[len("SCAN ") :]
    if rest.startswith(("CONSTANT ROW", "(")) or " COVERING INDEX " in f" {rest} ":
        return False
    if " VIRTUAL TABLE " in f" {rest} ":
        return False
    return rest.split(" ", 1)[0] not in cte_names


def build_plan_tree(rows: list[tuple]) -> list[PlanNode]:
    """EXPLAIN QUERY PLAN rows (id, parent, notused, detail) as a forest; roots are returned in order."""
    cte_names = frozenset(
        detail.split(" ", 1)[1]
        for _id, _parent, _unused, detail in rows
        if detail.startswith(("CO-ROUTINE ", "MATERIALIZE "))
    )
    nodes: dict[int, PlanNode] = {}
    roots: list[PlanNode] = []
    for node_id, parent, _unused, detail in rows:
        node = PlanNode(
            id=node_id, parent=parent, detail=detail, full_scan=is_full_scan(detail, cte_names)
        )
        nodes[node_id] = node
        parent_node = nodes.get(parent)
        if parent_node is None:
            roots.append(node)
        else:
            parent_node.children.append(node)
    return roots


class ScriptTracer:
    """Follows a multi-statement run through apsw's exec tracer (called before each statement runs).

    It refuses writes when they are not allowed, notes which statement is the last one (only its rows
    are reported) and its columns, and, given `cancelled`, stops before the next statement once that is
    true. After `apsw.ExecTraceAbort`, `abort` holds the error to raise instead. The console and the
    export both use it; the export words its refusal differently (`refuse_write`).
    """

    def __init__(self, script: str, allow_writes: bool, cancelled: Callable[[], bool] | None = None) -> None:
        self.script = script
        self.allow_writes = allow_writes
        self.cancelled = cancelled
        self.offset = 0
        self.columns: list[str] = []
        self.at_last = False
        self.abort: PulseError | None = None

    def refuse_write(self, statement: str) -> PulseError:
        return QueryError(
            f"Writes are disabled, and this statement changes the database: "
            f"{_shorten(strip_leading_trivia(statement))} — enable writes to run it."
        )

    def __call__(self, cursor: apsw.Cursor, statement: str, _bindings: object) -> bool:
        self.offset += len(statement)
        if not has_statement(statement):
            return True  # a trailing comment: apsw hands it over as an empty statement
        if self.cancelled is not None and self.cancelled():
            self.abort = QueryInterrupted("Cancelled.")
            return False
        if not self.allow_writes and not (cursor.is_readonly or is_pragma_query(statement)):
            self.abort = self.refuse_write(statement)
            return False
        self.at_last = not has_statement(self.script[self.offset :])
        self.columns = [name for name, _type in cursor.get_description()]
        return True


def _shorten(statement: str, limit: int = 80) -> str:
    text = " ".join(statement.split()).rstrip(";")
    return text if len(text) <= limit else text[: limit - 1] + "…"


PAGE_ROWS = 500
MAX_ROWS = 100_000


def _never() -> bool:
    return False


def require_writable(database: Database) -> None:
    """The console's refusal, worded for a statement typed into it, when the file is open read-only."""
    if database.read_only:
        raise QueryError(
            f"{database.path.name} is open read-only, so it cannot be changed here. "
            "Reopen it read-write to run statements that change it."
        )


def translate_query_error(exc: apsw.Error, path: str, allow_writes: bool) -> PulseError:
    if isinstance(exc, apsw.ReadOnlyError) and not allow_writes:
        return QueryError(f"Writes are disabled, and this statement tried to change the database ({exc}).")
    if isinstance(exc, apsw.CantOpenError):  # e.g. ATTACH of a file that is not there
        return QueryError(f"A file this statement refers to cannot be opened: {exc}.")
    return errors.translate(exc, path)


def run_script(
    connection: apsw.Connection,
    sql: str,
    *,
    allow_writes: bool = False,
    on_page: Callable[[ResultPage], None],
    cancelled: Callable[[], bool] = _never,
    page_rows: int = PAGE_ROWS,
    max_rows: int = MAX_ROWS,
) -> QueryResult:
    """Run `sql` (one or more statements) on the caller's connection; the last statement's rows go to
    `on_page` in pages. `cancelled` is checked between statements, rows and every few thousand VM steps
    (`connection.interrupt()` from another thread is the fast path). Leaves no statement or transaction open."""
    if page_rows < 1 or max_rows < 1:
        raise ValueError("page_rows and max_rows must be positive")
    if not has_statement(sql):
        raise QueryError("There is no SQL statement to run.")
    started = time.perf_counter()
    changes_before = connection.total_changes()
    tracker = ScriptTracer(sql, allow_writes, cancelled)
    cursor = connection.cursor()
    cursor.exec_trace = tracker
    connection.set_progress_handler(cancelled, CANCEL_CHECK_INSTRUCTIONS)
    row_count, truncated, page = 0, False, []
    try:
        for row in cursor.execute(sql):
            if not tracker.at_last:
                continue  # rows of an earlier statement: run it, report only the last result set
            page.append(row)
            row_count += 1
            if len(page) >= page_rows:
                on_page(ResultPage(columns=tracker.columns, rows=page))
                page = []
            if row_count >= max_rows:
                truncated = True
                break
            if cancelled():
                raise QueryInterrupted("Cancelled.")
    except apsw.ExecTraceAbort as exc:
        raise tracker.abort or QueryError("The run was stopped.") from exc
    except apsw.Error as exc:
        raise translate_query_error(exc, connection.filename, allow_writes) from exc
    finally:
        cursor.close(force=True)
        connection.set_progress_handler(None)
        left_open = not connection.get_autocommit()
        if left_open:
            connection.execute("ROLLBACK")
    if left_open and allow_writes:
        raise QueryError(
            "The statements left a transaction open (BEGIN without COMMIT). It was rolled back so the "
            "database is not kept locked; end it with COMMIT in the same run."
        )
    if page:
        on_page(ResultPage(columns=tracker.columns, rows=page))
    return QueryResult(
        columns=tracker.columns,
        row_count=row_count,
        elapsed_ms=(time.perf_counter() - started) * 1000.0,
        truncated=truncated,
        changes=connection.total_changes() - changes_before,
    )


def explain_plan(connection: apsw.Connection, sql: str) -> list[PlanNode]:
    """EXPLAIN QUERY PLAN of one statement, as a tree (roots). The statement is not run."""
    return build_plan_tree(_explain_rows(connection, sql, mode=2)[1])


def explain(connection: apsw.Connection, sql: str) -> ResultPage:
    """EXPLAIN of one statement: its bytecode program, one row per instruction. The statement is not run."""
    columns, rows = _explain_rows(connection, sql, mode=1)
    return ResultPage(columns=columns, rows=rows)


def _explain_rows(connection: apsw.Connection, sql: str, *, mode: int) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of EXPLAIN (mode 1) or EXPLAIN QUERY PLAN (mode 2) for the single statement in `sql`."""
    statements: list[str] = []
    columns: list[str] = []

    def trace(cursor: apsw.Cursor, statement: str, _bindings: object) -> bool:
        if not has_statement(statement):
            return True
        statements.append(statement)
        columns[:] = [name for name, _type in cursor.get_description()]
        return len(statements) == 1

    cursor = connection.cursor()
    cursor.exec_trace = trace
    try:
        rows = cursor.execute(sql, explain=mode).fetchall()
    except apsw.ExecTraceAbort:
        rows = []
    except apsw.Error as exc:
        raise translate_query_error(exc, connection.filename, allow_writes=False) from exc
    finally:
        cursor.close(force=True)
    if not statements:
        raise QueryError("There is no SQL statement to explain.")
    if len(statements) > 1:
        raise QueryError("Explain works on one statement at a time: select the statement to explain.")
    return columns, rows


# ----- table browsing: each call is one short statement on the caller's connection -----


def _translated(function: Callable[..., T]) -> Callable[..., T]:
    """Turn an apsw error raised by a browsing helper into a typed, readable PulseError."""

    @functools.wraps(function)
    def wrapper(connection: apsw.Connection, *args: object, **kwargs: object) -> T:
        try:
            return function(connection, *args, **kwargs)
        except apsw.Error as exc:
            raise errors.translate(exc, connection.filename) from exc

    return wrapper


@_translated
def list_schema(connection: apsw.Connection) -> list[SchemaObject]:
    """Tables, views, indexes and triggers of the main database, in schema order by type then name."""
    rows = cast(list[tuple[str, str, str, str | None]], connection.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema "
        "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'view' THEN 1 WHEN 'index' THEN 2 ELSE 3 END, name"
    ).fetchall())
    return [SchemaObject(*row) for row in rows]


def _table_kind(connection: apsw.Connection, table: str) -> tuple[str, bool]:
    """(type, without_rowid) of a table or view in main, e.g. ('table', False); QueryError if absent."""
    rows = connection.execute(
        "SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ? COLLATE NOCASE", (table,)
    ).fetchall()
    if not rows:
        raise QueryError(f"There is no table or view named {table!r}.")
    kind, without_rowid = rows[0]
    return str(kind), bool(without_rowid)


@_translated
def _rowid_name(connection: apsw.Connection, table: str) -> str | None:
    """A name for the rowid that no column shadows, or None for views, WITHOUT ROWID and virtual tables."""
    kind, without_rowid = _table_kind(connection, table)
    if kind != "table" or without_rowid:
        return None
    names = {
        name.lower()
        for (name,) in cast(
            list[tuple[str]], connection.execute("SELECT name FROM pragma_table_xinfo(?)", (table,)).fetchall()
        )
    }
    return next((alias for alias in ROWID_ALIASES if alias not in names), None)


# The smallest a table row can be on disk: a 2-byte cell pointer, 1-byte payload size, 1-byte rowid and a
# 1-byte record header, with every column NULL. No page can hold more rows than page_size / this.
MIN_ROW_BYTES = 5


@_translated
def estimate_row_count(connection: apsw.Connection, table: str) -> int | None:
    """Roughly how many rows, without counting them; None when nothing cheap gives a believable number.

    First the row count ANALYZE stored in sqlite_stat1. Otherwise, for rowid tables, max(rowid) - min(rowid)
    + 1 (two index seeks): exact for append-only tables, an upper bound after deletes, and discarded when
    the whole file could not hold that many rows (sparse or random rowids).
    """
    key = _rowid_name(connection, table)  # first: its statement also reloads a schema changed by others
    analyzed = _analyzed_row_count(connection, table)
    if analyzed is not None or key is None:
        return analyzed
    quoted = quote_identifier(table)
    # Two subqueries: min() and max() in one SELECT would scan the table instead of seeking twice.
    low, high = cast(tuple[int, int | None], connection.execute(
        f"SELECT (SELECT min({key}) FROM {quoted}), (SELECT max({key}) FROM {quoted})"
    ).fetchall()[0])
    if high is None:
        return 0
    span = int(high) - int(low) + 1
    page_size, page_count = cast(tuple[int, int], connection.execute(
        "SELECT * FROM pragma_page_size(), pragma_page_count()"
    ).fetchall()[0])
    most_rows = int(page_count) * (int(page_size) // MIN_ROW_BYTES)
    return span if span <= most_rows else None


def _analyzed_row_count(connection: apsw.Connection, table: str) -> int | None:
    if not connection.table_exists("main", "sqlite_stat1"):
        return None
    rows = connection.execute(
        "SELECT stat FROM sqlite_stat1 WHERE tbl = ? COLLATE NOCASE LIMIT 1", (table,)
    ).fetchall()
    if not rows or not rows[0][0]:
        return None
    first = str(rows[0][0]).split(" ", 1)[0]
    return int(first) if first.isdigit() else None
