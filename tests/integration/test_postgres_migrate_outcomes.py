"""migrate finishes: each table copied, skipped or failed with its reason; one failing does not stop the others.

Against the real throwaway PostgreSQL (tests/postgres_server.py)."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import psycopg

from tests.integration.test_postgres import query, run_cli


def make_bad_source(path: Path) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("""
        CREATE TABLE good(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE bad_utf8(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE nul_text(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE null_key(code TEXT PRIMARY KEY, n INTEGER);
        CREATE TABLE later(id INTEGER PRIMARY KEY, v REAL);
    """)
    with connection:
        connection.executemany("INSERT INTO good(name) VALUES (?)", [(f"n{i}",) for i in range(100)])
        connection.executemany("INSERT INTO bad_utf8(name) VALUES (?)", [(f"ok {i}",) for i in range(10)])
        connection.execute("INSERT INTO bad_utf8(id, name) VALUES (42, CAST(x'61ff62' AS TEXT))")
        connection.executemany("INSERT INTO nul_text(name) VALUES (?)", [("fine",), ("a\x00b",)])
        connection.executemany("INSERT INTO null_key VALUES (?, ?)", [("x", 1), (None, 2)])
        connection.executemany("INSERT INTO later(v) VALUES (?)", [(i / 2,) for i in range(50)])
    connection.close()


def test_failing_tables_are_reported_with_their_reason_and_the_others_are_copied(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "bad.db"
    make_bad_source(source)
    result = run_cli("migrate", str(source), "--to", pg_url, "--json")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    tables = {t["name"]: t for t in report["tables"]}
    assert {name: t["status"] for name, t in tables.items()} == {
        "good": "copied", "later": "copied", "bad_utf8": "failed", "nul_text": "failed", "null_key": "failed"}
    assert "column name, rowid 42: the text is not valid UTF-8" in tables["bad_utf8"]["reason"]
    assert "column name, rowid 2: the text holds a NUL character" in tables["nul_text"]["reason"]
    assert "column code is part of the primary key but rowid 2 holds NULL" in tables["null_key"]["reason"]
    assert report["verified"] is False
    assert report["rows"] == 150
    assert query(pg_url, "SELECT count(*) FROM good")[0][0] == 100
    assert query(pg_url, "SELECT count(*) FROM later")[0][0] == 50
    for name in ("bad_utf8", "nul_text", "null_key"):
        assert query(pg_url, "SELECT to_regclass(%s)", (name,))[0][0] is None  # rolled back whole

    text = run_cli("migrate", str(source), "--to", pg_url)  # the rerun: copied tables skipped, the rest fail again
    assert text.returncode == 1, text.stderr
    assert "Traceback" not in text.stderr
    assert "good: 100 rows (already copied and verified)" in text.stdout
    assert "bad_utf8: FAILED, not copied: column name, rowid 42: the text is not valid UTF-8" in text.stdout
    assert "3 tables FAILED: bad_utf8, nul_text, null_key" in text.stdout
    assert "read from a snapshot of the source (a rollback journal" in text.stdout


def test_a_run_with_every_table_copied_or_skipped_exits_0(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "ok.db"
    make_bad_source(source)
    result = run_cli("migrate", str(source), "--to", pg_url, "--json", "--tables", "good", "later")
    assert result.returncode == 0, result.stderr
    again = json.loads(run_cli("migrate", str(source), "--to", pg_url, "--json", "--tables", "good").stdout)
    assert [(t["name"], t["status"], t["reason"]) for t in again["tables"]] == [
        ("good", "skipped", "already copied and verified by an earlier run")]


def make_text_source(path: Path) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT, n INTEGER); "
                       "CREATE TABLE keyed(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
    with connection:
        connection.execute("INSERT INTO notes VALUES (1, 'plain ä', 1), (2, CAST(x'61ff62' AS TEXT), 2), "
                           "(3, 'a' || char(0) || 'b', 3), (4, NULL, 4), (5, 42, 5)")
        connection.execute("INSERT INTO keyed VALUES (CAST(x'6bc0' AS TEXT), 'x'), ('fine', 'y')")
    connection.close()


def test_invalid_text_fail_names_the_table_column_and_rowid(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "text.db"
    make_text_source(source)
    result = run_cli("migrate", str(source), "--to", pg_url, "--invalid-text", "fail")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert ("notes: FAILED, not copied: column body, rowid 2: the text is not valid UTF-8 (invalid start byte at "
            "byte 1) (--invalid-text bytea or replace copies it)") in result.stdout
    assert "keyed: FAILED, not copied: column k, a row: the text is not valid UTF-8" in result.stdout


def test_invalid_text_bytea_keeps_every_value_exact(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "text.db"
    make_text_source(source)
    result = run_cli("migrate", str(source), "--to", pg_url, "--invalid-text", "bytea", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert {t["name"]: t["columns"]["body" if t["name"] == "notes" else "k"] for t in report["tables"]} == {
        "notes": "bytea", "keyed": "bytea"}
    assert {(item["type"], item["name"]) for item in report["untranslated"]} == {("column", "notes.body"),
                                                                                ("column", "keyed.k")}
    assert query(pg_url, "SELECT id, body, n FROM notes ORDER BY id") == [
        (1, "plain ä".encode(), 1), (2, b"a\xffb", 2), (3, b"a\x00b", 3), (4, None, 4), (5, b"42", 5)]
    assert query(pg_url, "SELECT k, v FROM keyed ORDER BY v") == [(b"k\xc0", "x"), (b"fine", "y")]


def test_invalid_text_replace_puts_u_fffd_for_invalid_bytes_and_nul(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "text.db"
    make_text_source(source)
    result = run_cli("migrate", str(source), "--to", pg_url, "--invalid-text", "replace", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert all(t["status"] == "copied" for t in report["tables"])
    assert query(pg_url, "SELECT id, body, n FROM notes ORDER BY id") == [
        (1, "plain ä", 1), (2, "a\ufffdb", 2), (3, "a\ufffdb", 3), (4, None, 4), (5, "42", 5)]
    assert query(pg_url, "SELECT k FROM keyed ORDER BY v") == [("k\ufffd",), ("fine",)]


def test_a_rerun_after_the_source_changed_names_the_tables_and_restart_copies_them_again(
        tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "grow.db"
    connection = apsw.Connection(str(source))
    connection.execute("CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT); "
                       "CREATE TABLE child(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id)); "
                       "CREATE TABLE still(id INTEGER PRIMARY KEY)")
    with connection:
        connection.executemany("INSERT INTO parent(name) VALUES (?)", [(f"p{i}",) for i in range(20)])
        connection.executemany("INSERT INTO child(parent) VALUES (?)", [(i % 20 + 1,) for i in range(40)])
        connection.executemany("INSERT INTO still VALUES (?)", [(i,) for i in range(5)])
    first = run_cli("migrate", str(source), "--to", pg_url, "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    with connection:
        connection.executemany("INSERT INTO parent(name) VALUES (?)", [(f"new{i}",) for i in range(7)])
        connection.execute("DELETE FROM child WHERE id = 1")
        connection.execute("INSERT INTO child(parent) VALUES (21)")  # same count, a new largest rowid
    changed = run_cli("migrate", str(source), "--to", pg_url)
    assert changed.returncode == 1 and "Traceback" not in changed.stderr
    assert ("parent: FAILED, not copied: the source changed: 20 rows when it was copied, 27 now; "
            "--restart parent (or --restart all) drops the copy and copies it again") in changed.stdout
    assert "child: FAILED, not copied: the source changed: its definition or largest rowid changed" in changed.stdout
    assert "still: 5 rows (already copied and verified)" in changed.stdout
    assert query(pg_url, "SELECT count(*) FROM parent")[0][0] == 20  # left as it was

    restarted = run_cli("migrate", str(source), "--to", pg_url, "--restart", "all", "--json")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    report = json.loads(restarted.stdout)
    assert {t["name"]: t["status"] for t in report["tables"]} == {"parent": "copied", "child": "copied",
                                                                  "still": "skipped"}
    source_counts = [connection.execute(f"SELECT count(*), sum(id) FROM {t}").fetchone() for t in ("parent", "child")]
    assert [query(pg_url, f"SELECT count(*), sum(id) FROM {t}")[0] for t in ("parent", "child")] == [
        tuple(c) for c in source_counts]
    assert query(pg_url, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'")[0][0] == 1  # the key added again
    again = run_cli("migrate", str(source), "--to", pg_url)
    assert again.returncode == 0, again.stdout
    named = run_cli("migrate", str(source), "--to", pg_url, "--restart", "still", "--json")
    assert [t["status"] for t in json.loads(named.stdout)["tables"]] == ["skipped", "skipped", "copied"]
    assert run_cli("migrate", str(source), "--to", pg_url, "--restart", "nope").returncode != 0
    connection.close()


def test_restart_never_drops_a_table_migrate_did_not_create(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "theirs.db"
    connection = apsw.Connection(str(source))
    connection.execute("CREATE TABLE mine(id INTEGER PRIMARY KEY); INSERT INTO mine VALUES (1)")
    connection.close()
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute("CREATE TABLE mine(x int); INSERT INTO mine VALUES (7)")
    result = run_cli("migrate", str(source), "--to", pg_url, "--restart", "mine")
    assert result.returncode == 1
    assert "mine: FAILED, not copied: mine already exists in schema public and was not copied" in result.stdout
    assert query(pg_url, "SELECT x FROM mine") == [(7,)]


WRITER = r"""
import json, sys, time, apsw, pathlib
db = apsw.Connection(sys.argv[1])
db.setbusytimeout(5000)
stop = pathlib.Path(sys.argv[2])
waits, errors = [], []
while not stop.exists():
    started = time.perf_counter()
    try:
        db.execute("BEGIN IMMEDIATE; INSERT INTO log(at) VALUES (?); COMMIT", (time.time(),))
    except apsw.Error as exc:
        errors.append(str(exc))
        if not db.getautocommit():
            db.execute("ROLLBACK")
    waits.append(time.perf_counter() - started)
    time.sleep(0.05)
print(json.dumps({"commits": len(waits), "max_wait": max(waits), "errors": errors}))
"""


def test_a_rollback_journal_source_is_read_from_a_snapshot_so_its_writer_keeps_committing(
        tmp_path: Path, pg_url: str) -> None:
    import subprocess
    import sys
    import tempfile
    import time

    from desktop_app.core.postgres.migrate import Migration

    source = tmp_path / "busy.db"
    connection = apsw.Connection(str(source))
    assert connection.execute("PRAGMA journal_mode=delete").fetchone()[0] == "delete"
    connection.execute("CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, v REAL); CREATE TABLE log(at REAL)")
    with connection:
        connection.executemany("INSERT INTO big(name, v) VALUES (?, ?)",
                               ((f"name {i}", i / 3) for i in range(600_000)))
    connection.close()
    before = set(Path(tempfile.gettempdir()).glob("pulse-migrate-*"))
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # the writer is committing
        started = time.perf_counter()
        result = Migration(source, pg_url, batch_rows=5000).run()
        took = time.perf_counter() - started
        time.sleep(0.2)
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=30)
    report = json.loads(out)
    assert result.snapshot and result.verified
    assert {t.name: t.rows for t in result.tables}["big"] == 600_000
    assert took > 0.5, "the migrate must run long enough to overlap the writer's commits"
    assert report["errors"] == []
    assert report["commits"] >= 10
    assert report["max_wait"] < 0.5, report  # without the snapshot: the whole run (> 0.8 s)
    assert set(Path(tempfile.gettempdir()).glob("pulse-migrate-*")) == before  # the snapshot is removed
