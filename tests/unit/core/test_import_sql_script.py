"""core/sql_script.py: statements split where SQLite says they end, with their lines; runs with progress,
cancel and errors that name the line; one transaction unless asked otherwise."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import apsw
import pytest

from desktop_app.core import sql_script
from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.query import strip_leading_trivia
from desktop_app.core.sql_script import (
    ScriptError,
    ScriptProgress,
    read_script,
    run_script_file,
    run_statements,
    split_script,
)

SCRIPT = """-- made by hand
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a, b);  INSERT INTO t VALUES(1, 'x;y');
/* a ; comment */ INSERT INTO t VALUES(2,
'two;
lines');
CREATE TRIGGER tr AFTER INSERT ON t WHEN new.a = 3 BEGIN
  INSERT INTO t VALUES (99, 'from the trigger;'); -- ;
END;
COMMIT;
INSERT INTO t VALUES (3, 'it''s; quoted')"""


def table(connection: apsw.Connection, sql: str = "SELECT a, b FROM t ORDER BY a") -> list[tuple]:
    return connection.execute(sql).fetchall()


def test_statements_end_where_sqlite_says_and_start_on_their_line() -> None:
    found = [(statement.line, statement.sql.split("(")[0].split()[0:2]) for statement in split_script(SCRIPT)]
    assert found == [
        (2, ["PRAGMA", "foreign_keys=OFF;"]),
        (3, ["BEGIN", "TRANSACTION;"]),
        (4, ["CREATE", "TABLE"]),
        (4, ["INSERT", "INTO"]),
        (5, ["INSERT", "INTO"]),
        (8, ["CREATE", "TRIGGER"]),
        (11, ["COMMIT;"]),
        (12, ["INSERT", "INTO"]),
    ]
    trigger = list(split_script(SCRIPT))[5]
    assert trigger.sql.endswith("END;") and "from the trigger;" in trigger.sql


def test_a_file_is_read_in_pieces_with_the_same_statements_and_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sql"
    path.write_bytes(b"\xef\xbb\xbf" + SCRIPT.replace("two;", "tw\u00e9;").encode())
    monkeypatch.setattr(sql_script, "READ_CHUNK", 7)  # pieces cut lines and the two bytes of é apart
    from_file = list(read_script(path))
    from_text = list(split_script(SCRIPT.replace("two;", "tw\u00e9;")))
    assert [(s.sql, s.line) for s in from_file] == [(s.sql, s.line) for s in from_text]
    assert from_file[-1].end_byte == path.stat().st_size


def test_undecodable_bytes_name_their_line_and_utf16_is_refused(tmp_path: Path) -> None:
    latin = tmp_path / "latin.sql"
    latin.write_bytes(b"SELECT 1;\nSELECT 'caf\xe9';\n")
    with pytest.raises(PulseError, match="line 2: these bytes are not utf-8"):
        list(read_script(latin))
    with pytest.raises(PulseError, match="Cannot read"):
        list(read_script(tmp_path / "missing.sql"))
    assert [s.sql for s in read_script(latin, encoding="cp1252")][1] == "SELECT 'caf\u00e9';"
    wide = tmp_path / "wide.sql"
    wide.write_bytes("SELECT 1;".encode("utf-16"))
    with pytest.raises(PulseError, match="UTF-16"):
        list(read_script(wide))


def test_a_script_runs_in_one_transaction_with_its_own_begin_commit_folded_in() -> None:
    connection = apsw.Connection(":memory:")
    result = run_statements(connection, split_script(SCRIPT))
    assert table(connection) == [(1, "x;y"), (2, "two;\nlines"), (3, "it's; quoted"), (99, "from the trigger;")]
    assert (result.statements, result.folded, result.changes) == (6, 2, 4)


def test_an_error_names_its_line_and_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "broken.sql"
    lines = ["CREATE TABLE t(a);"] + [f"INSERT INTO t VALUES ({i});" for i in range(998)] + ["INSERT INTO nope VALUES (1);"]
    path.write_text("\n".join(lines) + "\n")
    connection = apsw.Connection(str(tmp_path / "x.db"))
    with pytest.raises(ScriptError, match=r"^Line 1000: no such table: nope \(in: INSERT INTO nope VALUES \(1\);\)") as caught:
        run_script_file(connection, path)
    assert caught.value.line == 1000
    assert table(connection, "SELECT count(*) FROM sqlite_schema") == [(0,)]
    assert connection.get_autocommit()


def test_progress_counts_statements_and_bytes_up_to_the_total(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_script, "PROGRESS_EVERY_S", 0.0)
    path = tmp_path / "many.sql"
    path.write_text("CREATE TABLE t(a);\n" + "".join(f"INSERT INTO t VALUES ({i});\n" for i in range(999)))
    seen: list[ScriptProgress] = []
    result = run_script_file(apsw.Connection(":memory:"), path, progress=seen.append)
    assert result.statements == 1000
    assert [p.statements for p in seen[:-1]] == list(range(1, 1001))
    assert all(a.bytes_done <= b.bytes_done for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1] == ScriptProgress(1000, path.stat().st_size, path.stat().st_size)


def test_a_cancel_between_statements_rolls_everything_back() -> None:
    connection = apsw.Connection(":memory:")
    script = "CREATE TABLE t(a);" + "INSERT INTO t VALUES (1);" * 50
    calls = iter(range(10_000))
    with pytest.raises(QueryInterrupted):
        run_statements(connection, split_script(script), cancelled=lambda: next(calls) > 20)
    assert table(connection, "SELECT count(*) FROM sqlite_schema") == [(0,)]
    assert connection.get_autocommit()


def test_an_interrupt_stops_a_long_statement_and_the_rollback_still_runs(tmp_path: Path) -> None:
    connection = apsw.Connection(str(tmp_path / "x.db"))
    running = threading.Event()
    connection.create_scalar_function("running", lambda: running.set() or 1)
    script = (
        "CREATE TABLE t(a); INSERT INTO t VALUES (1);\n"
        "INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT running() FROM n;"
    )

    def interrupt_once_running() -> None:
        if running.wait(30):
            connection.interrupt()

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with pytest.raises(QueryInterrupted):
        run_statements(connection, split_script(script))
    assert table(connection, "SELECT count(*) FROM sqlite_schema") == [(0,)]


def test_cancelled_is_asked_during_a_long_statement() -> None:
    connection = apsw.Connection(":memory:")
    asked = iter(range(1_000_000))
    script = "CREATE TABLE t(a); INSERT INTO t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n;"
    with pytest.raises(QueryInterrupted):
        run_statements(connection, split_script(script), cancelled=lambda: next(asked) > 5)
    assert table(connection, "SELECT count(*) FROM sqlite_schema") == [(0,)]


def test_a_rollback_in_the_script_is_refused_in_one_transaction_and_honoured_as_written() -> None:
    script = "CREATE TABLE t(a);\nBEGIN;\nINSERT INTO t VALUES (1);\nROLLBACK;\nINSERT INTO t VALUES (2);"
    connection = apsw.Connection(":memory:")
    with pytest.raises(ScriptError, match="^Line 4: the script rolls back its own transaction"):
        run_statements(connection, split_script(script))
    result = run_statements(connection, split_script(script), one_transaction=False)
    assert table(connection, "SELECT a FROM t") == [(2,)]
    assert (result.statements, result.folded) == (5, 0)


def test_a_begin_never_committed_keeps_nothing_in_one_transaction_as_when_run_as_written() -> None:
    connection = apsw.Connection(":memory:")
    script = "CREATE TABLE t(a, b);\nBEGIN;\nINSERT INTO t VALUES (1, 'x');\nCOMMIT;\nBEGIN TRANSACTION;\nINSERT INTO t VALUES (2, 'y');\n"
    with pytest.raises(ScriptError, match=r"^Line 5: this BEGIN is never committed .*end the script with COMMIT"):
        run_statements(connection, split_script(script))
    assert table(connection, "SELECT count(*) FROM sqlite_schema") == [(0,)] and connection.get_autocommit()
    result = run_statements(connection, split_script(script + "END;\n"))
    assert (table(connection), result.folded) == ([(1, "x"), (2, "y")], 4)


def test_an_unterminated_string_is_a_one_line_error() -> None:
    """SQLite quotes the token with the newline that follows it; the message stays on one line."""
    connection = apsw.Connection(":memory:")
    with pytest.raises(ScriptError) as caught:
        run_statements(connection, split_script("CREATE TABLE t(a);\nINSERT INTO t VALUES ('open);\n"))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("Line 2: unrecognized token: \"'open);\\n\"")


def test_as_written_a_failure_keeps_what_was_committed_and_drops_an_open_transaction() -> None:
    connection = apsw.Connection(":memory:")
    script = "CREATE TABLE t(a);\nINSERT INTO t VALUES (1);\nBEGIN;\nINSERT INTO t VALUES (2);\nSELECT nope;"
    with pytest.raises(ScriptError, match="^Line 5: no such column: nope"):
        run_statements(connection, split_script(script), one_transaction=False)
    assert table(connection, "SELECT a FROM t") == [(1,)]
    assert connection.get_autocommit()
    with pytest.raises(PulseError, match="left a transaction open"):
        run_statements(connection, split_script("BEGIN; INSERT INTO t VALUES (3);"), one_transaction=False)
    assert table(connection, "SELECT a FROM t") == [(1,)]


def test_a_sqlite3_dump_round_trips(tmp_path: Path) -> None:
    source = sqlite3.connect(":memory:")
    source.executescript(
        "CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT, blob BLOB);"
        "INSERT INTO p VALUES (1, 'semi;colon', x'00ff'), (2, 'it''s', NULL);"
        "CREATE INDEX p_name ON p(name); CREATE VIEW v AS SELECT name FROM p;"
    )
    connection = apsw.Connection(":memory:")
    run_statements(connection, split_script("\n".join(source.iterdump())))
    assert table(connection, "SELECT * FROM p") == [(1, "semi;colon", b"\x00\xff"), (2, "it's", None)]
    assert table(connection, "SELECT * FROM v ORDER BY 1") == [("it's",), ("semi;colon",)]


def test_a_shell_dot_command_is_named_as_such() -> None:
    with pytest.raises(ScriptError, match="^Line 2: this is a sqlite3 shell command"):
        run_statements(apsw.Connection(":memory:"), split_script("SELECT 1;\n.mode csv\nSELECT 2;"))


FRAGMENTS = [
    "INSERT INTO \"a;b\" VALUES ('it''s;', x'3b');",
    "/* ; */ SELECT 1 AS \"x;\";",
    "-- a comment; with semicolons;\n",
    "SELECT `q;` FROM (SELECT 1 AS `q;`) ;;",
    "CREATE TRIGGER IF NOT EXISTS t{n} AFTER INSERT ON \"a;b\" BEGIN\n"
    "  UPDATE \"a;b\" SET x = CASE WHEN new.x = 'end;' THEN 'END' ELSE x END; -- ;\n  SELECT 1; END;",
    "SELECT 'two\nlines;';",
    "\n\n",
    "SELECT [y;z] FROM \"a;b\" WHERE x = 'BEGIN' ;",
]


def normalized(statements: list[str]) -> list[str]:
    return [text for text in (strip_leading_trivia(s).rstrip().rstrip(";").rstrip() for s in statements) if text]


def test_statements_are_the_ones_sqlite_itself_runs() -> None:
    """Differential: for scripts made of awkward pieces, the split equals what SQLite prepares statement by
    statement when handed the whole script (apsw's exec tracer sees each)."""
    chance = random.Random(3)
    for trial in range(40):
        pieces = [chance.choice(FRAGMENTS).format(n=trial * 100 + i) for i in range(chance.randrange(1, 12))]
        script = "CREATE TABLE \"a;b\"(x TEXT, [y;z] TEXT);" + chance.choice([" ", "\n", ""]).join(pieces)
        traced: list[str] = []
        cursor = apsw.Connection(":memory:").cursor()
        cursor.exec_trace = lambda _cursor, sql, _bindings, seen=traced: seen.append(sql) or True
        for _row in cursor.execute(script):
            pass
        assert normalized([s.sql for s in split_script(script)]) == normalized(traced), script



def test_a_script_that_reads_first_waits_for_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    setup = apsw.Connection(str(path))
    setup.execute("PRAGMA journal_mode=WAL").fetchall()
    setup.execute("CREATE TABLE t(a, b)")
    setup.close()
    other = apsw.Connection(str(path))
    other.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1, 'other')")
    connection = apsw.Connection(str(path))
    connection.set_busy_timeout(5000)
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    try:
        run_statements(connection, split_script("SELECT count(*) FROM t; INSERT INTO t VALUES (2, 'script');"))
    finally:
        other.close()
    assert table(connection) == [(1, "other"), (2, "script")]


def test_a_script_is_never_read_from_the_connections_own_files(tmp_path: Path) -> None:
    # Python's open() and close() on the database or its WAL would drop the connection's locks.
    connection = apsw.Connection(str(tmp_path / "own.db"))
    try:
        connection.execute("PRAGMA journal_mode = WAL; CREATE TABLE t(x)")
        for own in (connection.filename, connection.filename + "-wal"):
            with pytest.raises(PulseError, match="open database's own file"):
                sql_script.run_script_file(connection, own)
    finally:
        connection.close()
