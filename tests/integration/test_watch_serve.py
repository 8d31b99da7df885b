"""`watch DB DB --serve`: scrape the endpoint over HTTP and parse it with prometheus_client's own parser."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import apsw
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_metrics_endpoint_serves_each_database_with_its_figures_and_ingest_counters(tmp_path: Path, db_path: Path) -> None:
    stream = tmp_path / "s.ndjson"
    other = tmp_path / "ingested.db"
    subprocess.run([sys.executable, "-m", "desktop_app", "demo-server", "--to-file", str(stream), "--count", "700",
                    "--malformed-every", "100"], check=True, capture_output=True, timeout=60)
    ingest = subprocess.run([sys.executable, "-m", "desktop_app", "ingest-file", str(stream), "--db", str(other),
                             "--json"], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(ingest.stdout.strip().splitlines()[-1])
    watch = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "watch", str(db_path), str(other), "--interval", "0.2",
         "--serve", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = watch.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}/metrics"
        deadline = time.monotonic() + 20
        while True:
            values = scrape(url)
            if ("sqlite_pulse_db_bytes", (("db", str(other)),)) in values and (
                "sqlite_pulse_ingest_rows_total", (("db", str(other)),)) in values:
                break
            assert time.monotonic() < deadline, values
            time.sleep(0.05)
        for path in (db_path, other):
            label = (("db", str(path)),)
            assert values[("sqlite_pulse_up", label)] == 1.0
            assert values[("sqlite_pulse_db_bytes", label)] == os.stat(path).st_size
            connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
            page_size, page_count = (connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count"))
            connection.close()
            assert values[("sqlite_pulse_page_size_bytes", label)] == page_size
            assert values[("sqlite_pulse_data_bytes", label)] == page_size * page_count
            assert values[("sqlite_pulse_wal_mode", label)] == 1.0
        label = (("db", str(other)),)
        assert values[("sqlite_pulse_ingest_rows_total", label)] == report["written"]
        assert values[("sqlite_pulse_ingest_dead_letters_total", label)] == report["dead_letters"] > 0
        assert values[("sqlite_pulse_ingest_batches_total", label)] >= 1
        assert ("sqlite_pulse_ingest_rows_total", (("db", str(db_path)),)) not in values  # no ledger there
    finally:
        watch.terminate()
        watch.communicate(timeout=20)  # also closes the pipes
    assert watch.returncode == 0


def test_serve_binds_loopback_by_default() -> None:
    from desktop_app.core.prometheus import parse_listen

    assert parse_listen("9187") == ("127.0.0.1", 9187)
    assert parse_listen(":9187") == ("127.0.0.1", 9187)
    assert parse_listen("0.0.0.0:9187") == ("0.0.0.0", 9187)


def test_watch_several_databases_prints_one_object_per_database(tmp_path: Path, db_path: Path, delete_mode_db: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "watch", str(db_path), str(delete_mode_db), "--json",
         "--interval", "0.2", "--seconds", "0.5"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert {sample["db"] for sample in samples} == {str(db_path), str(delete_mode_db)}
    modes = {sample["db"]: sample["journal_mode"] for sample in samples}
    assert modes == {str(db_path): "wal", str(delete_mode_db): "delete"}
