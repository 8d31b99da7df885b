"""The ingest's WebSocket connection against a hand-written server on 127.0.0.1 that sends exact bytes:
frames the connection reads itself and frames it hands to websockets, in one stream, in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from pathlib import Path

from desktop_app.core.demo import encode_frame
from desktop_app.core.demo import server_frame as frame
from desktop_app.core.ingest import IngestConfig, IngestSession
from desktop_app.core.ingest.mapping import DEAD_LETTER_TABLE
from tests.scenarios import rows, run_bounded
from tests.wire import switching_protocols


def reading(seq: int) -> bytes:
    return json.dumps({"seq": seq, "value": seq / 2}).encode()


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One masked client frame: (opcode, unmasked payload)."""
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", await reader.readexactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4)
    payload = await reader.readexactly(size)
    return first & 0x0F, bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


async def accept(reader: asyncio.StreamReader) -> bytes:
    return switching_protocols(await reader.readuntil(b"\r\n\r\n"))


def run_against(script, config_for) -> object:
    """Serve `script(reader, writer, handshake)` to each connection on a free port and ingest from it."""

    async def scenario():
        async def handle(reader, writer):
            try:
                await script(reader, writer, await accept(reader))
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await IngestSession(config_for(f"ws://127.0.0.1:{port}")).run()

    return run_bounded(scenario(), 60.0)


def test_unusual_frames_arrive_whole_and_in_order_between_ordinary_ones(tmp_path: Path) -> None:
    """The handshake and the first frame in one TCP write; a fragmented message with a ping inside it (answered);
    invalid UTF-8 and a binary frame (dead letters, connection kept); 16- and 64-bit lengths; then a close."""
    db = tmp_path / "frames.db"
    pongs: list[bytes] = []
    closes: list[bytes] = []

    async def script(reader, writer, handshake):
        half = reading(2)
        writer.write(handshake + encode_frame(reading(1).decode()))
        writer.write(frame(0x01, half[:7]) + frame(0x89, b"are you there") + frame(0x80, half[7:]))
        writer.write(frame(0x81, b'{"seq": 3, "value": "\xff"}'))  # not UTF-8
        writer.write(frame(0x82, reading(4)))  # binary
        writer.write(frame(0x81, reading(5)[:-1] + b" " * 1_000 + b"}"))  # 16-bit length
        writer.write(frame(0x81, reading(6)[:-1] + b" " * 70_000 + b"}"))  # 64-bit length
        for seq in range(7, 11):
            writer.write(encode_frame(reading(seq).decode()))
        await writer.drain()
        while not closes:
            opcode, payload = await read_client_frame(reader)
            (pongs if opcode == 0xA else closes if opcode == 0x8 else []).append(payload)
        writer.write(frame(0x88, struct.pack("!H", 1000)))
        await writer.drain()

    stats = run_against(script, lambda url: IngestConfig(url=url, db_path=db, max_messages=10))
    assert pongs == [b"are you there"]
    assert (stats.received, stats.written, stats.dead_letters, stats.reconnects) == (10, 8, 2, 0)
    assert (stats.gaps, stats.missing) == (0, 0)
    assert rows(db, "SELECT seq FROM readings ORDER BY rowid") == [(s,) for s in (1, 2, 5, 6, 7, 8, 9, 10)]
    assert len(rows(db, f"SELECT 1 FROM {DEAD_LETTER_TABLE}")) == 2


def test_a_full_writer_holds_the_stream_back_and_everything_before_the_close_lands(tmp_path: Path) -> None:
    """A 16 KiB queue makes delivery halt and resume; the server closes right after its last
    message, while the connection is still holding bytes back: every message before the close lands, in order."""
    db = tmp_path / "held.db"
    count = 5_000

    async def script(reader, writer, handshake):
        writer.write(handshake)
        for start in range(1, count + 1, 500):
            writer.write(b"".join(encode_frame(reading(seq).decode()) for seq in range(start, start + 500)))
            await writer.drain()
        writer.write(frame(0x88, struct.pack("!H", 1000)))
        await writer.drain()
        while (await read_client_frame(reader))[0] != 0x8:
            pass

    stats = run_against(
        script,
        lambda url: IngestConfig(url=url, db_path=db, max_messages=count, max_queued_bytes=16 << 10, batch_rows=64),
    )
    assert (stats.received, stats.written, stats.dead_letters, stats.reconnects) == (count, count, 0, 0)
    assert rows(db, "SELECT count(*), min(seq), max(seq), sum(seq) FROM readings") == [
        (count, 1, count, count * (count + 1) // 2)
    ]


def test_nothing_after_a_protocol_error_is_delivered(tmp_path: Path) -> None:
    """A masked frame from a server is a protocol error: websockets fails the connection (1002), and the
    frames the server sends after it must not be ingested; the source reconnects and starts over."""
    db = tmp_path / "broken.db"

    async def script(reader, writer, handshake):
        writer.write(handshake + b"".join(encode_frame(reading(seq).decode()) for seq in (1, 2, 3)))
        masked = bytes((0x81, 0x80 | 4)) + b"\0\0\0\0" + b"oops"  # a server must never mask
        writer.write(masked + b"".join(encode_frame(reading(seq).decode()) for seq in (4, 5, 6)))
        await writer.drain()
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await read_client_frame(reader)  # the client's close (1002)

    stats = run_against(script, lambda url: IngestConfig(url=url, db_path=db, max_messages=6, backoff_initial=0.01))
    assert stats.reconnects == 1
    assert rows(db, "SELECT seq FROM readings ORDER BY rowid") == [(s,) for s in (1, 2, 3, 1, 2, 3)]
