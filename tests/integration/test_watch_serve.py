"""`watch DB DB --serve`: scrape the endpoint over HTTP and parse it with prometheus_client's own parser."""

from __future__ import annotations

import json
import os
import re
import socket
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
            assert values[("sqlite_pulse_journal_mode_info", (*label, ("mode", "wal")))] == 1.0
            assert 0 <= values[("sqlite_pulse_freelist_ratio", label)] <= 1
            assert 0 < values[("sqlite_pulse_sample_duration_seconds", label)] < 5
        label = (("db", str(other)),)
        assert values[("sqlite_pulse_ingest_rows_total", label)] == report["written"]
        assert values[("sqlite_pulse_ingest_dead_letters_total", label)] == report["dead_letters"] > 0
        assert values[("sqlite_pulse_ingest_batches_total", label)] >= 1
        assert ("sqlite_pulse_ingest_rows_total", (("db", str(db_path)),)) not in values  # no ledger there
        build = [labels for name, labels in values if name == "sqlite_pulse_build_info"]
        assert len(build) == 1 and dict(build[0])["sqlite"] == apsw.sqlite_lib_version()
        assert dict(build[0])["python"] == ".".join(map(str, sys.version_info[:3]))
        assert values[("process_resident_memory_bytes", ())] > 0  # prometheus_client's process collector
    finally:
        watch.terminate()
        watch.communicate(timeout=20)  # also closes the pipes
    assert watch.returncode == 0


def test_metric_names_follow_the_conventions_and_the_json_keeps_its_keys(tmp_path: Path, db_path: Path) -> None:
    """A ratio ends in _ratio (0-1), a duration in _duration_seconds; `watch --json` keeps the sample's keys."""
    from prometheus_client import generate_latest

    from desktop_app.core.metrics import MetricsSampler
    from desktop_app.core.prometheus import FleetMetrics, registry_for

    connection = apsw.Connection(str(db_path))
    connection.execute("CREATE TABLE big(x)")
    connection.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
                       "INSERT INTO big SELECT randomblob(2000) FROM n")
    connection.execute("DELETE FROM big")  # pages to the freelist
    connection.close()
    sampler = MetricsSampler(db_path)
    try:
        sample = sampler.sample()
    finally:
        sampler.close()
    assert sample.freelist_percent > 1
    fleet = FleetMetrics()
    fleet.update("pulse", sample)
    families = {family.name: family for family in text_string_to_metric_families(generate_latest(registry_for(fleet)).decode())}
    [ratio] = families["sqlite_pulse_freelist_ratio"].samples
    assert ratio.value == sample.freelist_percent / 100
    [duration] = families["sqlite_pulse_sample_duration_seconds"].samples
    assert duration.value == sample.cost_ms / 1000
    assert "sqlite_pulse_freelist_percent" not in families and "sqlite_pulse_sample_cost_seconds" not in families
    wrong = [name for name in families if "percent" in name or name.endswith("_cost_seconds")]
    assert not wrong, "ratios are 0-1 and named _ratio, durations _duration_seconds"
    assert [s.labels for s in families["sqlite_pulse_journal_mode_info"].samples] == [{"db": "pulse", "mode": "wal"}]
    assert families["sqlite_pulse_data_version_changes"].documentation.startswith("Samples that saw another")
    assert "process_cpu_seconds" in families
    result = subprocess.run([sys.executable, "-m", "desktop_app", "watch", str(db_path), "--json", "--seconds", "0.1"],
                            capture_output=True, text=True, timeout=60, check=True)
    record = json.loads(result.stdout.splitlines()[0])
    assert {"freelist_percent", "cost_ms"} <= set(record)


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


# Hostile clients: connections that never finish their request. The server's bounds are in core/prometheus.py.
HALF_REQUEST = b"GET /metrics HTTP/1.1\r\nHost: pulse\r\n"  # the blank line that ends the head never comes


def start_serving(db: Path) -> tuple[subprocess.Popen, int]:
    watch = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "watch", str(db), "--interval", "0.2", "--serve", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", watch.stderr.readline())
    assert match
    return watch, int(match.group(1))


def stop_serving(watch: subprocess.Popen) -> str:
    watch.terminate()
    _, errors = watch.communicate(timeout=20)
    return errors


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(re.search(r"^Threads:\s+(\d+)", handle.read(), re.M).group(1))


def scrape_within(port: int, seconds: float) -> float:
    """Scrape until it succeeds; the seconds it took (fails after `seconds`)."""
    started = time.monotonic()
    while True:
        try:
            assert ("sqlite_pulse_up", ()) not in scrape(f"http://127.0.0.1:{port}/metrics")
            return time.monotonic() - started
        except OSError:
            assert time.monotonic() - started < seconds, "no scrape got through"


def half_requests(port: int, count: int) -> list[socket.socket]:
    connections = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sendall(HALF_REQUEST)
        connections.append(connection)
    return connections


