"""The demo stream: realistic readings, counts, faults, the child-process server, the NDJSON recording."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from desktop_app.core.demo import (
    STREAM_COMPLETE,
    DemoServer,
    SensorFeed,
    demo_server_command,
    encode_frame,
    spawn_demo_server,
    write_ndjson,
)
from tests.scenarios import run_bounded

SCENARIO_TIMEOUT_S = 60.0


def run(scenario) -> None:
    run_bounded(scenario, SCENARIO_TIMEOUT_S)


READING_KEYS = {"device_id", "seq", "ts", "temperature", "humidity", "pressure", "battery"}


async def receive_all(url: str, limit: int = 100_000) -> tuple[list, object]:
    """Messages until the server ends the connection; (messages, the close exception)."""
    received: list = []
    async with connect(url, compression=None) as connection:
        try:
            while len(received) < limit:
                received.append(await connection.recv())
        except (ConnectionClosedOK, ConnectionClosedError) as exc:
            return received, exc
    return received, None


def test_the_feed_produces_numbered_readings_in_order() -> None:
    feed = SensorFeed(seed=7)
    readings = [json.loads(message) for message in feed.take(100)]
    assert [reading["seq"] for reading in readings] == list(range(1, 101))
    assert all(set(reading) == READING_KEYS for reading in readings)
    assert len({reading["device_id"] for reading in readings}) == 16
    assert all(isinstance(reading["temperature"], float) and 0 <= reading["humidity"] <= 100 for reading in readings)
    feed.lose()
    assert json.loads(feed.take(1)[0])["seq"] == 102


def test_malformed_messages_cycle_through_their_kinds_without_using_a_seq() -> None:
    feed = SensorFeed(malformed_every=4, seed=1)
    messages = feed.take(12)
    bad = messages[3::4]
    assert isinstance(bad[2], bytes)
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad[0])
    assert json.loads(bad[1])["temperature"] == "n/a" and "seq" not in json.loads(bad[1])
    seqs = [json.loads(message)["seq"] for index, message in enumerate(messages) if (index + 1) % 4]
    assert seqs == list(range(1, 10))


def test_frames_have_the_right_length_encoding() -> None:
    assert encode_frame("hi") == b"\x81\x02hi"
    assert encode_frame(b"\x00") == b"\x82\x01\x00"
    assert encode_frame("x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert encode_frame("x" * 70_000)[:10] == b"\x81\x7f" + (70_000).to_bytes(8, "big")


def test_a_counted_stream_ends_with_a_normal_close() -> None:
    async def scenario() -> None:
        async with DemoServer(count=700, seed=3) as server:
            messages, closed = await receive_all(server.url)
            assert [json.loads(message)["seq"] for message in messages] == list(range(1, 701))
            assert isinstance(closed, ConnectionClosedOK) and closed.rcvd.reason == STREAM_COMPLETE
            again, closed_again = await receive_all(server.url)  # complete: later clients get nothing
            assert again == [] and isinstance(closed_again, ConnectionClosedOK)
            assert server.complete and server.connections == 2

    run(scenario())


def test_drops_cut_the_connection_and_lose_the_message_in_flight() -> None:
    async def scenario() -> None:
        async with DemoServer(count=100, drop_every=40) as server:
            first, closed = await receive_all(server.url)
            assert len(first) == 40 and isinstance(closed, ConnectionClosedError) and closed.rcvd is None
            second, _ = await receive_all(server.url)
            assert json.loads(second[0])["seq"] == 42  # 41 was in flight when the connection dropped
            assert server.drops == 2

    run(scenario())


def test_malformed_messages_arrive_as_text_and_binary() -> None:
    async def scenario() -> None:
        async with DemoServer(count=30, malformed_every=10) as server:
            messages, _ = await receive_all(server.url)
        assert len(messages) == 30
        assert sum(isinstance(message, bytes) for message in messages) == 1
        assert len([m for m in messages if isinstance(m, str) and '"seq"' in m and m.endswith("}")]) == 27

    run(scenario())


def test_a_rate_limited_stream_delivers_everything() -> None:
    async def scenario() -> None:
        async with DemoServer(rate=500, count=60) as server:
            messages, closed = await receive_all(server.url)
        assert len(messages) == 60 and isinstance(closed, ConnectionClosedOK)

    run(scenario())


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"rate": 0}, {"count": -1}, {"drop_every": 0}, {"malformed_every": 1}):
        with pytest.raises(ValueError):
            DemoServer(**kwargs)


def test_the_demo_server_runs_as_a_child_process() -> None:
    with spawn_demo_server(count=25) as server:
        assert server.url.startswith("ws://127.0.0.1:")
        messages, closed = asyncio.run(receive_all(server.url))
        assert len(messages) == 25 and isinstance(closed, ConnectionClosedOK)
    assert server.returncode is not None  # stopped on leaving the block


def test_the_command_names_only_the_given_options() -> None:
    command = demo_server_command(rate=5.0, malformed_every=3)
    assert command[-7:] == ["--port", "0", "--watch-stdin", "--rate", "5.0", "--malformed-every", "3"]
    assert "--count" not in command


def test_a_recording_holds_the_stream_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "stream.ndjson"
    write_ndjson(path, 1000, malformed_every=100)
    lines = path.read_bytes().splitlines()
    assert len(lines) == 1000
    assert json.loads(lines[0])["seq"] == 1
    assert sum(1 for line in lines if line.startswith(b"\xff")) == 3  # the binary kind, every 300th
