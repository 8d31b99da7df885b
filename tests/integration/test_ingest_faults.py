"""Ingest under faults, with real servers and real files: another process holding the write lock, a full
disk (PRAGMA max_page_count), a server that drops and sends garbage, and SIGKILL of the ingest process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw

from desktop_app.core.database import create_database
from desktop_app.core.demo import DemoServer, spawn_demo_server
from desktop_app.core.ingest import IngestConfig, IngestSession
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE
from desktop_app.core.maintenance import integrity_check
from tests.scenarios import rows, run_bounded
from tests.scenarios import wait_for as wait_until

SCENARIO_TIMEOUT_S = 90.0
HOLD_LOCK = """
import sys, time, apsw
connection = apsw.Connection(sys.argv[1])
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""


def run(scenario) -> object:
    return run_bounded(scenario, SCENARIO_TIMEOUT_S)


async def wait_for(condition, timeout: float = 30.0) -> None:
    await wait_until(condition, timeout)


def assert_contiguous(path: Path, count: int) -> None:
    assert rows(path, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM readings") == [
        (count, count, 1, count)
    ]


def test_another_process_holding_the_write_lock_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "locked.db"
    create_database(db)
    total = 4000

    async def scenario():
        async with DemoServer(rate=2000) as server:
            session = IngestSession(IngestConfig(url=server.url, db_path=db, max_messages=total))
            task = asyncio.ensure_future(session.run())
            await wait_for(lambda: session.stats().written > 0)
            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-c", HOLD_LOCK, str(db), "2.0", stdout=asyncio.subprocess.PIPE
            )
            assert (await holder.stdout.readline()).strip() == b"locked"
            await wait_for(lambda: session.stats().state == "paused")
            paused = session.stats()
            assert "locked" in paused.pause_reason and str(holder.pid) in paused.pause_reason
            await holder.wait()
            assert holder.returncode == 0
            return paused, await task

    paused, stats = run(scenario())
    assert paused.queue_depth > 0  # messages kept arriving while the database was locked
    assert (stats.received, stats.written, stats.dead_letters, stats.unwritten) == (total, total, 0, 0)
    assert_contiguous(db, total)


def test_a_full_disk_pauses_then_everything_lands_once_space_frees(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    create_database(db)
    total = 3000

    async def scenario():
        async with DemoServer(rate=4000) as server:
            # 12 pages of 8 KiB: the tables fit, a few batches fit, then SQLITE_FULL.
            config = IngestConfig(url=server.url, db_path=db, max_messages=total, max_page_count=12)
            session = IngestSession(config)
            task = asyncio.ensure_future(session.run())
            await wait_for(lambda: session.stats().state == "paused")
            paused = session.stats()
            await wait_for(lambda: session.stats().received >= total)  # all received, not all written
            session.set_max_page_count(None)  # space frees
            return paused, await task

    paused, stats = run(scenario())
    assert "full" in paused.pause_reason and "Unwritten messages are kept" in paused.pause_reason
    assert paused.written < total
    assert (stats.written, stats.dead_letters, stats.unwritten, stats.state) == (total, 0, 0, "stopped")
    assert stats.pause_reason is None
    assert_contiguous(db, total)


def test_cli_ingest_reconciles_drops_and_malformed_messages(tmp_path: Path) -> None:
    db = tmp_path / "faulty.db"
    with spawn_demo_server(count=3000, drop_every=1000, malformed_every=50) as server:
        completed = subprocess.run(
            [sys.executable, "-m", "desktop_app", "ingest", server.url, "--db", str(db), "--max-messages", "2998",
             "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert completed.returncode == 0, completed.stderr
    stats = json.loads(completed.stdout.strip().splitlines()[-1])
    assert stats["received"] == 2998 == stats["written"] + stats["dead_letters"]
    assert (stats["reconnects"], stats["gaps"], stats["missing"]) == (2, 2, 2)
    # Frames 50, 100, ... are malformed; the drops lose frames 1001 and 2002 (readings, not malformed).
    assert stats["dead_letters"] == 60
    assert rows(db, f"SELECT count(*) FROM {DEAD_LETTER_TABLE}") == [(60,)]
    assert rows(db, "SELECT count(*) FROM readings") == [(stats["written"],)]


def test_sigkill_mid_run_leaves_a_sound_database_with_whole_batches(tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    batch_rows = 500
    with spawn_demo_server(rate=20_000) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "ingest", server.url, "--db", str(db), "--batch-rows",
             str(batch_rows), "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not _batches(db) >= 6:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait(10)
    assert process.returncode == -signal.SIGKILL
    assert integrity_check(db).ok
    connection = apsw.Connection(str(db))
    try:
        ledger = connection.execute(f"SELECT rows, first_seq, last_seq FROM {BATCH_LEDGER_TABLE}").fetchall()
        (present,) = connection.execute("SELECT count(*) FROM readings").fetchone()
        assert present == sum(rows for rows, _first, _last in ledger) > 0
        # Each committed batch is present in full: the rows of its seq range, no more, no less.
        for rows, first, last in ledger:
            (in_range,) = connection.execute(
                "SELECT count(*) FROM readings WHERE seq BETWEEN ? AND ?", (first, last)
            ).fetchone()
            assert in_range == rows == last - first + 1
    finally:
        connection.close()
    assert_contiguous(db, present)


def _batches(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return rows(db, f"SELECT count(*) FROM {BATCH_LEDGER_TABLE}")[0][0]
    except Exception:  # not created yet, or the file is still being set up
        return 0