def closed_by_server(connection: socket.socket, deadline: float) -> bool:
    """Wait (until `deadline`) for the server to close: EOF, or a reset when it dropped unread bytes."""
    connection.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_connections_that_never_finish_their_request_are_bounded_timed_out_and_do_not_block_a_scrape(db_path: Path) -> None:
    from desktop_app.core.prometheus import MAX_CONNECTIONS, REQUEST_SECONDS

    watch, port = start_serving(db_path)
    held: list[socket.socket] = []
    try:
        scrape_within(port, 20)
        idle_threads = threads_of(watch.pid)
        held = half_requests(port, 300)
        attack_ended = time.monotonic()
        # Newer connections push out the oldest unfinished ones: a scrape gets through while they are held.
        assert scrape_within(port, 2.0) < 2.0
        assert threads_of(watch.pid) <= idle_threads + MAX_CONNECTIONS
        # A client trickling its request a byte at a time is cut off too (one deadline for the whole request).
        with socket.create_connection(("127.0.0.1", port), timeout=10) as trickle:
            trickle_started = time.monotonic()
            for byte in HALF_REQUEST * 1000:
                if closed_by_server(trickle, time.monotonic() + 0.2):
                    break
                trickle.send(bytes([byte]))
                assert time.monotonic() - trickle_started < REQUEST_SECONDS + 5, "the trickler was never cut off"
            assert time.monotonic() - trickle_started >= REQUEST_SECONDS - 0.5
        # Every half-open connection is closed by the server by the time its deadline has passed.
        deadline = attack_ended + REQUEST_SECONDS + 5
        assert all(closed_by_server(connection, deadline) for connection in held)
        # A keep-alive client is answered and then closed: no idle connection outlives its answer.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: pulse\r\nConnection: keep-alive\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.0 200") and b"sqlite_pulse_up" in answer
        assert watch.poll() is None
        scrape_within(port, 2.0)
        assert threads_of(watch.pid) <= idle_threads + 1
    finally:
        for connection in held:
            connection.close()
        errors = stop_serving(watch)
    assert watch.returncode == 0
    assert "Traceback" not in errors


def test_a_burst_of_half_sent_requests_does_not_end_the_server(db_path: Path) -> None:
    from desktop_app.core.prometheus import MAX_CONNECTIONS, REQUEST_SECONDS

    watch, port = start_serving(db_path)
    held: list[socket.socket] = []
    try:
        scrape_within(port, 20)
        idle_threads = threads_of(watch.pid)
        started = time.monotonic()
        held = half_requests(port, 200)
        assert time.monotonic() - started < 5  # connects are accepted (or dropped) at once, not queued
        assert threads_of(watch.pid) <= idle_threads + MAX_CONNECTIONS
        deadline = time.monotonic() + REQUEST_SECONDS + 5
        assert all(closed_by_server(connection, deadline) for connection in held)
        assert watch.poll() is None
        scrape_within(port, 2.0)
    finally:
        for connection in held:
            connection.close()
        errors = stop_serving(watch)
    assert watch.returncode == 0
    assert "Traceback" not in errors


def make_database(path: Path, rows: int) -> int:
    """A database of `rows` rows of 1 KB at `path`; page_count x page_size."""
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                       "INSERT INTO t SELECT randomblob(1000) FROM n", (rows,))
    page_count, page_size = (connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
    connection.close()
    return page_count * page_size


def test_a_deleted_database_is_down_without_figures_and_a_new_file_at_its_path_is_served_afresh(tmp_path: Path) -> None:
    path = tmp_path / "replaced.db"
    make_database(path, 10)
    watch, port = start_serving(path)
    url, label = f"http://127.0.0.1:{port}/metrics", (("db", str(path)),)

    def until(condition: object, seconds: float = 20) -> dict:
        deadline = time.monotonic() + seconds
        while not condition(values := scrape(url)):  # type: ignore[operator]
            assert time.monotonic() < deadline, values
            time.sleep(0.05)
        return values

    try:
        until(lambda values: values.get(("sqlite_pulse_up", label)) == 1.0)
        path.unlink()
        values = until(lambda values: values.get(("sqlite_pulse_up", label)) == 0.0)
        assert not [key for key in values if key[1] == label and key[0] != "sqlite_pulse_up"]
        for rows in (300, 50):  # a new file where there was none, then one put over the watched file
            staged = tmp_path / "staged.db"
            size = make_database(staged, rows)
            os.replace(staged, path)
            values = until(lambda values, size=size: values.get(("sqlite_pulse_up", label)) == 1.0
                           and values.get(("sqlite_pulse_data_bytes", label)) == size)
            assert values[("sqlite_pulse_db_bytes", label)] == os.stat(path).st_size
        assert watch.poll() is None
    finally:
        errors = stop_serving(watch)
    assert watch.returncode == 0
    assert "Traceback" not in errors
    assert "was deleted" in errors and "was replaced" in errors
