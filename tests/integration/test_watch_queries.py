"""`watch --query/--alert` from outside: real processes on real files, another connection writing meanwhile."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest

from tests.integration.test_watch_serve import scrape
from tests.integration.test_watch_verb import Lines, start_watch

BACKLOG = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
BY_DEVICE = "SELECT device, count(*) FROM readings GROUP BY device"
# 500 readings over dev0..dev6 (tests/conftest.py): 72 each for dev0-dev2, 71 for the rest.
DEVICE_COUNTS = {f"dev{i}": 72.0 if i < 3 else 71.0 for i in range(7)}
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def outbox_db(db_path: Path) -> Path:
    connection = apsw.Connection(str(db_path))
    connection.execute("CREATE TABLE outbox(id INTEGER PRIMARY KEY, payload TEXT, sent_at REAL)")
    connection.close()
    return db_path


def add_to_outbox(connection: apsw.Connection, count: int) -> None:
    with connection:
        connection.executemany("INSERT INTO outbox(payload) VALUES (?)", [("message",)] * count)


def watch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop_app", "watch", *args], capture_output=True, text=True,
                          timeout=timeout)


def records_of(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def backlog_reaches(count: int):
    return lambda seen: any(record["queries"]["backlog"] == count for record in records_of(seen))


@pytest.mark.parametrize("fail_on_alert", [True, False], ids=["fail-on-alert", "plain"])
def test_the_backlog_rises_past_100_and_the_alert_fires(outbox_db: Path, fail_on_alert: bool) -> None:
    """The issue's check: the records show the backlog rising, and the alert firing exactly in the records
    whose backlog is over 100 (its state from the same pass as the value)."""
    extra = ["--fail-on-alert"] if fail_on_alert else []
    process = start_watch(outbox_db, "--query", f"backlog={BACKLOG}", "--alert", "backlog>100", "--json",
                          "--seconds", "5", *extra)
    lines = Lines(process.stdout)
    writer = apsw.Connection(str(outbox_db))
    writer.set_busy_timeout(5000)
    try:
        lines.wait_for(backlog_reaches(0))
        add_to_outbox(writer, 60)
        lines.wait_for(backlog_reaches(60))
        add_to_outbox(writer, 60)
        lines.wait_for(backlog_reaches(120))
        process.wait(timeout=30)
        errors = process.stderr.read()
    finally:
        writer.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        lines.join()
        process.stdout.close()
        process.stderr.close()
    records = records_of(lines.lines)
    backlogs = [record["queries"]["backlog"] for record in records]
    assert backlogs == sorted(backlogs) and {0, 60, 120} <= set(backlogs), backlogs
    for record in records:
        (alert,) = record["alerts"]
        assert alert["rule"] == "backlog > 100" and alert["query"] == "backlog"
        assert alert["firing"] is (record["queries"]["backlog"] > 100), record
        assert "query_errors" not in record
    assert "Traceback" not in errors
    if fail_on_alert:
        assert process.returncode == 1, errors
        assert "alert fired: backlog > 100" in errors
    else:
        assert process.returncode == 0, errors
        assert errors == ""


def test_a_backlog_that_stays_under_100_exits_0_with_fail_on_alert(outbox_db: Path) -> None:
    writer = apsw.Connection(str(outbox_db))
    add_to_outbox(writer, 50)
    writer.close()
    result = watch(str(outbox_db), "--query", f"backlog={BACKLOG}", "--alert", "backlog > 100", "--fail-on-alert",
                   "--json", "--interval", "0.2", "--seconds", "1")
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout.splitlines())
    assert len(records) >= 3
    assert all(record["queries"] == {"backlog": 50} for record in records)
    assert all(not record["alerts"][0]["firing"] for record in records)
    assert result.stderr == ""


def test_a_labelled_series_is_an_object_of_labels_and_its_alert_names_them(db_path: Path) -> None:
    result = watch(str(db_path), "--query", f"by_device={BY_DEVICE}", "--alert", "by_device > 71", "--json",
                   "--interval", "0.2", "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout.splitlines())
    assert len(records) >= 2
    for record in records:
        assert record["queries"] == {"by_device": DEVICE_COUNTS}
        (alert,) = record["alerts"]
        assert alert["firing"] and alert["rule"] == "by_device > 71"
        assert all(device in alert["message"] for device in ("dev0", "dev1", "dev2"))
        assert "dev3" not in alert["message"]


def test_the_compact_line_shows_each_query_and_each_firing_alert(db_path: Path) -> None:
    result = watch(str(db_path), "--query", "n=SELECT count(*) FROM readings", "--query", f"by_device={BY_DEVICE}",
                   "--alert", "n > 100", "--alert", "n < 10", "--interval", "0.2", "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 2
    for line in lines:
        assert "flags: none" in line and "  n=500  " in line and "by_device={dev0: 72, dev1: 72, dev2: 72, …}" in line
        assert line.endswith("ALERT: n > 100") and "n < 10" not in line


def test_every_database_runs_the_same_queries_and_a_missing_table_is_that_databases_error(
    db_path: Path, delete_mode_db: Path
) -> None:
    result = watch(str(db_path), str(delete_mode_db), "--query", "readings=SELECT count(*) FROM readings",
                   "--query", "notes=SELECT count(*) FROM notes", "--json", "--interval", "0.2", "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout.splitlines())
    by_db = {str(db_path): [], str(delete_mode_db): []}
    for record in records:
        by_db[record["db"]].append(record)
    assert all(len(found) >= 2 for found in by_db.values()), by_db
    for record in by_db[str(db_path)]:
        assert record["queries"] == {"readings": 500, "notes": None}
        assert "no such table: notes" in record["query_errors"]["notes"] and "readings" not in record["query_errors"]
    for record in by_db[str(delete_mode_db)]:
        assert record["queries"] == {"readings": None, "notes": 200}
        assert "no such table: readings" in record["query_errors"]["readings"] and "notes" not in record["query_errors"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--query", "bad=SELEC count(*) FROM readings"], "--query bad: The query does not compile"),
        (["--query", "gone=SELECT count(*) FROM nowhere"], "no such table: nowhere"),
        (["--query", "wipe=DELETE FROM readings"], "--query wipe: A series only reads"),
        (["--query", "backlog"], "expected NAME=SQL"),
        (["--query", "n=SELECT 1", "--alert", "backlog > 100"], "no --query defines: add --query backlog=SQL"),
        (["--query", "n=SELECT 1", "--alert", "n >> 1"], "expected a comparison"),
    ],
    ids=["syntax", "missing-table", "write", "no-sql", "unknown-series", "bad-rule"],
)
def test_a_bad_query_or_alert_is_a_usage_error_in_one_line(db_path: Path, options: list[str], said: str) -> None:
    result = watch(str(db_path), *options, "--json", "--seconds", "5")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("sqlite-pulse: "), result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr


def test_a_query_over_its_budget_is_reported_each_pass_and_the_run_goes_on(db_path: Path) -> None:
    result = watch(str(db_path), "--query", f"endless={ENDLESS}", "--query", "n=SELECT count(*) FROM readings",
                   "--query-budget-ms", "20", "--json", "--interval", "0.2", "--seconds", "1")
    assert result.returncode == 0, result.stderr
    records = records_of(result.stdout.splitlines())
    assert len(records) >= 3
    for record in records:
        assert record["queries"] == {"endless": None, "n": 500}
        assert record["query_errors"] == {"endless": "over its 20 ms budget: cut off"}


def test_the_metrics_endpoint_serves_query_values_costs_and_alerts(db_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "watch", str(db_path), "--interval", "0.2", "--serve", "127.0.0.1:0",
         "--query", "n=SELECT count(*) FROM readings", "--query", f"by_device={BY_DEVICE}",
         "--query", "gone=SELECT count(*) FROM readings WHERE 0 GROUP BY device",
         "--alert", "n > 100", "--alert", "n < 10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", process.stderr.readline())
        assert match
        url = f"http://127.0.0.1:{match.group(1)}/metrics"
        db = ("db", str(db_path))
        deadline = time.monotonic() + 20
        while ("sqlite_pulse_query_value", (db, ("query", "n"))) not in (values := scrape(url)):
            assert time.monotonic() < deadline, values
            time.sleep(0.05)
        assert values[("sqlite_pulse_query_value", (db, ("query", "n")))] == 500
        assert values[("sqlite_pulse_query_value", (db, ("query", "by_device")))] == 500
        for device, count in DEVICE_COUNTS.items():
            assert values[("sqlite_pulse_query_value", (db, ("label", device), ("query", "by_device")))] == count
        assert not [key for key in values if key[0] == "sqlite_pulse_query_value" and ("query", "gone") in key[1]]
        for name in ("n", "by_device", "gone"):  # a run without a value still cost something
            assert 0 <= values[("sqlite_pulse_query_duration_seconds", (db, ("query", name)))] < 1
        assert values[("sqlite_pulse_alert", (db, ("rule", "n > 100")))] == 1.0
        assert values[("sqlite_pulse_alert", (db, ("rule", "n < 10")))] == 0.0
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0 and "Traceback" not in errors
