"""The streaming verbs as a user runs them: demo-server, ingest (--json, SIGTERM), ingest-file, bench ingest."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from desktop_app.core.demo import READY_PREFIX, spawn_demo_server
from tests.scenarios import rows

PULSE = [sys.executable, "-m", "desktop_app"]
SUMMARY_KEYS = {"received", "written", "dead_letters", "reconnects", "gaps", "seconds", "rows_per_s"}


def pulse(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PULSE, *args], capture_output=True, text=True, timeout=timeout)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def count_rows(db: Path) -> int:
    return rows(db, "SELECT count(*) FROM readings")[0][0]


def test_ingest_json_summary(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    with spawn_demo_server(count=5000) as server:
        completed = pulse("ingest", server.url, "--db", str(db), "--max-messages", "5000", "--json")
    assert completed.returncode == 0, completed.stderr
    stats = last_json(completed.stdout)
    assert stats.keys() >= SUMMARY_KEYS
    assert (stats["received"], stats["written"], stats["dead_letters"], stats["gaps"]) == (5000, 5000, 0, 0)
    assert stats["rows_per_s"] > 0 and stats["seconds"] > 0
    assert count_rows(db) == 5000


def test_ingest_plain_summary_and_raw_mode(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    with spawn_demo_server(count=300) as server:
        completed = pulse("ingest", server.url, "--db", str(db), "--raw", "--table", "feed", "--max-messages", "300")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("received 300  written 300  dead letters 0")
    assert rows(db, "SELECT count(*) FROM feed WHERE json_valid(payload)") == [(300,)]


def test_sigterm_stops_cleanly_and_flushes(tmp_path: Path) -> None:
    db = tmp_path / "term.db"
    with spawn_demo_server(rate=5000) as server:
        process = _ingest_with_rows(server.url, db)
        try:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0, stderr
    stats = last_json(stdout)
    assert stats["state"] == "stopped" and stats["queue_depth"] == 0
    assert stats["received"] == stats["written"] + stats["dead_letters"] > 0
    assert count_rows(db) == stats["written"]


def _ingest_with_rows(url: str, db: Path, *extra: str) -> subprocess.Popen:
    """`ingest URL --db DB --json` in a child, returned once it has written rows (killed if it never does)."""
    process = subprocess.Popen(
        [*PULSE, "ingest", url, "--db", str(db), "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (db.exists() and _rows_or_zero(db) > 0):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
    except BaseException:
        process.kill()
        raise
    return process


def _rows_or_zero(db: Path) -> int:
    try:
        return count_rows(db)
    except Exception:  # the table does not exist until the first batch
        return 0


def test_recorded_file_replays_through_ingest_file(tmp_path: Path) -> None:
    recording = tmp_path / "demo.ndjson"
    recorded = pulse("demo-server", "--to-file", str(recording), "--count", "1500", "--malformed-every", "100")
    assert recorded.returncode == 0, recorded.stderr
    db = tmp_path / "replay.db"
    completed = pulse("ingest-file", str(recording), "--db", str(db), "--json")
    assert completed.returncode == 0, completed.stderr
    stats = last_json(completed.stdout)
    assert (stats["received"], stats["written"], stats["dead_letters"]) == (1500, 1485, 15)
    assert count_rows(db) == 1485


def test_problems_are_one_line_errors(tmp_path: Path) -> None:
    bad_url = pulse("ingest", "http://example.org", "--db", str(tmp_path / "x.db"))
    assert bad_url.returncode == 2 and "not a WebSocket URL" in bad_url.stderr
    assert "Traceback" not in bad_url.stderr
    bad_table = pulse("ingest-file", "/dev/null", "--db", str(tmp_path / "x.db"), "--table", "sqlite_x")
    assert bad_table.returncode == 2 and "cannot be an ingest table name" in bad_table.stderr
    with spawn_demo_server() as server:
        port = server.url.rsplit(":", 1)[1]
        taken = pulse("demo-server", "--port", port)
    assert taken.returncode == 2 and "cannot listen" in taken.stderr and "Traceback" not in taken.stderr


def test_demo_server_verb_announces_its_url() -> None:
    process = subprocess.Popen(
        [*PULSE, "demo-server", "--port", "0", "--count", "10"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(READY_PREFIX + "ws://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.stdout.close()


def test_bench_ingest_reports_both_ratios() -> None:
    completed = pulse("bench", "ingest", "--messages", "3000", "--naive-messages", "40", "--json", timeout=170)
    assert completed.returncode == 0, completed.stderr
    result = last_json(completed.stdout)
    assert result["written"] == 3000 and result["dead_letters"] == 0
    assert result["ratio_vs_naive"] > 0 and result["ratio_vs_receive"] > 0 and result["peak_rss_mb"] > 0
    assert result["receive_stream"]["messages"] == result["receive"]["messages"] == result["hand_rolled"]["messages"] > 0
    assert result["ratio_vs_hand_rolled"] > 0
    assert any(line.startswith("ratio_vs_naive ") for line in completed.stdout.splitlines())
    assert pulse("bench").returncode == 2  # a sub-benchmark must be named


def test_every_bad_flag_is_one_line_and_exit_2(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    for args in (
        ["ws://127.0.0.1:9", "--db", db, "--batch-ms", "500"],
        ["ws://127.0.0.1:9", "--db", db, "--batch-rows", "0"],
        ["ws://127.0.0.1:9", "--db", db, "--max-message-bytes", "0"],
        ["ws://127.0.0.1:9", "--db", db, "--flush-timeout", "-1"],
        ["ws://127.0.0.1:9", "--db", db, "--columns", "a:DATE"],
        ["ws://[::1", "--db", db],
        ["ws://127.0.0.1:99999", "--db", db],
    ):
        completed = pulse("ingest", *args)
        assert completed.returncode == 2, (args, completed.stderr)
        assert len(completed.stderr.strip().splitlines()) == 1 and "Traceback" not in completed.stderr, args
    assert not (tmp_path / "x.db").exists()  # nothing was created for a refused run


HOLD_LOCK = """
import sys, time, apsw
connection = apsw.Connection(sys.argv[1])
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextlib.contextmanager
def _ingest_behind_a_lock(tmp_path: Path, *extra: str) -> Iterator[subprocess.Popen]:
    """An ingest that has written rows and is now paused behind another process's write lock; everything
    it took (the ingest, the lock holder, the demo server) is stopped afterwards."""
    db = tmp_path / "stuck.db"
    server = spawn_demo_server(rate=3000)
    process = holder = None
    try:
        process = _ingest_with_rows(server.url, db, *extra)
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), "60"], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "locked"
        time.sleep(0.5)  # messages keep arriving and queue up behind the lock
        yield process
    finally:
        if process is not None:
            process.kill()
        if holder is not None:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        server.stop()


