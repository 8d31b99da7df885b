"""Live ingest: a WebSocket client feeding the batching WAL writer, or the same pipeline fed from a file.

`IngestSession.run()` runs on the current asyncio loop (the app's qasync loop, or `asyncio.run` headless):
it connects, reconnects with capped exponential backoff and jitter, and hands received messages to the
writer thread in chunks. The receive loop does as little as possible per message (append to a list);
parsing, mapping and SQLite run on the writer thread. When the writer's queue is full the loop stops
reading, so TCP pushes back on the server instead of memory growing.

Every message is accounted for: received == written + dead_letters + unwritten + queue_depth, where
queue_depth is zero once `run()` has returned and `unwritten` is non-zero only after a fatal database
error (or an explicit flush deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from desktop_app.core.errors import PulseError
from desktop_app.core.mapping import DEFAULT_MAX_MESSAGE_BYTES, Column, Message, MessageMapper
from desktop_app.core.writer import (
    DEFAULT_BATCH_MS,
    DEFAULT_BATCH_ROWS,
    BatchWriter,
    CommitCallback,
    WriterConfig,
    WriterStats,
)

CHUNK_ROWS = 256  # messages per hand-over to the writer thread
FLUSH_TICK_S = 0.01  # a partly filled chunk waits at most this long for the writer (received_at precision)
ROOM_POLL_S = 0.005  # how often a blocked receive loop checks the writer's queue for room
RATE_WINDOW_S = 2.0
CLOSE_TIMEOUT_S = 2.0
RECEIVE_QUEUE_FRAMES = 1024  # frames websockets buffers before it stops reading the socket


class IngestError(PulseError):
    """The stream cannot be ingested as configured (bad URL, bad table name, ...)."""


@dataclass(frozen=True)
class IngestConfig:
    url: str
    db_path: Path
    table: str = "readings"
    raw: bool = False
    max_messages: int | None = None  # stop after receiving this many messages
    seconds: float | None = None  # stop after this long
    columns: tuple[Column, ...] | None = None  # explicit typed columns; None: inferred from the first messages
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_ms: float = DEFAULT_BATCH_MS
    max_queued_rows: int = 50_000
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # larger messages become dead letters
    seq_field: str | None = "seq"  # a field carrying a sequence number, for gap detection
    compression: str | None = None  # None: offer none (and fall back to "deflate" only if the server insists)
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    open_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_after: float = 10.0  # a connection that lived this long resets the backoff
    verify_tls: bool = True  # wss: verify the server's certificate and host name
    ca_file: Path | None = None  # wss: trust this CA bundle instead of the system's
    flush_timeout_s: float | None = None  # on stop, give up on a locked/full database after this long
    max_page_count: int | None = None  # size limit for the writer's connection (tests simulate a full disk)
    # While running, the interpreter's thread switch interval. Each SQLite call of the writer thread hands the
    # GIL to the busy receive loop, and getting it back waits up to one interval: at 1 ms instead of Python's
    # 5 ms the writer's time per batch halves (measured: 12.5 -> 6.5 ms per 1024 rows). None leaves it alone.
    gil_switch_interval_s: float | None = 0.001

    def writer_config(self) -> WriterConfig:
        return WriterConfig(
            batch_rows=self.batch_rows,
            batch_ms=self.batch_ms,
            max_queued_rows=self.max_queued_rows,
            flush_timeout_s=self.flush_timeout_s,
            max_page_count=self.max_page_count,
        )

    def mapper(self) -> MessageMapper:
        return MessageMapper(
            self.table,
            raw=self.raw,
            columns=self.columns,
            max_message_bytes=self.max_message_bytes,
            seq_field=self.seq_field,
        )


@dataclass(frozen=True)
class IngestStats:
    received: int
    written: int
    dead_letters: int
    reconnects: int  # connections re-established after the first
    gaps: int  # sequence-number gaps seen (each may span several numbers: see `missing`)
    queue_depth: int  # received, not yet committed
    batches: int
    rows_per_s: float  # written / seconds since the first message (to the final commit once stopped)
    state: str  # "connecting" | "connected" | "backoff" | "paused" | "stopped"
    next_retry_in: float | None  # seconds until the next connection attempt, in "backoff"
    pause_reason: str | None  # why the writer is paused (locked database, full disk)
    last_error: str | None
    seconds: float  # since run() started
    missing: int = 0
    unwritten: int = 0
    recent_rows_per_s: float = 0.0  # over the last two seconds
    last_commit_ms: float = 0.0
    mean_commit_ms: float = 0.0
    max_commit_ms: float = 0.0
    journal_mode: str | None = None
    compression: str | None = None
    peak_rss_mb: float = 0.0  # of this process

    def to_dict(self) -> dict:
        return asdict(self)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise IngestError(f"{url!r} is not a WebSocket URL: expected ws://host:port/path or wss://...")
    return url


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter: uniform in [base/2, base], base = initial * 2**attempt."""
    base = min(cap, initial * (2 ** min(attempt, 30)))
    return base / 2 + rng.random() * base / 2


