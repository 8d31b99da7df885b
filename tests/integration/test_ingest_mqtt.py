"""MQTT as a source, against a real broker (Debian's mosquitto on a loopback port of our own): QoS 1, a
persistent session, each message acknowledged only after its batch committed. SIGKILL of the real `ingest`
process loses nothing (the broker redelivers what was not acknowledged) and `--dedupe-key` writes each once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.ingest import IngestConfig, IngestSession
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE
from desktop_app.core.ingest.mqtt_source import MqttSource
from desktop_app.core.maintenance import integrity_check
from tests.mosquitto_broker import PASSWORD, USER, Broker, create_session, mosquitto, publish
from tests.scenarios import free_port, rows, run_bounded
from tests.scenarios import wait_for as wait_until

CLIENT_ID = "pulse-test-ingest"
PROCESS_DEADLINE_S = 60.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with mosquitto(tmp_path / "broker") as running:
        create_session(running.port, CLIENT_ID)  # messages published from now on wait for the ingest
        yield running


def ingest_command(broker: Broker, db: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "desktop_app", "ingest", broker.url(), "--db", str(db), "--client-id", CLIENT_ID,
            "--json", *options]


def run_ingest(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=PROCESS_DEADLINE_S, env=env)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def seq_summary(db: Path) -> tuple[int, int, int, int]:
    return rows(db, "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM readings")[0]


def test_a_plain_run_receives_every_message_once_and_acknowledges_them(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    total = 5000
    assert publish(broker.port, range(1, total + 1)) == total
    completed = run_ingest(ingest_command(broker, db, "--max-messages", str(total)))
    assert completed.returncode == 0, completed.stderr
    stats = last_json(completed.stdout)
    assert (stats["received"], stats["written"], stats["dead_letters"], stats["unwritten"]) == (total, total, 0, 0)
    assert (stats["duplicates"], stats["redelivered"], stats["gaps"]) == (0, 0, 0)
    assert seq_summary(db) == (total, total, 1, total)
    # Every one was acknowledged: the session on the broker holds nothing more for us.
    again = run_ingest(ingest_command(broker, db, "--seconds", "1.5"))
    assert again.returncode == 0, again.stderr
    assert last_json(again.stdout)["received"] == 0
    assert "Traceback" not in completed.stderr + again.stderr


def test_sigkill_twenty_times_mid_stream_loses_nothing_and_writes_each_once(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    total, kills = 20_000, 20
    rng = random.Random(19)
    published: list[int] = []
    publisher = threading.Thread(
        target=lambda: published.append(publish(broker.port, range(1, total + 1), rate=1200)), daemon=True
    )
    started = time.monotonic()
    publisher.start()
    command = ingest_command(broker, db, "--dedupe-key", "seq", "--batch-rows", "500")
    stderr_log = tmp_path / "stderr.log"
    progressed = 0  # kills that came while rows were landing (not all during python's start)
    try:
        for _ in range(kills):
            before = _distinct(db)
            with stderr_log.open("ab") as stderr:
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                time.sleep(rng.uniform(0.4, 1.2))  # into its stream: python starts in ~0.3 s on this machine
                process.send_signal(signal.SIGKILL)
                process.wait(10)
            finally:
                process.kill()
                process.wait(10)
            assert process.returncode == -signal.SIGKILL
            progressed += _distinct(db) > before
        publisher.join(PROCESS_DEADLINE_S)
        assert not publisher.is_alive() and published == [total]
        assert progressed >= kills // 2
        # The last run takes what is left and is stopped cleanly once everything is in.
        final = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + PROCESS_DEADLINE_S
            while _distinct(db) < total:
                assert time.monotonic() < deadline and final.poll() is None, "the last run did not catch up"
                time.sleep(0.1)
            final.send_signal(signal.SIGTERM)
            stdout, stderr_text = final.communicate(timeout=30)
        finally:
            final.kill()
    finally:
        publisher.join(1)
    assert final.returncode == 0, stderr_text
    assert "Traceback" not in stderr_text + stderr_log.read_text(errors="replace")
    stats = last_json(stdout)
    assert stats["unwritten"] == 0
    assert stats["received"] == stats["written"] + stats["dead_letters"] + stats["duplicates"]
    assert seq_summary(db) == (total, total, 1, total)
    assert rows(db, f"SELECT count(*) FROM {DEAD_LETTER_TABLE}") == [(0,)]
    # The ledger reconciles: what its batches say went in is what the table holds.
    assert rows(db, f"SELECT sum(rows) FROM {BATCH_LEDGER_TABLE}") == [(total,)]
    assert integrity_check(db).ok
    assert time.monotonic() - started < 240


def _distinct(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        return rows(db, "SELECT count(DISTINCT seq) FROM readings")[0][0]
    except Exception:  # the table is not created yet
        return 0


class UnacknowledgingSource(MqttSource):
    """Takes messages and never acknowledges them: as if the process died right after each commit."""

    def committed(self, messages: int) -> None:
        return None


def _session_run(config: IngestConfig, source: MqttSource | None = None, total: int | None = None) -> object:
    async def scenario() -> object:
        session = IngestSession(config, source=source)
        task = asyncio.ensure_future(session.run())
        if total is not None:
            await wait_until(lambda: session.stats().written + session.stats().duplicates >= total, 30)
        else:
            await asyncio.sleep(1.0)
        session.stop()
        return await task

    return run_bounded(scenario(), 60)


@pytest.mark.parametrize("dedupe", [None, "seq"])
def test_redelivered_messages_are_counted_and_a_key_writes_them_once(
    broker: Broker, tmp_path: Path, dedupe: str | None
) -> None:
    db = tmp_path / "redelivered.db"
    total = 3000
    publish(broker.port, range(1, total + 1))
    config = IngestConfig(url=broker.url(), db_path=db, client_id=CLIENT_ID, dedupe_key=dedupe)
    first = _session_run(config, UnacknowledgingSource(config.validated()), total)
    assert (first.written, first.redelivered) == (total, 0)
    second = _session_run(config, total=total)  # the broker sends all of them again, flagged dup
    assert second.received == second.redelivered == total
    assert second.unwritten == 0
    if dedupe:
        assert (second.written, second.duplicates) == (0, total)
        assert seq_summary(db) == (total, total, 1, total)
    else:  # without a key, duplicates are possible: here every one, and every one is counted as redelivered
        assert (second.written, second.duplicates) == (total, 0)
        assert seq_summary(db) == (2 * total, total, 1, total)
    third = _session_run(config)  # the second run acknowledged them all
    assert third.received == 0


def test_topic_plus_field_dedupes_per_topic(broker: Broker, tmp_path: Path) -> None:
    db = tmp_path / "topics.db"
    publish(broker.port, range(1, 101), topic="sensors/a")
    publish(broker.port, range(1, 101), topic="sensors/b")
    config = IngestConfig(url=broker.url(), db_path=db, client_id=CLIENT_ID, dedupe_key="topic+seq")
    stats = _session_run(config, total=200)
    assert (stats.written, stats.duplicates) == (200, 0)
    assert rows(db, "SELECT topic, count(*), count(DISTINCT seq) FROM readings GROUP BY topic ORDER BY topic") == [
        ("sensors/a", 100, 100), ("sensors/b", 100, 100)
    ]


def test_a_wrong_password_is_one_clear_line_and_no_traceback(tmp_path: Path) -> None:
    with mosquitto(tmp_path / "broker", password=True) as broker:
        env = dict(os.environ, MQTT_USERNAME=USER, MQTT_PASSWORD="not-the-password")
        completed = run_ingest(ingest_command(broker, tmp_path / "t.db", "--seconds", "10"), env)
    assert completed.returncode == 2
    assert "bad user name or password" in completed.stderr or "not authorized" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t.db").exists()


def test_an_unreachable_broker_says_so_and_exits_3(tmp_path: Path) -> None:
    port = free_port()
    completed = run_ingest([sys.executable, "-m", "desktop_app", "ingest", f"mqtt://127.0.0.1:{port}/sensors/#",
                            "--db", str(tmp_path / "t.db"), "--seconds", "1.5", "--json"])
    assert completed.returncode == 3
    stats = last_json(completed.stdout)
    assert f"Cannot connect to 127.0.0.1:{port}" in stats["last_error"]
    assert "never connected" in completed.stderr and "Traceback" not in completed.stderr


def test_credentials_come_from_the_environment_and_show_nowhere(tmp_path: Path) -> None:
    db = tmp_path / "secret.db"
    with mosquitto(tmp_path / "broker", password=True) as broker:
        create_session(broker.port, CLIENT_ID, login=(USER, PASSWORD))
        publish(broker.port, range(1, 51), login=(USER, PASSWORD))
        env = dict(os.environ, MQTT_USERNAME=USER, MQTT_PASSWORD=PASSWORD)
        command = ingest_command(broker, db, "--max-messages", "50")
        completed = run_ingest(command, env)
        # A password in the URL is refused, pointing at the environment instead.
        refused = run_ingest([sys.executable, "-m", "desktop_app", "ingest",
                              f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{broker.port}/sensors/#", "--db", str(db)])
        log = broker.log()
    assert completed.returncode == 0, completed.stderr
    assert last_json(completed.stdout)["written"] == 50
    config = IngestConfig(url=broker.url(), db_path=db, client_id=CLIENT_ID)
    for text in (" ".join(command), completed.stdout, completed.stderr, json.dumps(config.to_document()), log):
        assert PASSWORD not in text
    assert refused.returncode == 2 and "MQTT_PASSWORD" in refused.stderr
    assert PASSWORD not in refused.stderr