def test_a_second_interrupt_says_what_it_abandons_and_counts_it(tmp_path: Path) -> None:
    with _ingest_behind_a_lock(tmp_path) as process:
        process.send_signal(signal.SIGTERM)  # stop and flush: the flush waits for the lock
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)  # give up
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    stats = last_json(stdout)
    abandoned = int(stderr.split("abandoning ")[1].split()[0].replace(",", ""))
    assert 0 < abandoned <= stats["unwritten"]  # said at the moment; more may arrive before the loop ends
    assert stats["received"] == stats["written"] + stats["dead_letters"] + stats["unwritten"]


def test_flush_timeout_gives_up_on_a_locked_database_and_says_so(tmp_path: Path) -> None:
    with _ingest_behind_a_lock(tmp_path, "--flush-timeout", "1") as process:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - started
    assert process.returncode == 1 and elapsed < 20
    stats = last_json(stdout)
    assert stats["unwritten"] > 0 and "Gave up flushing after 1 s" in stats["last_error"]
    assert "locked" in stderr


def test_a_fatal_database_error_still_prints_the_final_counts(tmp_path: Path) -> None:
    import apsw

    db = tmp_path / "fatal.db"
    with spawn_demo_server(rate=3000) as server:
        process = _ingest_with_rows(server.url, db)
        try:
            vandal = apsw.Connection(str(db))
            vandal.execute("DROP TABLE readings; CREATE VIEW readings AS SELECT 1 AS seq")
            vandal.close()
            stdout, stderr = process.communicate(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 1
    stats = last_json(stdout)
    assert stats["state"] == "stopped" and stats["unwritten"] > 0 and "view" in stats["last_error"]
    assert "readings" in stderr and "Traceback" not in stderr