@dataclass
class _Rate:
    """Written-row history for the recent rate; appended on the writer thread, read anywhere."""

    points: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=512))

    def add(self, written: int) -> None:
        self.points.append((time.monotonic(), written))

    def per_second(self, now: float, written: int) -> float:
        """Rows committed since the oldest commit inside the window, per second since that commit."""
        window = [point for point in list(self.points) if now - point[0] <= RATE_WINDOW_S]
        if not window:
            return 0.0
        oldest_time, oldest_written = window[0]
        return round(max(written - oldest_written, 0) / max(now - oldest_time, 1e-3), 1)


class _Pipeline:
    """What a session and a file ingest share: the writer, the counters, the stats snapshot."""

    def __init__(self, config: IngestConfig, on_commit: CommitCallback | None) -> None:
        self.config = config
        self._user_on_commit = on_commit
        self._rate = _Rate()
        self._written_running = 0
        self.writer = BatchWriter(
            config.db_path, config.mapper(), config.writer_config(), on_commit=self._on_commit
        )
        self._pending: list[Message] = []
        self._handed = 0  # messages submitted to the writer
        self._lost = 0  # messages the writer never got (it stopped on a fatal error)
        self._started = time.monotonic()
        self._first_message_at: float | None = None
        self._finished_at: float | None = None
        self._state = "connecting"
        self._next_retry_at: float | None = None
        self._last_error: str | None = None
        self._reconnects = 0
        self._compression: str | None = config.compression

    def _on_commit(self, rows: int, commit_ms: float) -> None:
        self._written_running += rows
        self._rate.add(self._written_running)
        if self._user_on_commit is not None:
            self._user_on_commit(rows, commit_ms)

    def _try_handoff(self) -> bool:
        """Give the pending messages to the writer; False when its queue is full (they stay pending)."""
        pending = self._pending
        if not pending:
            return True
        if self._first_message_at is None:
            self._first_message_at = time.monotonic()
        if not self.writer.submit((time.time(), pending)):
            if not self.writer.alive:
                self._lost += len(pending)
                self._pending = []
                raise self.writer.error or PulseError("The writer stopped.")
            return False
        self._pending = []
        self._handed += len(pending)
        return True

    def _force_handoff(self) -> None:
        pending = self._pending
        if pending:
            if self._first_message_at is None:
                self._first_message_at = time.monotonic()
            self._pending = []
            if self.writer.submit((time.time(), pending), force=True):
                self._handed += len(pending)
            else:
                self._lost += len(pending)

    def stats(self) -> IngestStats:
        writer: WriterStats = self.writer.stats()
        now = time.monotonic()
        pending = len(self._pending)
        received = self._handed + pending + self._lost
        end = self._finished_at or now
        active = end - self._first_message_at if self._first_message_at is not None else 0.0
        state = self._state
        if writer.state == "paused" and state != "stopped":
            state = "paused"
        next_retry = None
        if state == "backoff" and self._next_retry_at is not None:
            next_retry = round(max(0.0, self._next_retry_at - now), 3)
        unwritten = writer.unwritten + self._lost
        return IngestStats(
            received=received,
            written=writer.written,
            dead_letters=writer.dead_letters,
            reconnects=self._reconnects,
            gaps=writer.gaps,
            queue_depth=max(received - writer.written - writer.dead_letters - unwritten, 0),
            batches=writer.batches,
            rows_per_s=round(writer.written / active, 1) if active > 0 else 0.0,
            state=state,
            next_retry_in=next_retry,
            pause_reason=writer.pause_reason,
            last_error=self._last_error or writer.last_error,
            seconds=round(end - self._started, 3),
            missing=writer.missing,
            unwritten=unwritten,
            recent_rows_per_s=self._rate.per_second(now, writer.written) if state != "stopped" else 0.0,
            last_commit_ms=writer.last_commit_ms,
            mean_commit_ms=writer.mean_commit_ms,
            max_commit_ms=writer.max_commit_ms,
            journal_mode=writer.journal_mode,
            compression=self._compression,
            peak_rss_mb=peak_rss_mb(),
        )


