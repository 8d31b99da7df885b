"""A WAL source is read directly, in one read transaction for the whole run: a writer holding its write
transaction at the start, then committing throughout the copy, is neither blocked nor seen half-way.

Against the throwaway server of tests/postgres_server.py (`pg_url`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import apsw

from desktop_app.core.postgres.migrate import Migration
from tests.integration.test_postgres import query, wait_for

# Commits one row into each of a_log and z_log per transaction (n = 0, 1, 2, ...): 20 of them, then holds a
# write transaction (rows -1) until told to let go, then goes on until told to stop; prints its commits and
# the longest a commit waited.
WRITER = r"""
import json, sys, time, apsw, pathlib
db = apsw.Connection(sys.argv[1])
db.setbusytimeout(5000)
folder = pathlib.Path(sys.argv[2])
waits, errors, n = [], [], 0


def commit():
    global n
    started = time.perf_counter()
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO a_log VALUES (?)", (n,))
        db.execute("INSERT INTO z_log VALUES (?)", (n,))
        db.execute("COMMIT")
        n += 1
    except apsw.Error as exc:
        errors.append(str(exc))
        if not db.getautocommit():
            db.execute("ROLLBACK")
    waits.append(time.perf_counter() - started)


for _ in range(20):
    commit()
db.execute("BEGIN IMMEDIATE; INSERT INTO a_log VALUES (-1); INSERT INTO z_log VALUES (-1)")
(folder / "holding").touch()
while not (folder / "release").exists():
    time.sleep(0.002)
db.execute("COMMIT")
while not (folder / "stop").exists():
    commit()
    time.sleep(0.01)
print(json.dumps({"commits": n, "max_wait": max(waits), "errors": errors}))
"""


def test_a_busy_wal_source_is_copied_as_of_one_moment_without_blocking_its_writer(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "busy.db"
    connection = apsw.Connection(str(source))
    assert connection.execute("PRAGMA journal_mode=wal").fetchone()[0] == "wal"
    connection.execute("CREATE TABLE a_log(n INTEGER); CREATE TABLE m_big(id INTEGER PRIMARY KEY, name TEXT, v REAL); "
                       "CREATE TABLE z_log(n INTEGER)")
    with connection:  # copied between a_log and z_log: the writer commits many times meanwhile
        connection.executemany("INSERT INTO m_big(name, v) VALUES (?, ?)", ((f"name {i}", i / 3) for i in range(400_000)))
    connection.close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        wait_for((tmp_path / "holding").exists, what="the writer's open write transaction")

        def let_go_once_the_copy_reads(table: str, done: int, total: int) -> None:
            (tmp_path / "release").touch()  # the first progress comes after the read transaction began

        started = time.perf_counter()
        result = Migration(source, pg_url, batch_rows=5000, on_progress=let_go_once_the_copy_reads).run()
        took = time.perf_counter() - started
    finally:
        (tmp_path / "release").touch()
        (tmp_path / "stop").touch()
        out, _ = writer.communicate(timeout=30)
    report = json.loads(out)
    assert not result.snapshot and result.verified
    first = [n for (n,) in query(pg_url, "SELECT n FROM a_log ORDER BY n")]
    last = [n for (n,) in query(pg_url, "SELECT n FROM z_log ORDER BY n")]
    # One moment: the 20 commits made before the copy began, in the first table copied and in the last; not
    # the rows of the transaction open then, nor any of the commits made while the copy ran.
    assert first == last == list(range(20))
    assert report["errors"] == []
    assert report["commits"] - 20 >= 10, (report, took)  # commits made during the copy
    assert report["max_wait"] < 0.5, report  # nothing waited for the copy (it took `took` seconds)
