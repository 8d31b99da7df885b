"""IngestSession against real WebSocket servers on 127.0.0.1, and the file replay."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import apsw
import pytest
from websockets.asyncio.server import serve

from desktop_app.core import ingest as ingest_module
from desktop_app.core.demo import DemoServer, write_ndjson
from desktop_app.core.errors import NotADatabase, QueryError
from desktop_app.core.ingest import (
    FileIngest,
    IngestConfig,
    IngestError,
    IngestSession,
    backoff_delay,
    check_url,
)
from desktop_app.core.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE
from tests.scenarios import run_bounded, wait_for

SCENARIO_TIMEOUT_S = 60.0


def run(scenario) -> object:
    return run_bounded(scenario, SCENARIO_TIMEOUT_S)


def rows(path: Path, sql: str) -> list[tuple]:
    connection = apsw.Connection(str(path))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_urls_are_checked() -> None:
    assert check_url("wss://example.org/feed") == "wss://example.org/feed"
    for bad in ("http://example.org", "example.org:80", "ws://"):
        with pytest.raises(IngestError):
            check_url(bad)


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(5)
    delays = [backoff_delay(attempt, 0.5, 8.0, rng) for attempt in range(10)]
    for attempt, delay in enumerate(delays):
        base = min(8.0, 0.5 * 2**attempt)
        assert base / 2 <= delay <= base
    assert max(delays) <= 8.0
    assert len({round(delay, 6) for delay in delays[5:]}) > 1  # capped ones still differ: jitter


def test_a_clean_run_lands_every_message(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    commits: list[int] = []

    async def scenario():
        async with DemoServer(count=3000) as server:
            config = IngestConfig(url=server.url, db_path=db, max_messages=3000)
            return await IngestSession(config, on_commit=lambda n, _ms: commits.append(n)).run()

    before = sys.getswitchinterval()
    stats = run(scenario())
    assert sys.getswitchinterval() == before  # the run's 1 ms switch interval is undone afterwards
    assert (stats.received, stats.written, stats.dead_letters, stats.queue_depth) == (3000, 3000, 0, 0)
    assert (stats.gaps, stats.reconnects, stats.unwritten, stats.state) == (0, 0, 0, "stopped")
    assert stats.rows_per_s > 0 and stats.journal_mode == "wal" and stats.compression is None
    assert sum(commits) == 3000 and stats.batches == len(commits)
    assert rows(db, "SELECT count(*), min(seq), max(seq) FROM readings") == [(3000, 1, 3000)]
    assert rows(db, f"SELECT sum(rows) FROM {BATCH_LEDGER_TABLE}") == [(3000,)]


def test_drops_reconnect_and_count_gaps_while_bad_messages_become_dead_letters(tmp_path: Path) -> None:
    db = tmp_path / "live.db"

    async def scenario():
        async with DemoServer(count=1000, drop_every=300, malformed_every=25) as server:
            config = IngestConfig(url=server.url, db_path=db, max_messages=997, backoff_initial=0.02)
            return await IngestSession(config).run()

    stats = run(scenario())
    assert stats.received == 997 and stats.received == stats.written + stats.dead_letters
    assert stats.reconnects == 3
    # Drops lose the message in flight: frames 301, 602, 903 (none of them malformed).
    assert (stats.gaps, stats.missing) == (3, 3)
    assert stats.dead_letters == 40  # every 25th of 1000 frames
    assert rows(db, f"SELECT count(*) FROM {DEAD_LETTER_TABLE}") == [(40,)]


def test_stop_from_another_thread_flushes_everything(tmp_path: Path) -> None:
    db = tmp_path / "live.db"

    async def scenario():
        async with DemoServer(rate=3000) as server:
            session = IngestSession(IngestConfig(url=server.url, db_path=db))
            task = asyncio.ensure_future(session.run())
            await wait_for(lambda: session.stats().written > 0)
            running = session.stats()
            assert running.state == "connected" and running.seconds > 0
            await asyncio.to_thread(session.stop)
            return await task

    stats = run(scenario())
    assert stats.state == "stopped" and stats.queue_depth == 0
    assert stats.received == stats.written > 0
    assert rows(db, "SELECT count(*) FROM readings") == [(stats.written,)]


def test_a_time_limit_ends_the_run(tmp_path: Path) -> None:
    async def scenario():
        async with DemoServer(rate=200) as server:
            config = IngestConfig(url=server.url, db_path=tmp_path / "live.db", seconds=0.3)
            return await IngestSession(config).run()

    stats = run(scenario())
    assert stats.state == "stopped" and stats.received == stats.written


def test_an_unreachable_server_is_retried_with_backoff(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}"

    async def scenario():
        session = IngestSession(IngestConfig(url=url, db_path=tmp_path / "live.db", backoff_initial=5.0))
        task = asyncio.ensure_future(session.run())
        await wait_for(lambda: session.stats().state == "backoff")
        stats = session.stats()
        assert "Cannot connect" in stats.last_error
        assert 0 < stats.next_retry_in <= 5.0
        session.stop()
        return await task

    stats = run(scenario())
    assert (stats.received, stats.reconnects, stats.state, stats.next_retry_in) == (0, 0, "stopped", None)


@pytest.mark.parametrize(("stable_after", "expected"), [(0.0, [0, 0, 0]), (1000.0, [0, 1, 2])])
def test_backoff_starts_over_after_a_stable_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stable_after: float, expected: list[int]
) -> None:
    attempts: list[int] = []
    real = ingest_module.backoff_delay

    def recording(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
        attempts.append(attempt)
        return real(attempt, initial, cap, rng)

    monkeypatch.setattr(ingest_module, "backoff_delay", recording)

    async def scenario():
        async with DemoServer(count=400, drop_every=100) as server:
            config = IngestConfig(
                url=server.url,
                db_path=tmp_path / "live.db",
                max_messages=397,
                backoff_initial=0.01,
                stable_after=stable_after,
            )
            return await IngestSession(config).run()

    stats = run(scenario())
    assert stats.reconnects == 3
    assert attempts == expected


def test_compression_is_offered_only_when_the_server_insists(tmp_path: Path) -> None:
    async def handler(connection) -> None:
        for seq in range(1, 11):
            await connection.send(json.dumps({"seq": seq, "value": seq * 1.5}))
        await connection.wait_closed()

    def require_deflate(connection, request):
        if "permessage-deflate" not in request.headers.get("Sec-WebSocket-Extensions", ""):
            return connection.respond(HTTPStatus.BAD_REQUEST, "this server requires compression\n")
        return None

    async def scenario():
        async with serve(handler, "127.0.0.1", 0, process_request=require_deflate) as server:
            port = server.sockets[0].getsockname()[1]
            config = IngestConfig(
                url=f"ws://127.0.0.1:{port}", db_path=tmp_path / "live.db", max_messages=10, backoff_initial=0.01
            )
            return await IngestSession(config).run()

    stats = run(scenario())
    assert stats.written == 10 and stats.compression == "deflate"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_wss_verifies_certificates_by_default(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)

    async def handler(connection) -> None:
        for seq in range(1, 6):
            await connection.send(json.dumps({"seq": seq}))
        await connection.wait_closed()

    async def scenario():
        async with serve(handler, "127.0.0.1", 0, ssl=server_context) as server:
            url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            untrusting = IngestSession(IngestConfig(url=url, db_path=tmp_path / "a.db", backoff_initial=5.0))
            task = asyncio.ensure_future(untrusting.run())
            await wait_for(lambda: untrusting.stats().state == "backoff")
            assert "CERTIFICATE_VERIFY_FAILED" in untrusting.stats().last_error
            untrusting.stop()
            refused = await task
            trusting = IngestSession(IngestConfig(url=url, db_path=tmp_path / "b.db", ca_file=cert, max_messages=5))
            return refused, await trusting.run()

    refused, accepted = run(scenario())
    assert refused.received == 0
    assert accepted.written == 5


def test_a_database_problem_is_raised_by_run(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("plain text, not SQLite\n" * 10)
    session = IngestSession(IngestConfig(url="ws://127.0.0.1:9", db_path=not_a_db))
    with pytest.raises(NotADatabase):
        run(session.run())
    assert session.stats().state == "stopped"


def test_the_file_replay_uses_the_same_pipeline(tmp_path: Path) -> None:
    recording = tmp_path / "stream.ndjson"
    write_ndjson(recording, 2000, malformed_every=100)
    db = tmp_path / "replay.db"
    stats = FileIngest(recording, IngestConfig(url="file://" + str(recording), db_path=db, raw=True)).run()
    # Raw mode keeps any valid JSON (the wrong-typed readings too); invalid JSON and binary lines are dead letters.
    assert (stats.received, stats.written, stats.dead_letters) == (2000, 1987, 13)
    assert stats.gaps == 0 and stats.state == "stopped"
    reasons = dict(rows(db, f"SELECT reason LIKE 'binary%', count(*) FROM {DEAD_LETTER_TABLE} GROUP BY 1"))
    assert reasons == {1: 6, 0: 7}
    assert rows(db, "SELECT count(*) FROM readings WHERE json_valid(payload)") == [(1987,)]


def test_a_fatal_database_error_mid_run_ends_the_run_with_that_error(tmp_path: Path) -> None:
    db = tmp_path / "live.db"

    async def scenario():
        async with DemoServer(rate=2000) as server:
            session = IngestSession(IngestConfig(url=server.url, db_path=db))
            task = asyncio.ensure_future(session.run())
            await wait_for(lambda: session.stats().written > 0)
            vandal = apsw.Connection(str(db))
            vandal.execute("DROP TABLE readings; CREATE VIEW readings AS SELECT 1 AS seq")
            vandal.close()
            with pytest.raises(QueryError, match="readings"):
                await task
            return session.stats()

    stats = run(scenario())
    assert stats.state == "stopped" and stats.unwritten > 0
    assert stats.received == stats.written + stats.dead_letters + stats.unwritten
