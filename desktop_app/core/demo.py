"""A built-in WebSocket stream of synthetic sensor readings, so a live demo (and every test) needs no internet.

Each message is one JSON object: device_id, seq (1, 2, 3, ... across the whole server), ts, temperature,
humidity, pressure, battery. Temperatures and humidities random-walk per device; batteries drain slowly.

The server is one logical stream: message numbers (`frames`) count up across connections. Optional faults:
- `drop_every=K`: after K messages on a connection the TCP connection is cut without a close frame, and the
  message that was in flight is lost (so each drop leaves a gap of one in `seq`).
- `malformed_every=M`: every M-th message is malformed instead of a reading, cycling through invalid JSON,
  a reading with a wrong type (no `seq`, so it does not disturb gap counting) and a binary frame.
- `count=N`: after N messages in total (lost ones included) the stream is complete: open connections are
  closed normally (1000) and new ones are closed right after the handshake.
`rate` is messages per second per connection; None sends as fast as the client takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from desktop_app.core.children import BlockingChild, ChildProcess, app_command

SEND_CHUNK = 256  # messages written per flow-control check when unthrottled
RATE_TICK_S = 0.02
DEVICES = 16
READING = (
    '{"device_id":"%s","seq":%d,"ts":%.3f,"temperature":%.2f,"humidity":%.1f,"pressure":%.1f,"battery":%d}'
)
MALFORMED_KINDS = ("invalid_json", "wrong_type", "binary")
STREAM_COMPLETE = "stream complete"


def encode_frame(message: str | bytes) -> bytes:
    """One unmasked server-to-client WebSocket frame (RFC 6455 section 5.2): text for str, binary for bytes."""
    if isinstance(message, str):
        return server_frame(0x81, message.encode())  # FIN + text
    return server_frame(0x82, message)  # FIN + binary


def server_frame(first_byte: int, payload: bytes) -> bytes:
    """An unmasked frame with any first byte (FIN, RSV bits, opcode): fragments and control frames too."""
    size = len(payload)
    if size < 126:
        return bytes((first_byte, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", first_byte, 126, size) + payload
    return struct.pack("!BBQ", first_byte, 127, size) + payload


@dataclass
class _Device:
    name: str
    temperature: float
    humidity: float
    pressure: float
    battery: float


class SensorFeed:
    """Produces the stream's messages in order; shared by all connections of one server."""

    def __init__(self, *, malformed_every: int | None = None, seed: int | None = None) -> None:
        self.random = random.Random(seed)
        rnd = self.random.random
        self.devices = [
            _Device(f"sensor-{index:02d}", 18 + 6 * rnd(), 35 + 30 * rnd(), 1000 + 25 * rnd(), 60 + 40 * rnd())
            for index in range(DEVICES)
        ]
        self.malformed_every = malformed_every
        self.frames = 0  # messages produced (sent or lost)
        self.seq = 0  # readings produced
        self.malformed = 0

    def take(self, count: int) -> list[str | bytes]:
        """The next `count` messages."""
        out: list[str | bytes] = []
        append = out.append
        every = self.malformed_every
        rnd = self.random.random
        devices = self.devices
        now = time.time()
        frame, seq = self.frames, self.seq
        for _ in range(count):
            frame += 1
            if every and frame % every == 0:
                append(self._malformed())
                continue
            seq += 1
            device = devices[seq % DEVICES]
            device.temperature += (rnd() - 0.5) * 0.2
            device.humidity = min(100.0, max(0.0, device.humidity + (rnd() - 0.5) * 0.5))
            device.pressure += (rnd() - 0.5) * 0.3
            device.battery = max(0.0, device.battery - 0.001)
            append(
                READING
                % (device.name, seq, now, device.temperature, device.humidity, device.pressure, device.battery)
            )
        self.frames, self.seq = frame, seq
        return out

    def lose(self) -> None:
        """The message in flight when a connection drops never arrives."""
        self.take(1)

    def _malformed(self) -> str | bytes:
        kind = MALFORMED_KINDS[self.malformed % len(MALFORMED_KINDS)]
        self.malformed += 1
        if kind == "invalid_json":
            return '{"device_id":"sensor-00","seq":'  # cut short
        if kind == "wrong_type":
            return json.dumps({"device_id": "sensor-00", "ts": time.time(), "temperature": "n/a"})
        return b'\xff\xfe{"binary":true}'  # not UTF-8 either, so a file replay sees it as binary


def write_ndjson(path: Path, count: int, *, malformed_every: int | None = None, seed: int | None = None) -> None:
    """Record `count` messages of the stream to a file, one per line, for `ingest-file` and other tools.
    Binary messages are written as their bytes (they are not UTF-8 and become dead letters on replay)."""
    feed = SensorFeed(malformed_every=malformed_every, seed=seed)
    with Path(path).open("wb") as handle:
        remaining = count
        while remaining > 0:
            messages = feed.take(min(remaining, 10_000))
            remaining -= len(messages)
            handle.write(
                b"".join(
                    (message.encode() if isinstance(message, str) else message) + b"\n" for message in messages
                )
            )


