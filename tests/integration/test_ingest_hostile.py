"""The ingest against servers that break the rules, from outside: a real `ingest` process, a hand-written server
on 127.0.0.1. Each run stays under PEAK_RSS_MB, ends by itself or on SIGTERM within END_WITHIN_S with its final
JSON, and accounts for every message (received == written + dead_letters + unwritten, and the file agrees)."""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from desktop_app.core.demo import encode_frame, server_frame
from desktop_app.core.ingest import IngestConfig, IngestSession
from desktop_app.core.ingest.mapping import DEAD_LETTER_TABLE
from tests.scenarios import rows, run_bounded
from tests.wire import RawServer, switching_protocols

PEAK_RSS_MB = 200
END_WITHIN_S = 10
SCRIPT_DEADLINE_S = 60  # a server script stops by itself after this long
CLOSE_1000 = server_frame(0x88, struct.pack("!H", 1000))
CHUNK = b"x" * (1 << 20)


def reading(seq: int) -> str:
    return json.dumps({"seq": seq, "value": seq / 2})


def start_ingest(url: str, db: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "ingest", url, "--db", str(db), "--json", "--flush-timeout", "3",
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(process: subprocess.Popen, *, terminate_when=None) -> dict:
    """Wait for the run to end (after SIGTERM once `terminate_when()` holds, if given); its final JSON."""
    if terminate_when is not None:
        deadline = time.monotonic() + 60
        while not terminate_when():
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=END_WITHIN_S if terminate_when else 60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the ingest did not end in time: {err[-2000:]}")
    assert "Traceback" not in err, err
    lines = out.strip().splitlines()
    assert lines, f"no final JSON (exit {process.returncode}): {err[-2000:]}"
    return json.loads(lines[-1])


def assert_accounted(summary: dict, db: Path) -> None:
    assert summary["received"] == summary["written"] + summary["dead_letters"] + summary.get("unwritten", 0)
    assert summary["peak_rss_mb"] < PEAK_RSS_MB, summary
    if summary["written"] or summary["dead_letters"]:
        assert rows(db, "SELECT count(*) FROM readings") == [(summary["written"],)]
        assert rows(db, f"SELECT count(*) FROM {DEAD_LETTER_TABLE}") == [(summary["dead_letters"],)]


async def client_close(reader: asyncio.StreamReader) -> None:
    """Wait (bounded) for the client's close frame, so the server closes after the closing handshake."""
    with __import__("contextlib").suppress(TimeoutError):
        await asyncio.wait_for(reader.read(64), 5)


def test_a_1_gib_message_becomes_one_dead_letter_and_the_stream_goes_on(tmp_path: Path) -> None:
    size = 1 << 30

    async def script(reader, writer, request):
        writer.write(switching_protocols(request) + encode_frame(reading(1)))
        writer.write(bytes((0x81, 127)) + struct.pack("!Q", size))
        for _ in range(size // len(CHUNK)):
            writer.write(CHUNK)
            await writer.drain()
        writer.write(encode_frame(reading(2)) + CLOSE_1000)
        await client_close(reader)

    db = tmp_path / "huge.db"
    with RawServer(script) as server:
        summary = finish(start_ingest(server.url, db, "--max-messages", "3"))
    assert (summary["received"], summary["written"], summary["dead_letters"]) == (3, 2, 1), summary
    assert_accounted(summary, db)
    [(reason, kept)] = rows(db, f"SELECT reason, length(raw) FROM {DEAD_LETTER_TABLE}")
    assert f"{size:,} bytes" in reason and kept == 64 << 10


@pytest.mark.parametrize("shape", ["2^62-byte header", "endless fragments"])
def test_a_message_that_never_ends_costs_no_memory_and_sigterm_ends_the_run(tmp_path: Path, shape: str) -> None:
    async def script(reader, writer, request):
        writer.write(switching_protocols(request) + encode_frame(reading(1)))
        if shape == "2^62-byte header":
            writer.write(bytes((0x81, 127)) + struct.pack("!Q", 1 << 62))
        else:
            writer.write(server_frame(0x01, b'{"seq": 2, "blob": "'))
        deadline = time.monotonic() + SCRIPT_DEADLINE_S
        while time.monotonic() < deadline:
            writer.write(CHUNK if shape == "2^62-byte header" else server_frame(0x00, CHUNK))
            server.bytes_sent += len(CHUNK)
            await writer.drain()

    db = tmp_path / "endless.db"
    with RawServer(script) as server:
        process = start_ingest(server.url, db)
        summary = finish(process, terminate_when=lambda: server.bytes_sent > 300 << 20)
    assert summary["received"] == 1 and summary["written"] == 1, summary
    assert_accounted(summary, db)


def deflate_bomb(inflated: int) -> bytes:
    """`inflated` zero bytes as one raw-deflate message body (RFC 7692: the final empty block removed)."""
    compressor = zlib.compressobj(wbits=-15)
    zeros = bytes(1 << 20)
    body = b"".join(compressor.compress(zeros) for _ in range(inflated // len(zeros)))
    return (body + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def compressed(text: str) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return server_frame(0xC1, (compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4])


def test_a_deflate_bomb_behind_a_server_that_demands_compression_is_one_dead_letter(tmp_path: Path) -> None:
    bomb = deflate_bomb(1 << 30)
    offers: list[bytes] = []

    async def script(reader, writer, request):
        if b"permessage-deflate" not in request:
            body = b"permessage-deflate required"
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            return
        offers.append(request)
        extensions = "permessage-deflate; server_no_context_takeover"
        writer.write(switching_protocols(request, extensions) + compressed(reading(1)))
        writer.write(server_frame(0xC1, bomb) + compressed(reading(2)) + CLOSE_1000)
        await writer.drain()
        await client_close(reader)

    db = tmp_path / "bomb.db"
    with RawServer(script) as server:
        summary = finish(start_ingest(server.url, db, "--max-messages", "3"))
    assert b"server_no_context_takeover" in offers[0]
    assert (summary["received"], summary["written"], summary["dead_letters"]) == (3, 2, 1), summary
    assert_accounted(summary, db)
    [(reason,)] = rows(db, f"SELECT reason FROM {DEAD_LETTER_TABLE}")
    assert "over the" in reason


def test_a_ping_flood_into_a_peer_that_never_reads_is_dropped_and_sigterm_ends_the_run(tmp_path: Path) -> None:
    ping = server_frame(0x89, b"p" * 125)
    flood = ping * ((1 << 20) // len(ping))

    async def script(reader, writer, request):
        writer.write(switching_protocols(request) + encode_frame(reading(server.connections)))
        deadline = time.monotonic() + SCRIPT_DEADLINE_S
        while time.monotonic() < deadline:  # never reads the pongs
            writer.write(flood)
            await writer.drain()

    db = tmp_path / "flood.db"
    with RawServer(script) as server:
        process = start_ingest(server.url, db)
        # The client drops the dead peer and connects again: then it is still alive and in charge.
        summary = finish(process, terminate_when=lambda: server.connections >= 2)
    assert server.connections >= 2
    assert summary["received"] >= 1
    assert_accounted(summary, db)


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_a_burst_then_close_arrives_whole_and_nothing_after_the_close(tmp_path: Path, deflate: bool) -> None:
    """30 messages (whole, fragmented with a ping inside, compressed), the close frame and the end of the TCP
    stream in one write right after the handshake, all before delivery starts; frames after the close must not
    become rows."""

    async def script(reader, writer, request):
        extensions = "permessage-deflate; server_no_context_takeover" if deflate else None
        burst = bytearray(switching_protocols(request, extensions))
        for seq in range(1, 31):
            text = reading(seq)
            if seq % 3 == 0:
                burst += server_frame(0x01, text[:5].encode()) + server_frame(0x89, b"hi")
                burst += server_frame(0x80, text[5:].encode())
            elif seq % 3 == 1 and deflate:
                burst += compressed(text)
            else:
                burst += encode_frame(text)
        burst += CLOSE_1000 + encode_frame(reading(99)) + encode_frame(reading(100))
        writer.write(burst)
        writer.close()  # and the TCP connection's end (FIN) right behind it
        await writer.wait_closed()

    db = tmp_path / "burst.db"
    with RawServer(script) as server:
        config = IngestConfig(url=server.url, db_path=db, max_messages=30,
                              compression="deflate" if deflate else None)
        stats = run_bounded(IngestSession(config).run(), 30)
    assert (stats.received, stats.written, stats.dead_letters) == (30, 30, 0)
    assert rows(db, "SELECT seq FROM readings ORDER BY rowid") == [(seq,) for seq in range(1, 31)]


def test_a_protocol_error_says_why_in_the_final_json(tmp_path: Path) -> None:
    """A masked frame from the server: the client closes with 1002; the reason is the run's last error until
    messages flow again (here they never do: the server says nothing on the next connection)."""
    closes: list[bytes] = []

    async def script(reader, writer, request):
        writer.write(switching_protocols(request))
        if server.connections == 1:
            writer.write(encode_frame(reading(1)) + bytes((0x81, 0x84)) + b"mask" + b"\x00" * 4)
            closes.append(await asyncio.wait_for(reader.read(64), 5))
            return  # and close the TCP connection, as a server does after the closing handshake
        await asyncio.sleep(SCRIPT_DEADLINE_S)

    db = tmp_path / "broken.db"
    with RawServer(script) as server:
        summary = finish(start_ingest(server.url, db), terminate_when=lambda: server.connections >= 2)
    assert closes and closes[0][0] == 0x88 and struct.unpack("!H", unmask(closes[0]))[0] == 1002
    assert "incorrect masking" in summary["last_error"] and "1002" in summary["last_error"], summary
    assert (summary["received"], summary["written"]) == (1, 1)
    assert_accounted(summary, db)


def unmask(frame: bytes) -> bytes:
    """The first two payload bytes of a short masked client frame."""
    key = frame[2:6]
    return bytes(byte ^ key[index % 4] for index, byte in enumerate(frame[6:8]))
