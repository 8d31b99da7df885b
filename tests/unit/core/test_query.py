"""The console's query functions on real database files: streamed pages, read-only by default, EXPLAIN as data, cancel, browsing."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from desktop_app.core import errors, keyset, query
from desktop_app.core.database import Database, connect_read, connect_write, limit_value_size, open_database
from desktop_app.core.query import (
    PlanNode,
    QueryResult,
    ResultPage,
    build_plan_tree,
    estimate_row_count,
    has_statement,
    is_full_scan,
    is_pragma_query,
    list_schema,
    quote_identifier,
    strip_leading_trivia,
)

WAIT_S = 30.0  # upper bound for a callback to arrive; tests end as soon as it does
ENDLESS_QUERY = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"


class Outcome:
    """Collects the callbacks of one request and lets the test wait for its end."""

    def __init__(self) -> None:
        self.pages: list[ResultPage] = []
        self.result: object = None
        self.error: errors.PulseError | None = None
        self.threads: set[int] = set()
        self.finished = threading.Event()

    def on_page(self, page: ResultPage) -> None:
        self.threads.add(threading.get_ident())
        self.pages.append(page)

    def on_done(self, result: object) -> None:
        self.threads.add(threading.get_ident())
        self.result = result
        self.finished.set()

    def on_error(self, error: errors.PulseError) -> None:
        self.threads.add(threading.get_ident())
        self.error = error
        self.finished.set()

    def wait(self) -> Outcome:
        assert self.finished.wait(WAIT_S), "the runner never reported back"
        return self

    @property
    def rows(self) -> list[tuple]:
        return [row for page in self.pages for row in page.rows]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class QueryRunner:
    """The session's console jobs without the threads (tests/unit/core/test_session.py has those): the same
    query functions on connections of its own, reporting through the same callbacks the tests collect."""

    def __init__(self, database: Database, *, page_rows: int = 500, max_rows: int = 100_000) -> None:
        self.database, self.page_rows, self.max_rows = database, page_rows, max_rows
        self.connections: dict[bool, apsw.Connection] = {}

    def connection(self, allow_writes: bool) -> apsw.Connection:
        if allow_writes:
            query.require_writable(self.database)
        if allow_writes not in self.connections:
            connection = connect_write(self.database.path) if allow_writes else self.database.connect_read()
            limit_value_size(connection)
            self.connections[allow_writes] = connection
        return self.connections[allow_writes]

    def call(self, work, on_done, on_error) -> None:
        try:
            result = work()
        except errors.PulseError as exc:
            on_error(exc)
        else:
            on_done(result)

    def execute(self, sql: str, *, allow_writes: bool = False, on_page, on_done, on_error) -> None:
        self.call(
            lambda: query.run_script(
                self.connection(allow_writes), sql, allow_writes=allow_writes, on_page=on_page,
                page_rows=self.page_rows, max_rows=self.max_rows,
            ),
            on_done, on_error,
        )

    def explain_plan(self, sql: str, *, on_done, on_error) -> None:
        self.call(lambda: query.explain_plan(self.connection(False), sql), on_done, on_error)

    def explain(self, sql: str, *, on_done, on_error) -> None:
        self.call(lambda: query.explain(self.connection(False), sql), on_done, on_error)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()

    def __enter__(self) -> QueryRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def runner(db_path: Path) -> Iterator[QueryRunner]:
    with QueryRunner(open_database(db_path), page_rows=200) as query_runner:
        yield query_runner


@pytest.fixture
def writable_runner(db_path: Path) -> Iterator[QueryRunner]:
    with QueryRunner(open_database(db_path, read_only=False), page_rows=200) as query_runner:
        yield query_runner


def run(runner: QueryRunner, sql: str, *, allow_writes: bool = False) -> Outcome:
    outcome = Outcome()
    runner.execute(
        sql,
        allow_writes=allow_writes,
        on_page=outcome.on_page,
        on_done=outcome.on_done,
        on_error=outcome.on_error,
    )
    return outcome.wait()


def count_readings(path: Path) -> int:
    connection = connect_read(path)
    try:
        return connection.execute("SELECT count(*) FROM readings").fetchall()[0][0]
    finally:
        connection.close()


# ----- execute -----


def test_results_stream_in_pages(runner: QueryRunner) -> None:
    outcome = run(runner, "SELECT id, device, value FROM readings ORDER BY id")
    assert outcome.error is None
    assert [len(page.rows) for page in outcome.pages] == [200, 200, 100]
    assert all(page.columns == ["id", "device", "value"] for page in outcome.pages)
    assert [row[0] for row in outcome.rows] == list(range(1, 501))
    result = outcome.result
    assert isinstance(result, QueryResult)
    assert (result.columns, result.row_count, result.truncated, result.changes) == (
        ["id", "device", "value"],
        500,
        False,
        0,
    )
    assert result.elapsed_ms >= 0


def test_max_rows_truncates_and_leaves_no_snapshot_open(db_path: Path) -> None:
    with QueryRunner(open_database(db_path), page_rows=50, max_rows=120) as runner:
        outcome = run(runner, "SELECT * FROM readings")
        assert outcome.result.truncated is True
        assert outcome.result.row_count == 120
        assert len(outcome.rows) == 120
        # If the truncated statement still held its read transaction, a new write could not be
        # checkpointed past it and RESTART would report busy.
        writer = connect_write(db_path, busy_timeout_ms=100)
        writer.execute("INSERT INTO readings(device, value) VALUES ('after', 1)")
        busy, log_frames, checkpointed = writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()[0]
        writer.close()
    assert busy == 0 and log_frames == checkpointed


def test_empty_result_still_reports_columns(runner: QueryRunner) -> None:
    outcome = run(runner, "SELECT device, value FROM readings WHERE value < 0")
    assert outcome.pages == []
    assert outcome.result.columns == ["device", "value"]
    assert outcome.result.row_count == 0


def test_multiple_statements_report_the_last_result_set(runner: QueryRunner) -> None:
    outcome = run(
        runner,
        "SELECT * FROM readings;\n-- the one we want\nSELECT count(*) AS n FROM readings WHERE device = 'dev1';"
        "  /* trailing comment */ ",
    )
    assert outcome.error is None
    assert outcome.result.columns == ["n"]
    assert outcome.rows == [(72,)]


def test_write_is_refused_before_it_changes_anything(db_path: Path, runner: QueryRunner) -> None:
    before = digest(db_path)
    outcome = run(runner, "DELETE FROM readings")
    assert isinstance(outcome.error, errors.QueryError)
    assert "Writes are disabled" in str(outcome.error) and "DELETE FROM readings" in str(outcome.error)
    assert count_readings(db_path) == 500
    assert digest(db_path) == before


def test_write_after_a_read_in_one_run_is_refused(db_path: Path, runner: QueryRunner) -> None:
    outcome = run(runner, "SELECT 1; INSERT INTO readings(device, value) VALUES ('x', 1); SELECT 2")
    assert isinstance(outcome.error, errors.QueryError)
    assert outcome.result is None
    assert count_readings(db_path) == 500


@pytest.mark.parametrize(
    "sql", ["PRAGMA user_version = 7", "CREATE TABLE extra(x)", "PRAGMA wal_checkpoint", "VACUUM"]
)
def test_statements_that_change_the_file_need_writes(db_path: Path, runner: QueryRunner, sql: str) -> None:
    before = digest(db_path)
    outcome = run(runner, sql)
    assert isinstance(outcome.error, errors.QueryError)
    assert digest(db_path) == before


def test_pragma_queries_run_without_writes(runner: QueryRunner) -> None:
    outcome = run(runner, "PRAGMA journal_mode")
    assert outcome.error is None
    assert outcome.rows == [("wal",)]


def test_reads_use_a_read_only_connection(db_path: Path, runner: QueryRunner) -> None:
    # REINDEX is flagged read-only by SQLite yet rewrites indexes: the mode=ro connection stops it.
    before = digest(db_path)
    outcome = run(runner, "REINDEX readings_device")
    assert isinstance(outcome.error, errors.QueryError)
    assert "Writes are disabled" in str(outcome.error)
    assert digest(db_path) == before


def test_allowed_writes_commit_and_count_changes(db_path: Path, writable_runner: QueryRunner) -> None:
    outcome = run(
        writable_runner,
        "UPDATE readings SET value = -1 WHERE device = 'dev2'; SELECT count(*) FROM readings WHERE value = -1",
        allow_writes=True,
    )
    assert outcome.error is None
    assert outcome.rows == [(72,)]
    assert outcome.result.changes == 72
    reader = connect_read(db_path)
    assert reader.execute("SELECT count(*) FROM readings WHERE value = -1").fetchall() == [(72,)]
    reader.close()


def test_read_only_database_refuses_writes_clearly(db_path: Path, runner: QueryRunner) -> None:
    outcome = run(runner, "DELETE FROM readings", allow_writes=True)
    assert isinstance(outcome.error, errors.QueryError)
    assert "read-only" in str(outcome.error)
    assert count_readings(db_path) == 500


def test_transaction_left_open_is_rolled_back(db_path: Path, writable_runner: QueryRunner) -> None:
    outcome = run(writable_runner, "BEGIN; DELETE FROM readings", allow_writes=True)
    assert isinstance(outcome.error, errors.QueryError)
    assert "COMMIT" in str(outcome.error)
    assert count_readings(db_path) == 500
    # The runner holds no lock afterwards: another writer gets in at once.
    writer = connect_write(db_path, busy_timeout_ms=100)
    writer.execute("INSERT INTO readings(device, value) VALUES ('x', 1)")
    writer.close()


def test_explicit_transaction_on_the_read_connection_is_ended(db_path: Path, runner: QueryRunner) -> None:
    outcome = run(runner, "BEGIN; SELECT count(*) FROM readings")
    assert outcome.rows == [(500,)]
    writer = connect_write(db_path, busy_timeout_ms=100)
    writer.execute("INSERT INTO readings(device, value) VALUES ('x', 1)")
    busy, log_frames, checkpointed = writer.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()[0]
    writer.close()
    assert busy == 0 and log_frames == checkpointed


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [("SELEC 1", "syntax error"), ("SELECT * FROM nowhere", "no such table"), ("  -- nothing\n ;", "no SQL")],
)
def test_bad_sql_reports_a_query_error(runner: QueryRunner, sql: str, fragment: str) -> None:
    outcome = run(runner, sql)
    assert isinstance(outcome.error, errors.QueryError)
    assert fragment in str(outcome.error)


def test_attaching_a_missing_file_is_a_query_error(tmp_path: Path, runner: QueryRunner) -> None:
    outcome = run(runner, f"ATTACH '{tmp_path / 'absent.db'}' AS other")
    assert isinstance(outcome.error, errors.QueryError)
    assert "cannot be opened" in str(outcome.error)
    assert not (tmp_path / "absent.db").exists()


def test_constraint_violation_is_a_query_error(writable_runner: QueryRunner) -> None:
    outcome = run(writable_runner, "INSERT INTO readings(id, device) VALUES (1, 'dup')", allow_writes=True)
    assert isinstance(outcome.error, errors.QueryError)
    assert "UNIQUE" in str(outcome.error)


HOSTILE_VIEWS = (
    "CREATE VIEW huge_text AS SELECT printf('%.*c', 900000000, 'x') AS big;"
    "CREATE VIEW huge_blob AS SELECT zeroblob(1000000000) AS big;"
)


@pytest.mark.parametrize("view", ["huge_text", "huge_blob"])
@pytest.mark.parametrize("allow_writes", [False, True])
def test_a_view_that_builds_a_gigabyte_value_is_a_clear_error(db_path: Path, view: str, allow_writes: bool) -> None:
    connection = connect_write(db_path)
    connection.execute(HOSTILE_VIEWS)
    connection.close()
    with QueryRunner(open_database(db_path, read_only=not allow_writes)) as query_runner:
        outcome = run(query_runner, f"SELECT * FROM {view}", allow_writes=allow_writes)
        assert isinstance(outcome.error, errors.ValueTooBig), outcome.error
        assert "larger than 256 MiB" in str(outcome.error)
        assert run(query_runner, "SELECT count(*) FROM readings", allow_writes=allow_writes).rows == [(500,)]


def test_callback_failure_is_not_swallowed(runner: QueryRunner) -> None:
    def broken_page(_page: ResultPage) -> None:
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):  # a bug reaches whoever awaits the job, as itself
        runner.execute("SELECT 1", on_page=broken_page, on_done=print, on_error=print)


# ----- cancel (the session's jobs interrupt through these; see test_session.py) -----


def test_a_cancel_flag_stops_a_running_query(runner: QueryRunner) -> None:
    started = time.perf_counter()
    deadline = started + 0.2
    with pytest.raises(errors.QueryInterrupted):
        query.run_script(runner.connection(False), ENDLESS_QUERY, on_page=print, cancelled=lambda: time.perf_counter() > deadline)
    assert time.perf_counter() - started < 5
    assert run(runner, "SELECT 42").rows == [(42,)]  # the connection is usable afterwards


def test_interrupt_from_another_thread_stops_a_running_query(runner: QueryRunner) -> None:
    connection = runner.connection(False)
    timer = threading.Timer(0.2, connection.interrupt)
    timer.start()
    with pytest.raises(errors.QueryInterrupted):
        query.run_script(connection, ENDLESS_QUERY, on_page=print)
    timer.join()


# ----- EXPLAIN -----


def explain_plan(runner: QueryRunner, sql: str) -> Outcome:
    outcome = Outcome()
    runner.explain_plan(sql, on_done=outcome.on_done, on_error=outcome.on_error)
    return outcome.wait()


def test_plan_flags_a_full_table_scan(runner: QueryRunner) -> None:
    roots = explain_plan(runner, "SELECT * FROM readings WHERE value > 3").result
    assert [(node.detail, node.full_scan) for node in roots] == [("SCAN readings", True)]


def test_plan_of_indexed_lookups_has_no_full_scan(runner: QueryRunner) -> None:
    search = explain_plan(runner, "SELECT * FROM readings WHERE device = 'dev1'").result
    assert search[0].detail.startswith("SEARCH readings USING INDEX readings_device")
    assert search[0].full_scan is False
    covering = explain_plan(runner, "SELECT device FROM readings").result
    assert "COVERING INDEX" in covering[0].detail and covering[0].full_scan is False


def test_plan_is_a_tree_with_subquery_children(runner: QueryRunner) -> None:
    roots = explain_plan(
        runner, "SELECT * FROM readings WHERE value > (SELECT avg(value) FROM readings WHERE device = 'dev3')"
    ).result
    subquery = next(node for node in roots if node.detail.startswith("SCALAR SUBQUERY"))
    assert [child.parent for child in subquery.children] == [subquery.id]
    assert subquery.children[0].detail.startswith("SEARCH readings")
    assert all(isinstance(node, PlanNode) for node in roots)


def test_plan_of_recursive_cte_is_not_a_table_scan(runner: QueryRunner) -> None:
    roots = explain_plan(runner, ENDLESS_QUERY).result

    def walk(nodes: list[PlanNode]) -> Iterator[PlanNode]:
        for node in nodes:
            yield node
            yield from walk(node.children)

    details = {node.detail: node.full_scan for node in walk(roots)}
    assert details["SCAN n"] is False
    assert "CO-ROUTINE n" in details


def test_plan_of_a_write_does_not_run_it(db_path: Path, runner: QueryRunner) -> None:
    roots = explain_plan(runner, "DELETE FROM readings WHERE value > 3").result
    assert roots[0].detail == "SCAN readings"
    assert count_readings(db_path) == 500


def test_explain_returns_bytecode_rows(runner: QueryRunner) -> None:
    outcome = Outcome()
    runner.explain("SELECT * FROM readings WHERE id = 5", on_done=outcome.on_done, on_error=outcome.on_error)
    page = outcome.wait().result
    assert isinstance(page, ResultPage)
    assert page.columns[:2] == ["addr", "opcode"]
    opcodes = [row[1] for row in page.rows]
    assert "SeekRowid" in opcodes and opcodes[-1] == "Goto"


def test_explain_wants_exactly_one_statement(runner: QueryRunner) -> None:
    outcome = explain_plan(runner, "SELECT 1; SELECT 2")
    assert isinstance(outcome.error, errors.QueryError) and "one statement" in str(outcome.error)
    outcome = explain_plan(runner, "-- only a comment")
    assert isinstance(outcome.error, errors.QueryError)
    outcome = explain_plan(runner, "SELECT * FROM missing_table")
    assert isinstance(outcome.error, errors.QueryError) and "missing_table" in str(outcome.error)


def test_build_plan_tree_keeps_order_and_nesting() -> None:
    rows = [(2, 0, 0, "CO-ROUTINE n"), (5, 2, 0, "SETUP"), (6, 5, 0, "SCAN CONSTANT ROW"), (29, 0, 0, "SCAN n")]
    roots = build_plan_tree(rows)
    assert [node.id for node in roots] == [2, 29]
    assert roots[0].children[0].children[0].detail == "SCAN CONSTANT ROW"
    assert roots[1].full_scan is False


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("SCAN readings", True),
        ("SCAN readings USING INDEX readings_device", True),
        ("SCAN readings USING COVERING INDEX readings_device", False),
        ("SCAN CONSTANT ROW", False),
        ("SCAN (subquery-1)", False),
        ("SCAN pragma_table_info VIRTUAL TABLE INDEX 0:", False),
        ("SEARCH readings USING INTEGER PRIMARY KEY (rowid=?)", False),
        ("SCALAR SUBQUERY 1", False),
    ],
)
def test_is_full_scan(detail: str, expected: bool) -> None:
    assert is_full_scan(detail) is expected


def test_sql_text_helpers() -> None:
    assert strip_leading_trivia("  ;-- a\n/* b */ SELECT 1") == "SELECT 1"
    assert has_statement("-- only\n/* comments */ ;") is False
    assert has_statement("/* unterminated") is False
    assert is_pragma_query("-- c\nPRAGMA main.journal_mode;") is True
    assert is_pragma_query("PRAGMA journal_mode = DELETE") is False
    assert is_pragma_query("PRAGMA wal_checkpoint") is False
    assert quote_identifier('we"ird name') == '"we""ird name"'


# ----- table browsing -----


@pytest.fixture
def browse_db(db_path: Path) -> Iterator[apsw.Connection]:
    writer = connect_write(db_path)
    writer.execute(
        'CREATE TABLE "odd ""name"" table"(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;'
        "CREATE TABLE empty(x);"
        "CREATE VIEW busy_devices AS SELECT device, count(*) AS n FROM readings GROUP BY device;"
    )
    with writer:
        writer.executemany('INSERT INTO "odd ""name"" table" VALUES (?, ?)', [(f"k{i:03d}", i) for i in range(25)])
    writer.close()
    connection = connect_read(db_path)
    yield connection
    connection.close()


def test_list_schema_lists_every_object(browse_db: apsw.Connection) -> None:
    objects = list_schema(browse_db)
    by_name = {item.name: item for item in objects}
    assert by_name["readings"].type == "table"
    assert by_name["readings_device"].type == "index" and by_name["readings_device"].tbl_name == "readings"
    assert by_name["busy_devices"].type == "view"
    assert by_name["readings"].sql.startswith("CREATE TABLE readings")
    kinds = [item.type for item in objects]
    assert kinds == sorted(kinds, key=["table", "view", "index", "trigger"].index)


def test_estimate_row_count_without_counting(db_path: Path, browse_db: apsw.Connection) -> None:
    assert estimate_row_count(browse_db, "readings") == 500
    assert estimate_row_count(browse_db, "empty") == 0
    assert estimate_row_count(browse_db, 'odd "name" table') is None  # WITHOUT ROWID and never analyzed
    assert estimate_row_count(browse_db, "busy_devices") is None
    writer = connect_write(db_path)
    writer.execute("ANALYZE")
    writer.close()
    assert estimate_row_count(browse_db, 'odd "name" table') == 25


def test_browsing_a_locked_database_raises_a_typed_error(delete_mode_db: Path) -> None:
    holder = apsw.Connection(str(delete_mode_db))
    holder.execute("BEGIN EXCLUSIVE; DELETE FROM notes")
    connection = connect_read(delete_mode_db, busy_timeout_ms=20)
    try:
        with pytest.raises(errors.DatabaseLocked):
            keyset.describe(connection, "notes")  # what opening a table in the grid runs first
        with pytest.raises(errors.DatabaseLocked):
            list_schema(connection)
    finally:
        connection.close()
        holder.execute("ROLLBACK")
        holder.close()