class IngestSession(_Pipeline):
    """One live ingest from a WebSocket URL into a table. `run()` on an asyncio loop; `stop()`/`stats()`
    from any thread. `run()` raises the writer's PulseError if the database failed fatally."""

    def __init__(self, config: IngestConfig, *, on_commit: CommitCallback | None = None) -> None:
        check_url(config.url)
        super().__init__(config, on_commit)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._rng = random.Random()
        self._ssl: ssl.SSLContext | None = None

    # -- control ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Thread-safe: run() flushes and returns soon after."""
        self._stop_requested.set()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: run() is over anyway
                loop.call_soon_threadsafe(event.set)

    def set_max_page_count(self, pages: int | None) -> None:
        """Change the writer's size limit (None: unlimited). Tests use it to simulate freeing disk space."""
        self.writer.set_max_page_count(pages)

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    # -- the run ----------------------------------------------------------------------------------------

    async def run(self) -> IngestStats:
        if self._loop is not None:
            raise RuntimeError("an IngestSession runs once")
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested.is_set():
            self._stop_event.set()
        self._started = time.monotonic()
        self._ssl = self._ssl_context()
        try:
            await self._loop.run_in_executor(None, self.writer.start)
        except PulseError as exc:
            self._last_error = str(exc)
            self._state = "stopped"
            self._finished_at = time.monotonic()
            raise
        timer = self._loop.call_later(self.config.seconds, self.stop) if self.config.seconds else None
        flusher = asyncio.ensure_future(self._flush_ticks())
        switch_interval = _SwitchInterval(self.config.gil_switch_interval_s)
        try:
            await self._connect_loop()
        finally:
            switch_interval.restore()
            if timer is not None:
                timer.cancel()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            self._force_handoff()
            await asyncio.shield(self._loop.run_in_executor(None, self.writer.stop))
            self._state = "stopped"
            self._next_retry_at = None
            self._finished_at = time.monotonic()
        if self.writer.error is not None:
            raise self.writer.error
        return self.stats()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if urlsplit(self.config.url).scheme != "wss":
            return None
        context = ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _flush_ticks(self) -> None:
        """Hands a partly filled chunk to the writer when the stream is slow or idle."""
        while True:
            await asyncio.sleep(FLUSH_TICK_S)
            try:
                self._try_handoff()
            except PulseError:  # the writer stopped on a fatal error: end the run, run() raises it
                self.stop()
                return

    async def _connect_loop(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

        assert self._stop_event is not None
        attempt = 0
        connections = 0
        tried_compression = self.config.compression is not None
        while not self._stop_event.is_set():
            self._state = "connecting"
            connected_at = None
            try:
                async with connect(
                    self.config.url,
                    compression=self._compression,
                    ping_interval=self.config.ping_interval,
                    ping_timeout=self.config.ping_timeout,
                    open_timeout=self.config.open_timeout,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=4 * self.config.max_message_bytes,
                    max_queue=RECEIVE_QUEUE_FRAMES,
                    ssl=self._ssl,
                ) as connection:
                    connected_at = time.monotonic()
                    connections += 1
                    if connections > 1:
                        self._reconnects += 1
                    self._state = "connected"
                    self._last_error = None
                    await self._receive_until_stopped(connection)
                    return  # a limit was reached or stop() was called
            except ConnectionClosed as exc:
                self._last_error = f"Connection closed: {_describe_close(exc)}"
            except InvalidURI as exc:
                raise IngestError(f"Bad WebSocket URL: {exc}") from exc
            except InvalidHandshake as exc:
                self._last_error = f"The server refused the WebSocket handshake: {exc}"
                if not tried_compression:
                    # Some servers insist on compression; offer it once, keep it if that was the reason.
                    tried_compression = True
                    self._compression = "deflate"
            except (OSError, TimeoutError) as exc:
                self._last_error = f"Cannot connect to {self.config.url}: {exc or type(exc).__name__}"
            if self._stop_event.is_set():
                return
            if connected_at is not None and time.monotonic() - connected_at >= self.config.stable_after:
                attempt = 0  # it was a good connection: start the backoff over
            delay = backoff_delay(attempt, self.config.backoff_initial, self.config.backoff_max, self._rng)
            attempt += 1
            self._state = "backoff"
            self._next_retry_at = time.monotonic() + delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), delay)
            self._next_retry_at = None

    async def _receive_until_stopped(self, connection: object) -> None:
        """Receive until we are done (a limit, or stop()); a dropped connection raises ConnectionClosed."""
        assert self._stop_event is not None
        receiving = asyncio.ensure_future(self._receive(connection))
        stopping = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, stopping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if not receiving.cancelled():
            receiving.result()  # re-raises ConnectionClosed from a drop

    async def _receive(self, connection: object) -> None:
        """The hot loop. Returns when max_messages is reached; raises ConnectionClosed on a drop."""
        recv = connection.recv  # type: ignore[attr-defined]
        limit = self.config.max_messages
        left = None if limit is None else limit - (self._handed + len(self._pending) + self._lost)
        if left is not None and left <= 0:
            self.stop()
            return
        while True:
            message = await recv()
            if self._first_message_at is None:  # rates count from the first message received
                self._first_message_at = time.monotonic()
            pending = self._pending
            pending.append(message)
            if len(pending) >= CHUNK_ROWS and not self._try_handoff():
                await self._wait_for_room()
            if left is not None:
                left -= 1
                if left == 0:
                    self.stop()
                    return

    async def _wait_for_room(self) -> None:
        while not self._try_handoff():
            await asyncio.sleep(ROOM_POLL_S)


