"""`ingest --metrics`: a real run against a real WebSocket stream, scraped over HTTP and parsed with
prometheus_client's parser; its counts are the summary's. Also what a run says on stderr: a stream that
does not fit the table (once), and a PostgreSQL connection lost and made again."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import apsw
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from desktop_app.core.demo import spawn_demo_server

PULSE = [sys.executable, "-m", "desktop_app"]
PREFIX = "sqlite_pulse_ingest_"
# Scraped family -> the summary's field.
SAME_AS_SUMMARY = {
    "messages_received_total": "received",
    "rows_written_total": "written",
    "dead_letters_total": "dead_letters",
    "batches_total": "batches",
    "sink_reconnects_total": "sink_reconnects",
    "unwritten_total": "unwritten",
}


class IngestProcess:
    """`ingest ... --json --metrics 127.0.0.1:0` in a child; stderr collected line by line as it comes."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen([*PULSE, "ingest", *argv, "--json", "--metrics", "127.0.0.1:0"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        match = self.wait_line(r"http://127\.0\.0\.1:\d+/metrics")
        self.url = match.group(0)

    def _read(self) -> None:
        for line in self.process.stderr:  # type: ignore[union-attr]
            self.lines.append(line)

    def wait_line(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            assert time.monotonic() < deadline and self.process.poll() is None, "".join(self.lines)
            time.sleep(0.02)

    def scrape(self) -> dict[str, float]:
        """Each ingest sample by name (with the paused gauge's reason folded into its name)."""
        with urllib.request.urlopen(self.url, timeout=10) as response:
            text = response.read().decode()
        values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith(PREFIX) and "le" not in sample.labels:
                    values[sample.name[len(PREFIX):]] = sample.value
                    if sample.name == PREFIX + "paused":
                        values["paused_reason:" + sample.labels["reason"]] = sample.value
                values.setdefault("families:" + family.name, 1)
        return values

    def wait_scrape(self, condition, timeout: float = 30) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while not condition(values := self.scrape()):
            assert time.monotonic() < deadline and self.process.poll() is None, (values, "".join(self.lines))
            time.sleep(0.05)
        return values

    def stop(self) -> dict:
        """SIGTERM (stop and flush), then the summary."""
        self.process.send_signal(signal.SIGTERM)
        stdout, _ = self.process.communicate(timeout=60)
        self._reader.join(10)
        assert self.process.returncode == 0, "".join(self.lines)
        return json.loads(stdout.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=30)


def test_metrics_are_the_runs_counters_and_equal_its_summary(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with spawn_demo_server(count=3000, malformed_every=100) as server:
        run = IngestProcess(server.url, "--db", str(db))
        try:
            values = run.wait_scrape(lambda v: v.get("messages_received_total") == 3000 and v["queue_depth"] == 0)
            summary = run.stop()
        finally:
            run.kill()
    assert summary["received"] == 3000 and summary["dead_letters"] == 30
    for name, field in SAME_AS_SUMMARY.items():
        assert values[name] == summary[field], name
    assert values["paused"] == 0 and values["paused_reason:"] == 0
    assert values["batch_duration_seconds_count"] == summary["batches"] > 0
    assert 0 < values["batch_duration_seconds_sum"] < 60
    assert values["source_reconnects_total"] <= summary["reconnects"]
    assert values["families:sqlite_pulse_build_info"] and values["families:process_resident_memory_bytes"]


def test_a_stream_that_fits_no_column_is_said_once_after_the_first_batch(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    connection = apsw.Connection(str(db))
    connection.execute("CREATE TABLE readings(a INTEGER, b TEXT)")
    connection.close()
    with spawn_demo_server(rate=2000) as server:
        run = IngestProcess(server.url, "--db", str(db))
        try:
            warning = run.wait_line(r"warning: every message so far went to dead letters \(([\d,]+)\)")
            run.wait_scrape(lambda v: v["batches_total"] >= 3)  # more batches: still said once
            summary = run.stop()
        finally:
            run.kill()
    said = [line for line in run.lines if "every message so far" in line]
    assert len(said) == 1 and int(warning.group(1).replace(",", "")) > 0
    assert "do not fit the table's columns (field has no column in the table: 'device_id')" in said[0]
    assert summary["written"] == 0 and summary["dead_letters"] == summary["received"] > 0


def test_a_lost_postgresql_connection_is_said_once_per_attempt_counted_and_loses_nothing(postgres_server,
                                                                                          pg_url: str) -> None:
    with spawn_demo_server(rate=3000) as server:
        run = IngestProcess(server.url, "--db", pg_url)
        try:
            run.wait_scrape(lambda v: v["rows_written_total"] > 0)
            postgres_server.stop()  # the writer's backend ends under it; reconnecting is refused for a while
            try:
                run.wait_line(r"reconnecting \(attempt 3\)")  # two refused: 0.5 s, then 1 s apart
                paused = run.scrape()
            finally:
                postgres_server.start()
            before = paused["rows_written_total"]
            run.wait_scrape(lambda v: v["sink_reconnects_total"] == 1 and v["rows_written_total"] > before + 1000)
            summary = run.stop()
        finally:
            run.kill()
    stderr = "".join(run.lines)
    assert summary["sink_reconnects"] == 1 and summary["unwritten"] == 0, stderr
    for attempt in (1, 2, 3):  # each attempt said once, not at every retry of the writer (every 0.5 s)
        assert stderr.count(f"server connection lost, reconnecting (attempt {attempt})") == 1, stderr
    assert "space frees" not in stderr and "once reconnected" in stderr
    assert paused["paused"] == 1 and "reconnecting (attempt" in next(
        name for name in paused if name.startswith("paused_reason:"))
    with psycopg.connect(pg_url) as connection:
        rows = connection.execute("SELECT count(*), count(DISTINCT seq) FROM readings").fetchone()
        dead = connection.execute("SELECT count(*) FROM pulse_dead_letters").fetchone()[0]
    assert rows == (summary["written"], summary["written"])  # nothing doubled
    assert summary["written"] + dead == summary["received"]  # nothing lost


def test_watch_given_a_postgresql_url_points_to_ingest_metrics() -> None:
    completed = subprocess.run([*PULSE, "watch", "postgresql://me:s3cret@127.0.0.1:1/app", "--seconds", "1"],
                               capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert completed.returncode == 2 and "--metrics HOST:PORT" in completed.stderr
    assert "s3cret" not in completed.stderr and "Traceback" not in completed.stderr
