"""PostgreSQL against a real throwaway server (tests/postgres_server.py): the ingest sink, migrate, passwords.

These tests fail, not skip, when the server cannot start: PostgreSQL is part of the README's setup."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import apsw
import psycopg
import pytest

from desktop_app.core.ingest.mapping import MessageMapper
from desktop_app.core.ingest.writer import BatchWriter, WriterConfig
from desktop_app.core.postgres.migrate import MigrateCancelled, Migration
from desktop_app.core.postgres.sink import PostgresSink
from desktop_app.core.postgres.url import PostgresUnavailable, connect, mask_url
from tests.postgres_server import SECRET_PASSWORD, SECRET_USER


def run_cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_app", *argv], capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql, params).fetchall()


def wait_for(condition, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- ingest --------------------------------------------------------------------------------------------------

def test_ingest_file_lands_in_postgres_with_the_counts_the_json_reports(tmp_path: Path, pg_url: str) -> None:
    stream = tmp_path / "demo.ndjson"
    made = run_cli("demo-server", "--to-file", str(stream), "--count", "5000", "--malformed-every", "50")
    assert made.returncode == 0, made.stderr
    result = run_cli("ingest-file", str(stream), "--db", pg_url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["received"] == 5000 == report["written"] + report["dead_letters"]
    assert report["dead_letters"] > 0
    assert query(pg_url, "SELECT count(*), count(DISTINCT seq) FROM readings")[0] == (report["written"],) * 2
    assert query(pg_url, "SELECT count(*) FROM pulse_dead_letters")[0][0] == report["dead_letters"]
    ledger = query(pg_url, "SELECT sum(rows), sum(dead_letters) FROM pulse_ingest_batches")[0]
    assert ledger == (report["written"], report["dead_letters"])
    reasons = {reason for (reason,) in query(pg_url, "SELECT reason FROM pulse_dead_letters")}
    assert any("is not a number (column temperature)" in reason for reason in reasons)


def message(seq: int, temperature: object = 20.5) -> str:
    return json.dumps({"device_id": f"dev-{seq % 3}", "seq": seq, "temperature": temperature})


def test_a_server_restart_mid_stream_loses_nothing_and_doubles_nothing(postgres_server, pg_url: str) -> None:
    mapper = MessageMapper("readings")
    writer = BatchWriter(PostgresSink(pg_url, mapper), mapper, WriterConfig(batch_rows=200, batch_ms=5,
                                                                           retry_interval_s=0.05))
    writer.start()
    seq = 0

    def send(count: int) -> None:
        nonlocal seq
        chunk = [message(seq + i, "warm" if (seq + i) % 97 == 0 else 20.5) for i in range(count)]
        assert writer.submit((time.time(), chunk), force=True)
        seq += count

    for _ in range(5):
        send(100)
    wait_for(lambda: writer.stats().written + writer.stats().dead_letters == 500, what="first rows")
    postgres_server.restart()  # immediate shutdown: the writer's connection dies without notice
    for _ in range(10):
        send(100)
    stats = writer.stop(timeout=60)
    assert stats.unwritten == 0 and stats.state == "stopped", stats
    assert stats.written + stats.dead_letters == seq == 1500
    rows = query(pg_url, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM readings")[0]
    dead = query(pg_url, "SELECT count(*) FROM pulse_dead_letters")[0][0]
    assert rows[0] == rows[1] == stats.written  # nothing doubled
    assert rows[0] + dead == 1500  # nothing lost
    assert dead == stats.dead_letters == len([s for s in range(1500) if s % 97 == 0])


def test_a_retried_batch_whose_commit_landed_is_not_written_again(pg_url: str) -> None:
    mapper = MessageMapper("readings")
    sink = PostgresSink(pg_url, mapper)
    sink.open()
    try:
        batch = mapper.map_batch([(time.time(), [message(i) for i in range(10)])])
        sink.prepare(mapper.settle(sink.existing_columns("readings"), batch))
        mapper.finish(batch)
        sink.write_batch(batch, time.time())
        sink.write_batch(batch, time.time())  # the same batch again: as after a commit cut off mid-reply
    finally:
        sink.close()
    assert query(pg_url, "SELECT count(*) FROM readings")[0][0] == 10
    assert query(pg_url, "SELECT count(*) FROM pulse_ingest_batches")[0][0] == 1


def test_a_read_only_server_pauses_the_writer_with_the_reason_until_it_takes_writes(postgres_server, pg_url: str) -> None:
    database = pg_url.rsplit("/", 1)[1]
    mapper = MessageMapper("readings")
    writer = BatchWriter(PostgresSink(pg_url, mapper), mapper, WriterConfig(batch_rows=50, batch_ms=5,
                                                                           retry_interval_s=0.05))
    writer.start()
    try:
        writer.submit((time.time(), [message(i) for i in range(50)]), force=True)
        wait_for(lambda: writer.stats().written == 50, what="first batch")
        postgres_server.sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        postgres_server.sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )  # new sessions pick the setting up
        writer.submit((time.time(), [message(i) for i in range(50, 100)]), force=True)
        wait_for(lambda: "read-only" in (writer.stats().pause_reason or ""), what="a read-only pause")
        assert writer.stats().state == "paused"
        postgres_server.sql(f'ALTER DATABASE "{database}" SET default_transaction_read_only = off')
        postgres_server.sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        wait_for(lambda: writer.stats().written == 100, what="writes to resume")
    finally:
        stats = writer.stop(timeout=30)
    assert stats.unwritten == 0
    assert query(pg_url, "SELECT count(*), count(DISTINCT seq) FROM readings")[0] == (100, 100)


# -- migrate -------------------------------------------------------------------------------------------------

def make_source(path: Path, order_rows: int = 5000) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=wal").fetchall()
    connection.execute('''
        CREATE TABLE "Order Details"(OrderID INTEGER NOT NULL, ProductID INTEGER NOT NULL, UnitPrice REAL,
            Quantity INTEGER, "Note ""quoted""" TEXT, PRIMARY KEY (OrderID, ProductID));
        CREATE INDEX "od by product" ON "Order Details"(ProductID);
        CREATE TABLE kv(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
        CREATE TABLE anything(id INTEGER PRIMARY KEY, val, "ünïcode" TEXT);
        CREATE VIEW dialect_view AS SELECT ifnull(val, 0) AS v FROM anything;
        CREATE TRIGGER kv_touch AFTER INSERT ON kv BEGIN SELECT 1; END;
    ''')
    with connection:
        connection.executemany(
            'INSERT INTO "Order Details" VALUES (?, ?, ?, ?, ?)',
            [(i // 5, i % 5, i * 0.25, i % 7 or None, f"n\t{i}\\" if i % 4 else None) for i in range(order_rows)],
        )
        connection.executemany("INSERT INTO kv VALUES (?, ?)", [(f"key {i}", bytes([i % 256, 0])) for i in range(300)])
        connection.executemany("INSERT INTO anything(val, \"ünïcode\") VALUES (?, ?)",
                               [(1, "ä"), (2.5, None), ("text", "é"), (b"\x00\xff", None), (None, "ø")])
    connection.close()


def text_hash(values) -> str:
    return hashlib.sha256("\x1f".join("\x00" if v is None else v for v in values).encode()).hexdigest()


def test_migrate_copies_types_keys_and_names_and_lists_what_it_cannot_translate(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "shop.db"
    make_source(source)
    result = run_cli("migrate", str(source), "--to", pg_url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {t["name"]: t["rows"] for t in report["tables"]} == {"Order Details": 5000, "kv": 300, "anything": 5}
    assert report["verified"] is True
    listed = {(item["type"], item["name"]) for item in report["untranslated"]}
    assert listed == {("view", "dialect_view"), ("trigger", "kv_touch")}
    columns = {t["name"]: t["columns"] for t in report["tables"]}
    assert columns["Order Details"]["UnitPrice"] == "double precision"
    assert columns["anything"] == {"id": "bigint", "val": "bytea", "ünïcode": "text"}
    source_db = apsw.Connection(str(source))
    for sql in ('SELECT count(*), sum("OrderID"), sum("UnitPrice"), count("Quantity") FROM "Order Details"',
                'SELECT count(*) FROM kv'):
        assert query(pg_url, sql)[0] == tuple(source_db.execute(sql).fetchone())
    note = '"Note ""quoted"""'
    ordered = f'SELECT {note} FROM "Order Details" ORDER BY "OrderID", "ProductID"'
    assert text_hash(v for (v,) in query(pg_url, ordered)) == text_hash(v for (v,) in source_db.execute(ordered))
    assert query(pg_url, "SELECT v FROM kv WHERE k = 'key 3'")[0][0] == b"\x03\x00"
    assert query(pg_url, "SELECT val FROM anything ORDER BY id") == [(b"1",), (b"2.5",), (b"text",), (b"\x00\xff",), (None,)]
    keys = query(pg_url, "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace ORDER BY 1")
    assert keys == [('"Order Details"', 'PRIMARY KEY ("OrderID", "ProductID")'), ("anything", "PRIMARY KEY (id)"),
                    ("kv", "PRIMARY KEY (k)"), ("pulse_migrations", "PRIMARY KEY (source, table_name)")]
    assert query(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname = 'od by product'") == [("od by product",)]
    assert query(pg_url, "SELECT is_nullable FROM information_schema.columns WHERE column_name = 'ProductID'") == [("NO",)]


def test_a_cancelled_migrate_resumes_skipping_tables_already_copied_and_verified(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "shop.db"
    make_source(source, order_rows=3000)
    seen: list[tuple[str, int]] = []

    def cancel_in_second_table(table: str, done: int, total: int) -> None:
        seen.append((table, done))
        if table == "anything" and done > 0:
            migration.cancel()

    migration = Migration(source, pg_url, batch_rows=2, on_progress=cancel_in_second_table, schema="copy")
    with pytest.raises(MigrateCancelled):
        migration.run()
    assert ("Order Details", 3000) in seen
    assert query(pg_url, "SELECT to_regclass('copy.anything')")[0][0] is None  # rolled back whole
    assert query(pg_url, 'SELECT count(*) FROM copy."Order Details"')[0][0] == 3000
    result = Migration(source, pg_url, schema="copy").run()
    assert {t.name: t.status for t in result.tables} == {"Order Details": "skipped", "anything": "copied", "kv": "copied"}
    assert query(pg_url, "SELECT count(*) FROM copy.anything")[0][0] == 5
    assert result.verified


def test_closing_the_database_cancels_its_copy_to_postgres_and_leaves_no_thread(tmp_path: Path, pg_url: str) -> None:
    import asyncio
    import threading

    from desktop_app.core.session import Session
    from tests.scenarios import run_bounded

    source = tmp_path / "shop.db"
    make_source(source, order_rows=200_000)  # ten batches: the copy is still running when the window closes
    progress: list[tuple[str, int]] = []

    async def scenario() -> None:
        session = await Session.open(source)
        job = session.copy_to_postgres(pg_url, schema="closed", progress=lambda t, d, n: progress.append((t, d)))
        deadline = asyncio.get_running_loop().time() + 30
        while not any(done for _, done in progress) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)
        assert progress, "the copy never started"
        await session.close()  # the copy is the session's: closing cancels it and waits for its thread
        assert job.done()
        with pytest.raises(MigrateCancelled):
            await job

    run_bounded(scenario(), 60)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("pulse-")]
    assert query(pg_url, 'SELECT to_regclass(\'closed."Order Details"\')')[0][0] is None  # rolled back whole

    # Not cancelled, the same copy completes, its progress on the loop thread.
    async def complete() -> None:
        session = await Session.open(source)
        threads: set[str] = set()
        result = await session.copy_to_postgres(
            pg_url, schema="closed", progress=lambda *_: threads.add(threading.current_thread().name)
        )
        await session.close()
        assert result.verified and threads == {threading.main_thread().name}

    run_bounded(complete(), 60)


# -- passwords and TLS ---------------------------------------------------------------------------------------

def test_mask_url_hides_passwords() -> None:
    assert mask_url("postgresql://bob:hunter2@db:5432/app?sslmode=require") == \
        "postgresql://bob:***@db:5432/app?sslmode=require"
    assert mask_url("postgres://db/app?password=hunter2&sslmode=disable") == \
        "postgres://db/app?password=***"  # an & in a password cannot be told from the next parameter
    assert mask_url("postgresql://bob@db/app") == "postgresql://bob@db/app"


def test_passwords_come_from_pgpassword_and_never_reach_the_output(tmp_path: Path, postgres_server) -> None:
    database = postgres_server.new_database("secret")
    postgres_server.sql(f'ALTER DATABASE "{database}" OWNER TO {SECRET_USER}')
    url = postgres_server.url(database, user=SECRET_USER)
    with pytest.raises(PostgresUnavailable, match="password"):
        connect(url)  # no PGPASSWORD, no .pgpass: refused with a plain message
    source = tmp_path / "small.db"
    make_source(source, order_rows=50)
    env = dict(os.environ, PGPASSWORD=SECRET_PASSWORD)
    result = run_cli("migrate", str(source), "--to", url, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert SECRET_PASSWORD not in result.stdout + result.stderr
    # A password in the URL works, and is masked in everything we print.
    with_password = url.replace(f"{SECRET_USER}@", f"{SECRET_USER}:{SECRET_PASSWORD}@")
    stream = tmp_path / "s.ndjson"
    run_cli("demo-server", "--to-file", str(stream), "--count", "100")
    result = run_cli("ingest-file", str(stream), "--db", with_password, "--json")
    assert result.returncode == 0, result.stderr
    assert SECRET_PASSWORD not in result.stdout + result.stderr
    assert "process list" in result.stderr  # the note that PGPASSWORD or .pgpass is the better place
    wrong = url.replace(f"{SECRET_USER}@", f"{SECRET_USER}:wrong-{SECRET_PASSWORD}@")
    result = run_cli("migrate", str(source), "--to", wrong)
    assert result.returncode != 0 and "password authentication failed" in result.stderr
    assert SECRET_PASSWORD not in result.stdout + result.stderr


def test_sslmode_from_the_url_is_honoured(pg_url: str) -> None:
    with pytest.raises(PostgresUnavailable, match="SSL"):
        connect(pg_url + "?sslmode=require")  # the test server has no TLS: libpq must refuse, not fall back
    connect(pg_url + "?sslmode=disable").close()
