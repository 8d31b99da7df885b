"""One ingest: a source feeding the writer thread, with the counters that tie them together.

`IngestSession.run()` runs on the current asyncio loop (the worker's `asyncio.run`, or a test's): the source
receives and puts messages in the inbox (as little work per message as possible); chunks go to the writer
thread, which parses, maps and commits. When the writer's queue is full (in messages or bytes) the source
stops reading, so TCP pushes back on the server instead of memory growing.

Every message is accounted for: received == written + dead_letters + duplicates + unwritten + queue_depth, where
queue_depth is zero once `run()` has returned and `unwritten` is non-zero only after a fatal database
error, a flush deadline, or `abandon()`.

A run that would create the SQLite file opens it only once the source has connected (or a message came):
a stream that never connects leaves no file behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.core.errors import DatabaseMissing, DatabaseReadOnly, PulseError
from desktop_app.core.ingest.config import IngestConfig
from desktop_app.core.ingest.inbox import committed_hook
from desktop_app.core.ingest.mapping import Message, MessageMapper, Oversized
from desktop_app.core.ingest.sink import SQLiteSink
from desktop_app.core.ingest.sinks import sink_for
from desktop_app.core.ingest.sources import Inbox, Source, source_for
from desktop_app.core.ingest.stats import IngestStats, peak_rss_mb
from desktop_app.core.ingest.writer import BatchWriter, CommitCallback

FLUSH_TICK_S = 0.01  # a partly filled chunk waits at most this long for the writer (received_at precision)
RATE_WINDOW_S = 2.0
# After stop(), how long the source may take to finish (a closing handshake, a connection attempt still
# opening) before it is cancelled: every exit path has a deadline.
SOURCE_STOP_S = 3.0


class IngestFailed(PulseError):
    """The run ended on a fatal error (the database went read-only, ...); `stats` has the final counts."""

    def __init__(self, error: PulseError, stats: IngestStats) -> None:
        super().__init__(str(error))
        self.error = error
        self.stats = stats


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


class IngestSession:
    """One ingest from a source (chosen by the URL: ws://, wss://, file://) into a table. `run()` on an
    asyncio loop; `stop()`, `abandon()`, `stats()` from any thread. `run()` raises IngestFailed (with the
    final stats) when the database failed fatally."""

    def __init__(
        self,
        config: IngestConfig,
        *,
        source: Source | None = None,
        on_commit: CommitCallback | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.config = config.validated()
        self.source = source if source is not None else source_for(self.config)
        self._user_on_commit = on_commit
        self._on_change = on_change  # called on the loop when the state changes (the worker reports at once)
        self._rate = _Rate()
        self._written_running = 0
        self._acknowledge = committed_hook(self.source)  # MQTT: acknowledge what has committed
        self._accounted = 0  # messages committed as rows, dead letters or skipped duplicates (writer thread)
        self.mapper = MessageMapper(
            config.table,
            raw=config.raw,
            columns=config.columns,
            max_message_bytes=config.max_message_bytes,
            seq_field=config.seq_field,
        )
        writer_config = config.writer_config()
        sink = sink_for(config.db_path, self.mapper, busy_timeout_ms=writer_config.busy_timeout_ms,
                        max_page_count=writer_config.max_page_count, retention=config.retention(),
                        dedupe=self.config.dedupe_columns())
        self.writer = BatchWriter(sink, self.mapper, writer_config, on_commit=self._on_commit)
        if config.max_page_count is not None:
            self.writer.set_max_page_count(config.max_page_count)
        self.inbox = Inbox(self._handoff, config.max_message_bytes, config.max_messages)
        self._handed = 0  # messages submitted to the writer
        self._lost = 0  # messages the writer never got (it stopped on a fatal error)
        self._started = time.monotonic()
        self._finished_at: float | None = None
        self._stopped = False
        self._last_state: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = threading.Event()
        self._source_task: asyncio.Future | None = None
        self._source_deadline: asyncio.TimerHandle | None = None
        self._writer_start: asyncio.Future | None = None
        self.ever_connected = False  # the source connected at least once (or delivered a message)

    # -- control (any thread) ---------------------------------------------------------------------------

    def stop(self) -> None:
        """run() flushes what was received and returns soon after."""
        self._stop_requested.set()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: run() is over anyway
                loop.call_soon_threadsafe(self._stop_source)
        else:
            self.source.stop()

    def _stop_source(self) -> None:
        """On the loop: ask the source to end, and cancel it if it has not after SOURCE_STOP_S."""
        self.source.stop()
        task = self._source_task
        if task is not None and self._source_deadline is None and self._loop is not None:
            self._source_deadline = self._loop.call_later(SOURCE_STOP_S, task.cancel)

    def abandon(self) -> int:
        """Stop without waiting for a stuck database (a second interrupt): returns how many received messages
        are given up on; they are counted in `unwritten`."""
        self.stop()
        return self.writer.abandon() + len(self.inbox.pending)

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
        self._loop = loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        try:
            if not self._would_create_database():  # an existing database: its problems show at once
                await self._start_writer()
        except PulseError as exc:
            self._stopped = True
            self._finished_at = time.monotonic()
            raise IngestFailed(exc, self.stats()) from exc
        timer = loop.call_later(self.config.seconds, self.stop) if self.config.seconds else None
        ticker = asyncio.ensure_future(self._ticks())
        switch_interval = _SwitchInterval(self.config.gil_switch_interval_s)
        self._source_task = source = asyncio.ensure_future(self.source.run(self.inbox))
        if self._stop_requested.is_set():
            self._stop_source()
        try:
            await asyncio.wait({source})
            if not source.cancelled():  # cancelled: it outlived SOURCE_STOP_S after stop()
                source.result()
        except PulseError:
            if self.writer.error is None:
                raise  # the source's own error (a bad URL, a missing file)
        finally:
            switch_interval.restore()
            for handle in (timer, self._source_deadline):
                if handle is not None:
                    handle.cancel()
            for task in (source, ticker):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self._watch_source()
            self._force_handoff()
            if self.ever_connected:
                self._start_writer()
            if self._writer_start is not None:  # a writer that failed to start has its error in writer.error
                with contextlib.suppress(PulseError):
                    await asyncio.shield(self._writer_start)
            await asyncio.shield(loop.run_in_executor(None, self.writer.stop))
            self._stopped = True
            self._finished_at = time.monotonic()
            self._notify()
        if self.writer.error is not None:
            raise IngestFailed(self.writer.error, self.stats())
        return self.stats()

    async def _ticks(self) -> None:
        """Hands a partly filled chunk to the writer when the stream is slow or idle; notices state changes."""
        while True:
            await asyncio.sleep(FLUSH_TICK_S)
            self._watch_source()
            if self.ever_connected:
                self._start_writer()  # submit() queues meanwhile; a failure ends the run just below
            if not self.writer.alive and self.writer.error is not None:
                self.stop()  # the writer stopped on a fatal error: end the run, run() raises it
                return
            self.inbox.flush()
            self._notify()

    def _watch_source(self) -> None:
        if not self.ever_connected:
            self.ever_connected = self.source.status.connections > 0 or self.inbox.received > 0

    def _start_writer(self) -> asyncio.Future:
        """Open the sink on a worker thread (once); a failure is raised by the future and kept in writer.error."""
        if self._writer_start is None:
            loop = asyncio.get_running_loop()
            self._writer_start = asyncio.ensure_future(loop.run_in_executor(None, self.writer.start))
        return self._writer_start

    def _would_create_database(self) -> bool:
        """True when opening the target would create the SQLite file; raises when it could not be created."""
        if not isinstance(self.writer.sink, SQLiteSink):  # a server: its tables come with the first batch
            return False
        path = Path(self.config.db_path).expanduser().absolute()
        try:
            if os.stat(path).st_size > 0:
                return False
        except FileNotFoundError:
            folder = path.parent
            if not folder.is_dir():
                raise DatabaseMissing(f"The folder {folder} does not exist.") from None
            if not os.access(folder, os.W_OK | os.X_OK):
                raise DatabaseReadOnly(f"Cannot create {path.name}: the folder {folder} is not writable.") from None
        except OSError:
            return False  # the writer's open says what is wrong with it
        return True  # missing, or empty (the sink would write a new database into it)

    def _notify(self) -> None:
        state = self._state()
        if state != self._last_state:
            self._last_state = state
            if self._on_change is not None:
                self._on_change()

    # -- hand-over to the writer ------------------------------------------------------------------------

    def _handoff(self, messages: list[Message | Oversized], nbytes: int) -> bool:
        if self.writer.submit((time.time(), messages), nbytes):
            self._handed += len(messages)
            return True
        if not self.writer.alive and self.writer.error is not None:
            self._lost += len(messages)  # nobody will write them: count them, and let the source go on
            return True
        return False

    def _force_handoff(self) -> None:
        pending = self.inbox.pending
        if pending:
            self.inbox.pending, nbytes, self.inbox.pending_bytes = [], self.inbox.pending_bytes, 0
            if self.writer.submit((time.time(), pending), nbytes, force=True):
                self._handed += len(pending)
            else:
                self._lost += len(pending)

    def _on_commit(self, rows: int, commit_ms: float) -> None:
        self._written_running += rows
        self._rate.add(self._written_running)
        if self._acknowledge is not None:
            # On the writer thread, after its counters moved: the messages this batch accounted for, whatever
            # became of them. The source acknowledges them on its loop.
            writer = self.writer.stats()
            accounted = writer.written + writer.dead_letters + self._duplicates()
            messages, self._accounted = accounted - self._accounted, accounted
            loop = self._loop
            if messages and loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed in between: nothing to acknowledge on
                    loop.call_soon_threadsafe(self._acknowledge, messages)
        if self._user_on_commit is not None:
            self._user_on_commit(rows, commit_ms)

    # -- counters ---------------------------------------------------------------------------------------

    def _trimmed(self) -> tuple[int, int]:
        """Rows and dead letters retention deleted, committed (the SQLite sink only)."""
        sink = self.writer.sink
        return int(getattr(sink, "trimmed", 0)), int(getattr(sink, "trimmed_dead_letters", 0))

    def _duplicates(self) -> int:
        """Rows the sink skipped for a key already present (--dedupe-key), committed."""
        return int(getattr(self.writer.sink, "duplicates", 0))

    def _state(self) -> str:
        if self._stopped:
            return "stopped"
        if self.writer.stats().state == "paused":
            return "paused"
        state = self.source.status.state
        return "connected" if state == "done" else state

    def stats(self) -> IngestStats:
        writer = self.writer.stats()
        status = self.source.status
        now = time.monotonic()
        received = self.inbox.received
        end = self._finished_at or now
        first = self.inbox.first_message_at
        active = end - first if first is not None else 0.0
        state = self._state()
        next_retry = None
        if state == "backoff" and status.next_retry_at is not None:
            next_retry = round(max(0.0, status.next_retry_at - now), 3)
        unwritten = writer.unwritten + self._lost
        duplicates = self._duplicates()
        if self._stopped:  # whatever never reached the writer is gone with the run
            unwritten = max(received - writer.written - writer.dead_letters - duplicates, unwritten)
        trimmed, trimmed_dead_letters = self._trimmed()
        return IngestStats(
            trimmed=trimmed,
            trimmed_dead_letters=trimmed_dead_letters,
            received=received,
            written=writer.written,
            dead_letters=writer.dead_letters,
            reconnects=status.reconnects,
            gaps=writer.gaps,
            queue_depth=max(received - writer.written - writer.dead_letters - duplicates - unwritten, 0),
            batches=writer.batches,
            rows_per_s=round(writer.written / active, 1) if active > 0 else 0.0,
            state=state,
            next_retry_in=next_retry,
            pause_reason=writer.pause_reason,
            last_error=writer.last_error or status.last_error,
            seconds=round(end - self._started, 3),
            missing=writer.missing,
            seq_resets=writer.seq_resets,
            unwritten=unwritten,
            retry_attempts=status.retry_attempts,
            recent_rows_per_s=self._rate.per_second(now, writer.written) if state != "stopped" else 0.0,
            last_commit_ms=writer.last_commit_ms,
            mean_commit_ms=writer.mean_commit_ms,
            max_commit_ms=writer.max_commit_ms,
            journal_mode=writer.journal_mode,
            compression=status.compression,
            queue_bytes=writer.queue_bytes + self.inbox.pending_bytes,
            peak_rss_mb=peak_rss_mb(),
            duplicates=duplicates,
            redelivered=status.redelivered,
            sink_reconnects=int(getattr(self.writer.sink, "reconnects", 0)),  # a server sink's (PostgreSQL)
            last_dead_letter_reason=writer.last_dead_letter_reason,
        )


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


class FileIngest(IngestSession):
    """The pipeline fed from a recorded NDJSON file (no network); `run()` is synchronous."""

    def __init__(self, source: Path, config: IngestConfig, *, on_commit: CommitCallback | None = None) -> None:
        from dataclasses import replace

        super().__init__(replace(config, url="file://" + str(source)), on_commit=on_commit)

    def run(self) -> IngestStats:  # type: ignore[override]
        return asyncio.run(super().run())


def ingest_file(source: Path, config: IngestConfig, *, on_commit: CommitCallback | None = None) -> IngestStats:
    return FileIngest(source, config, on_commit=on_commit).run()