class _SwitchInterval:
    """Sets sys.setswitchinterval for a run; restores the previous value unless someone changed it since."""

    def __init__(self, seconds: float | None) -> None:
        self.previous = sys.getswitchinterval()
        self.applied = seconds
        if seconds is not None:
            sys.setswitchinterval(seconds)

    def restore(self) -> None:
        if self.applied is not None and sys.getswitchinterval() == self.applied:
            sys.setswitchinterval(self.previous)


def _describe_close(exc: Exception) -> str:
    received = getattr(exc, "rcvd", None)
    if received is None:
        return "no close frame (the connection dropped)"
    reason = f" {received.reason}" if received.reason else ""
    return f"code {received.code}{reason}"


# -- the same pipeline, fed from a file --------------------------------------------------------------------


def read_ndjson(path: Path) -> Iterator[Message]:
    """One message per line; a line that is not UTF-8 stays bytes (and becomes a dead letter)."""
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                yield line.decode()
            except UnicodeDecodeError:
                yield line


class FileIngest(_Pipeline):
    """Replays a recorded NDJSON file through the writer (no network): same mapping, batches and counters."""

    def __init__(self, source: Path, config: IngestConfig, *, on_commit: CommitCallback | None = None) -> None:
        super().__init__(config, on_commit)
        self.source = Path(source)
        self._stop_requested = threading.Event()

    def stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> IngestStats:
        if not self.source.is_file():
            raise IngestError(f"{self.source} does not exist or is not a file.")
        self._started = time.monotonic()
        self.writer.start()
        self._state = "connected"
        limit = self.config.max_messages
        deadline = None if self.config.seconds is None else self._started + self.config.seconds
        try:
            for count, message in enumerate(read_ndjson(self.source), start=1):
                if self._stop_requested.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    break
                self._pending.append(message)
                if len(self._pending) >= CHUNK_ROWS:
                    while not self._try_handoff():
                        time.sleep(ROOM_POLL_S)
                if limit is not None and count >= limit:
                    break
        finally:
            self._force_handoff()
            self.writer.stop()
            self._state = "stopped"
            self._finished_at = time.monotonic()
        if self.writer.error is not None:
            raise self.writer.error
        return self.stats()


def ingest_file(source: Path, config: IngestConfig, *, on_commit: Callable[[int, float], None] | None = None) -> IngestStats:
    return FileIngest(source, config, on_commit=on_commit).run()