class DemoServer:
    """`async with DemoServer(...) as server:` serves on 127.0.0.1 until the block ends; `server.url`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float | None = None,
        count: int | None = None,
        drop_every: int | None = None,
        malformed_every: int | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        for name, value in (("rate", rate), ("count", count), ("drop_every", drop_every)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if malformed_every is not None and malformed_every < 2:
            raise ValueError("malformed_every must be at least 2")
        self.host, self.port = host, port
        self.rate, self.count, self.drop_every = rate, count, drop_every
        self.feed = SensorFeed(malformed_every=malformed_every, seed=seed)
        self.connections = 0
        self.drops = 0
        self.sent = 0
        self._server: Server | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"ws://{self.host}:{self.port}"

    @property
    def complete(self) -> bool:
        return self.count is not None and self.feed.frames >= self.count

    async def start(self) -> DemoServer:
        # Compression only if a client asks for it (ours does not: it halves loopback throughput).
        self._server = await serve(self._handle, self.host, self.port, max_size=2**20)
        sockets = list(self._server.sockets)
        self.port = sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> DemoServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        sent_here = 0
        started = time.monotonic()
        with contextlib.suppress(ConnectionClosed):
            while True:
                allowed = self._allowed(sent_here, started)
                if allowed is None:
                    await connection.close(1000, STREAM_COMPLETE)
                    return
                if allowed == 0:
                    await asyncio.sleep(RATE_TICK_S)
                    continue
                messages = self.feed.take(allowed)
                if len(messages) > 1 and connection.protocol.state is State.OPEN:
                    # Whole frames in one write, so the stream outpaces any client (the benchmark's receive-only
                    # baseline must measure the client, not this server); send() then applies flow control.
                    connection.transport.write(b"".join(map(encode_frame, messages[:-1])))
                await connection.send(messages[-1])
                sent_here += allowed
                self.sent += allowed
                if self.drop_every and sent_here >= self.drop_every:
                    self.feed.lose()
                    self.drops += 1
                    connection.transport.abort()  # a drop, not a goodbye: no close frame
                    return

    def _allowed(self, sent_here: int, started: float) -> int | None:
        """How many messages to send now; None when the stream is complete."""
        remaining = None if self.count is None else self.count - self.feed.frames
        if remaining is not None and remaining <= 0:
            return None
        allowed = SEND_CHUNK
        if self.rate is not None:
            allowed = int(self.rate * (time.monotonic() - started)) - sent_here
        if self.drop_every:
            allowed = min(allowed, self.drop_every - sent_here)
        if remaining is not None:
            allowed = min(allowed, remaining)
        return max(allowed, 0)


# -- the demo server in its own process ------------------------------------------------------------------

READY_PREFIX = "demo-server listening on "


def demo_server_command(
    *,
    port: int = 0,
    rate: float | None = None,
    count: int | None = None,
    drop_every: int | None = None,
    malformed_every: int | None = None,
    watch_stdin: bool = True,
) -> list[str]:
    """argv running the `demo-server` verb: the same executable when frozen, else this Python. With
    `watch_stdin` the server exits when its stdin reaches EOF (its parent closed it, or died)."""
    command = app_command("demo-server", "--port", str(port))
    if watch_stdin:
        command.append("--watch-stdin")
    for flag, value in (
        ("--rate", rate),
        ("--count", count),
        ("--drop-every", drop_every),
        ("--malformed-every", malformed_every),
    ):
        if value is not None:
            command += [flag, str(value)]
    return command


def announced_url(line: str) -> str | None:
    """The URL on the server's ready line; None for any other line."""
    return line[len(READY_PREFIX) :].strip() if line.startswith(READY_PREFIX) else None


async def start_demo_server(
    *,
    rate: float | None = None,
    count: int | None = None,
    port: int = 0,
    drop_every: int | None = None,
    malformed_every: int | None = None,
    ready_timeout: float = 20.0,
) -> ChildProcess:
    """The demo server as a child process, once it listens: `.url`; `await .stop()` ends it (stdin EOF)."""
    command = demo_server_command(
        port=port, rate=rate, count=count, drop_every=drop_every, malformed_every=malformed_every
    )
    return await ChildProcess.start(command, name="demo server", ready=announced_url, ready_timeout=ready_timeout)


def spawn_demo_server(**options: Any) -> BlockingChild:
    """`start_demo_server` for callers without a loop: `with spawn_demo_server(count=100) as server:`."""
    return BlockingChild(lambda: start_demo_server(**options))
