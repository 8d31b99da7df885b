"""IngestSession against real WebSocket servers on 127.0.0.1, and the file replay."""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import apsw
import pytest
from websockets.asyncio.server import serve

from desktop_app.core.demo import DemoServer, write_ndjson
from desktop_app.core.errors import NotADatabase, QueryError
from desktop_app.core.ingest import (
    FileIngest,
    IngestConfig,
    IngestError,
    IngestFailed,
    IngestSession,
    IngestStats,
    backoff_delay,
    check_url,
)
from desktop_app.core.ingest import sources as ingest_module
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE
from tests.scenarios import free_port, rows, run_bounded, wait_for

SCENARIO_TIMEOUT_S = 60.0


def run(scenario) -> object:
    return run_bounded(scenario, SCENARIO_TIMEOUT_S)



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


@pytest.mark.parametrize(("stable_after", "expected"), [(0.0, [0, 0, 0]), (1000.0, [0, 0, 0])])
def test_backoff_starts_over_after_a_connection_that_delivered_messages(
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


def ingest_served(messages: list, db: Path, *, serve_options: dict | None = None, **config: object) -> IngestStats:
    """Serve `messages` (str: text frames, bytes: binary) to every connection from a websockets server on
    127.0.0.1, ingest them into `db` with an IngestSession, and return its final counters."""

    async def handler(connection) -> None:
        for message in messages:
            await connection.send(message)
        await connection.wait_closed()

    async def scenario():
        async with serve(handler, "127.0.0.1", 0, **(serve_options or {})) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            return await IngestSession(IngestConfig(url=url, db_path=db, **config)).run()

    return run(scenario())


def test_compression_is_offered_only_when_the_server_insists(tmp_path: Path) -> None:
    def require_deflate(connection, request):
        if "permessage-deflate" not in request.headers.get("Sec-WebSocket-Extensions", ""):
            return connection.respond(HTTPStatus.BAD_REQUEST, "this server requires compression\n")
        return None

    messages = [json.dumps({"seq": seq, "value": seq * 1.5}) for seq in range(1, 11)]
    stats = ingest_served(messages, tmp_path / "live.db", serve_options={"process_request": require_deflate},
                          max_messages=10, backoff_initial=0.01)
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
    with pytest.raises(IngestFailed) as failed:
        run(session.run())
    assert isinstance(failed.value.error, NotADatabase)
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
            with pytest.raises(IngestFailed, match="readings") as failed:
                await task
            assert isinstance(failed.value.error, QueryError)
            return session.stats()

    stats = run(scenario())
    assert stats.state == "stopped" and stats.unwritten > 0
    assert stats.received == stats.written + stats.dead_letters + stats.unwritten


# -- nothing lost silently, counters that tell the truth ----------------------------------------------------


def test_huge_messages_become_dead_letters_and_the_connection_stays_up(tmp_path: Path) -> None:
    """5 MiB and 20 MiB messages between normal ones: each is a (cut down) dead letter with its real size,
    nothing queued behind them is lost, and there is no reconnect."""
    big = {100: 5 << 20, 200: 20 << 20}
    messages = [
        json.dumps({"seq": seq, "blob": "x" * big[seq]} if seq in big else {"seq": seq, "value": seq * 0.5})
        for seq in range(1, 301)
    ]
    stats = ingest_served(messages, tmp_path / "big.db", serve_options={"max_size": None},
                          max_messages=300, backoff_initial=5.0)
    assert stats.received == 300 == stats.written + stats.dead_letters
    assert (stats.written, stats.dead_letters, stats.reconnects, stats.unwritten) == (298, 2, 0, 0)
    assert (stats.gaps, stats.missing) == (0, 0)  # the dead letters' seqs were read from their first bytes
    dead = rows(tmp_path / "big.db", f"SELECT reason, length(raw) FROM {DEAD_LETTER_TABLE} ORDER BY id")
    assert [length for _, length in dead] == [64 << 10, 64 << 10]
    assert f"{(5 << 20) + 24:,} bytes" in dead[0][0] or "5,242," in dead[0][0]


def test_binary_dead_letters_with_readable_seqs_are_not_missing(tmp_path: Path) -> None:
    texts = [json.dumps({"seq": seq, "value": 1.0}) for seq in range(1, 101)]
    messages = [text.encode() if seq % 10 == 0 else text for seq, text in enumerate(texts, 1)]  # every 10th binary
    stats = ingest_served(messages, tmp_path / "b.db", max_messages=100)
    assert (stats.written, stats.dead_letters) == (90, 10)
    assert (stats.gaps, stats.missing, stats.seq_resets) == (0, 0, 0)


def test_a_source_that_restarts_its_numbering_is_counted(tmp_path: Path) -> None:
    seqs = [*range(1, 51), *range(1, 51)]  # the source restarted after 50
    stats = ingest_served([json.dumps({"seq": seq, "value": 1.0}) for seq in seqs], tmp_path / "r.db", max_messages=100)
    assert (stats.written, stats.seq_resets, stats.gaps, stats.missing) == (100, 1, 0, 0)


def test_a_refused_handshake_leaves_compression_off_and_attempts_are_counted(tmp_path: Path) -> None:
    refusals = {"left": 2}

    async def handler(connection) -> None:
        for seq in range(1, 11):
            await connection.send(json.dumps({"seq": seq}))
        await connection.wait_closed()

    def refuse_twice(connection, request):
        if refusals["left"]:
            refusals["left"] -= 1
            return connection.respond(HTTPStatus.FORBIDDEN, "not now\n")
        assert "permessage-deflate" not in request.headers.get("Sec-WebSocket-Extensions", "")
        return None

    async def scenario():
        async with serve(handler, "127.0.0.1", 0, process_request=refuse_twice) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            session = IngestSession(IngestConfig(url=url, db_path=tmp_path / "c.db", max_messages=10, backoff_initial=0.3))
            task = asyncio.ensure_future(session.run())
            await wait_for(lambda: session.stats().retry_attempts == 2)
            assert session.stats().state == "backoff" and "403" in session.stats().last_error
            return await task

    stats = run(scenario())
    assert stats.written == 10 and stats.compression is None
    assert stats.retry_attempts == 0 and stats.last_error is None  # recovered: the old error is gone


def test_the_config_document_round_trips_every_field(tmp_path: Path) -> None:
    from desktop_app.core.ingest.mapping import parse_columns

    config = IngestConfig(
        url="wss://example.test:8443/feed", db_path=tmp_path / "x.db", table="t1", raw=False, max_messages=5,
        seconds=2.5, columns=parse_columns("a:INTEGER,b:TEXT"), batch_rows=77, batch_ms=12.5, max_queued_rows=999,
        max_queued_bytes=12345, max_message_bytes=4096, seq_field="n", compression="deflate", ping_interval=None,
        ping_timeout=3.0, open_timeout=4.0, backoff_initial=0.2, backoff_max=9.0, stable_after=3.0, verify_tls=False,
        ca_file=None, flush_timeout_s=1.5, max_page_count=1000, gil_switch_interval_s=None,
    )
    document = json.loads(json.dumps(config.to_document()))
    assert document["version"] == 1
    assert IngestConfig.from_document(document) == config
    with pytest.raises(IngestError, match="version"):
        IngestConfig.from_document({"version": 99, "config": {}})


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"batch_ms": 500}, "batch ms"),
        ({"batch_rows": 0}, "batch rows"),
        ({"max_message_bytes": 0}, "max message bytes"),
        ({"url": "ws://[::1"}, "not a valid URL"),
        ({"url": "ws://127.0.0.1:99999"}, "not a valid URL"),
        ({"url": "http://x"}, "not a WebSocket URL"),
        ({"seconds": -1}, "seconds"),
        ({"table": "sqlite_x"}, "table name"),
    ],
)
def test_bad_settings_are_refused_in_one_line(tmp_path: Path, change: dict, words: str) -> None:
    options = {"url": "ws://127.0.0.1:9", "db_path": tmp_path / "x.db", **change}
    with pytest.raises(IngestError, match=words) as refused:
        IngestConfig(**options).validated()
    assert "\n" not in str(refused.value)


def test_a_stream_that_never_connects_creates_no_tables(db_path: Path) -> None:
    async def scenario():
        session = IngestSession(IngestConfig(url=f"ws://127.0.0.1:{free_port()}", db_path=db_path, table="fresh"))
        task = asyncio.ensure_future(session.run())
        await wait_for(lambda: session.stats().retry_attempts >= 1)
        session.stop()
        return await task

    run(scenario())
    names = {name for (name,) in rows(db_path, "SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert names == {"readings"}
