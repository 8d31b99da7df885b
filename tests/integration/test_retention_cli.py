"""Retention as a user runs it: ingest-file and ingest with --retain-rows (exact count, the ledger reconciling),
the file's size settling once the table is full (freed pages reused), and the trim verb."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from desktop_app.core.demo import spawn_demo_server
from tests.integration.test_ingest_cli import PULSE, last_json, pulse
from tests.scenarios import rows

LEDGER = "SELECT coalesce(sum(rows) - sum(trimmed), 0), coalesce(sum(trimmed), 0) FROM pulse_ingest_batches"


def test_ingest_file_keeps_exactly_the_last_rows_and_reconciles(tmp_path: Path) -> None:
    recording = tmp_path / "demo.ndjson"
    assert pulse("demo-server", "--to-file", str(recording), "--count", "30000", "--malformed-every", "100").returncode == 0
    db = tmp_path / "kept.db"
    completed = pulse("ingest-file", str(recording), "--db", str(db), "--retain-rows", "1000", "--json")
    assert completed.returncode == 0, completed.stderr
    stats = last_json(completed.stdout)
    assert (stats["written"], stats["dead_letters"]) == (29_700, 300)
    assert stats["trimmed"] == 28_700  # the final JSON reconciles too: written - trimmed = rows left
    assert rows(db, "SELECT count(*), max(seq) FROM readings") == [(1000, 29_700)]  # malformed ones carry no seq
    assert rows(db, LEDGER) == [(1000, 28_700)]


def test_ingest_keeps_the_last_rows_of_a_live_stream(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    with spawn_demo_server(count=20_000) as server:
        completed = pulse("ingest", server.url, "--db", str(db), "--max-messages", "20000", "--retain-rows", "1000",
                          "--json")
    assert completed.returncode == 0, completed.stderr
    assert last_json(completed.stdout)["written"] == 20_000
    assert rows(db, "SELECT count(*) FROM readings") == [(1000,)]
    assert rows(db, LEDGER)[0] == (1000, 19_000)


def _wait_trimmed(db: Path, process: subprocess.Popen, at_least: int, deadline: float) -> None:
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if rows(db, LEDGER)[0][1] >= at_least:
                return
        except Exception:  # noqa: BLE001 (no file or no ledger yet: the first batch is on its way)
            pass
        assert time.monotonic() < deadline, "the ingest did not trim that many rows in time"
        time.sleep(0.05)


def test_the_file_stops_growing_once_the_table_is_full(tmp_path: Path) -> None:
    db = tmp_path / "steady.db"
    keep = 20_000
    with spawn_demo_server() as server:
        process = subprocess.Popen(
            [*PULSE, "ingest", server.url, "--db", str(db), "--retain-rows", str(keep), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 120
            _wait_trimmed(db, process, 2 * keep, deadline)  # full, then as much again replaced
            settled = os.stat(db).st_size + os.stat(f"{db}-wal").st_size
            _wait_trimmed(db, process, 12 * keep, deadline)  # ten table-fulls later
            later = os.stat(db).st_size + os.stat(f"{db}-wal").st_size
            process.terminate()
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0, stderr
    assert later <= settled * 1.10, (settled, later)
    assert rows(db, "SELECT count(*) FROM readings") == [(keep,)]
    assert rows(db, LEDGER)[0][0] == keep


def test_trim_verb(tmp_path: Path) -> None:
    recording = tmp_path / "demo.ndjson"
    assert pulse("demo-server", "--to-file", str(recording), "--count", "5000").returncode == 0
    db = tmp_path / "t.db"
    assert pulse("ingest-file", str(recording), "--db", str(db)).returncode == 0
    dry = pulse("trim", str(db), "--table", "readings", "--keep-rows", "1000", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert last_json(dry.stdout)["deleted"] == 4000 and rows(db, "SELECT count(*) FROM readings") == [(5000,)]
    done = pulse("trim", str(db), "--table", "readings", "--keep-rows", "1000", "--chunk", "1500")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("readings: deleted 4,000 of 5,000 rows (keeping 1,000)") and "freelist" in done.stdout
    assert rows(db, "SELECT count(*), min(seq) FROM readings") == [(1000, 4001)]
    by_time = pulse("trim", str(db), "--table", "readings", "--keep-for", "1h", "--time-column", "ts", "--json")
    assert by_time.returncode == 0 and last_json(by_time.stdout)["deleted"] == 0  # the demo's ts is now
    for args, words in (
        (["--table", "nope", "--keep-rows", "1"], "no table nope"),
        (["--table", "readings"], "Say what to keep"),
        (["--table", "readings", "--keep-for", "7x"], "not a duration"),
        (["--table", "readings", "--keep-for", "1h"], "no column received_at"),
    ):
        failed = pulse("trim", str(db), *args)
        assert failed.returncode == 2 and words in failed.stderr, (args, failed.stderr)
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
