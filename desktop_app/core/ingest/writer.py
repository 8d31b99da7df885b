"""The writer: one thread, one sink (one write connection), a queue bounded in messages and bytes.

Producers `submit()` chunks of received messages; the writer thread maps them (`MessageMapper`) and
commits a batch when it holds `batch_rows` messages (or `max_batch_bytes`) or its oldest message has waited
`batch_ms`. Each batch is one transaction of the sink holding its rows, its dead letters and a ledger row.

Nothing is dropped: a locked database is waited on and retried; running out of space (a full disk, a size
limit, no room to grow the WAL index) pauses the writer with a visible reason, keeps the batch and retries
periodically, so writing resumes by itself when space frees. `stop()` flushes everything that was
submitted. Only a fatal error (the file went read-only, corrupt, ...), an explicit flush deadline or
`abandon()` leaves messages unwritten, and those are counted.

The target table is created with the first batch, not at start: a stream that never delivers a message
leaves the database as it was.

Batch defaults, measured on the 2-core development VM (JSON -> 6-column STRICT table, WAL,
synchronous=NORMAL): rows/s by batch size 100: 206k, 250: 239k, 500: 306k, 1000: 317k, 2000: 333k,
5000: 322k; median commit 0.6 ms at 1000 rows. Gains stop near 1000 rows while latency keeps growing,
so `batch_rows=1024` (four receive chunks, one multi-row INSERT); `batch_ms=50` keeps a slow stream
visible in the database within a tenth of a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.mapping import Chunk, MappedBatch, MessageMapper
from desktop_app.core.ingest.sink import Sink, SQLiteSink

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 1024  # four 256-message chunks; one multi-row INSERT statement
DEFAULT_BATCH_MS = 50.0


@dataclass(frozen=True)
class WriterConfig:
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_ms: float = DEFAULT_BATCH_MS  # at most 100: a batch never waits longer than this to commit
    max_queued_rows: int = 50_000  # producers see "full" beyond this (about 10-20 MB of JSON messages)
    max_queued_bytes: int = 32 << 20  # ... or beyond this many bytes of messages, whichever comes first
    max_batch_bytes: int = 8 << 20  # a batch of big messages commits before batch_rows
    busy_timeout_ms: int = 200  # SQLite waits this long per attempt on a lock; then we report and retry
    retry_interval_s: float = 0.5  # between attempts while out of space
    flush_timeout_s: float | None = None  # on stop, give up retrying after this long (None: never give up)
    max_page_count: int | None = None  # a size limit for the SQLite sink's connection (simulates a full disk)


@dataclass(frozen=True)
class WriterStats:
    queued: int  # messages submitted so far
    written: int  # rows committed to the target table
    dead_letters: int  # messages committed to the dead-letter table
    unwritten: int  # messages given up on (fatal error, flush deadline, abandoned)
    queue_depth: int  # messages submitted and not yet committed
    queue_bytes: int
    batches: int
    last_commit_ms: float
    mean_commit_ms: float
    max_commit_ms: float
    state: str  # "starting" | "running" | "paused" | "stopped"
    pause_reason: str | None
    last_error: str | None
    journal_mode: str | None
    gaps: int  # times the sequence numbers skipped ahead
    missing: int  # sequence numbers skipped in total
    seq_resets: int  # sequence numbers that went backwards (source restarted)
    last_dead_letter_reason: str | None = None  # the reason of the latest committed dead letter


CommitCallback = Callable[[int, float], None]  # (rows committed, commit milliseconds), on the writer thread


class BatchWriter:
    """Owns the writer thread. `start()` opens the sink; `submit()` is cheap and thread-safe; `stop()`
    flushes and closes. `target` is a Sink, or a SQLite database path."""

    def __init__(
        self,
        target: Sink | Path | str,
        mapper: MessageMapper,
        config: WriterConfig | None = None,
        *,
        on_commit: CommitCallback | None = None,
    ) -> None:
        self.mapper = mapper
        self.config = config or WriterConfig()
        if not 0 < self.config.batch_ms <= 100:
            raise ValueError("batch_ms must be in (0, 100]")
        if isinstance(target, Path | str):
            target = SQLiteSink(
                target, mapper, busy_timeout_ms=self.config.busy_timeout_ms, max_page_count=self.config.max_page_count
            )
        self.sink = target
        self.path = getattr(target, "path", None)
        self.on_commit = on_commit
        self._lock = threading.Condition()
        self._queue: deque[tuple[float, Chunk, int]] = deque()  # (monotonic submit time, chunk, bytes)
        self._queued_rows = 0  # in _queue
        self._queued_bytes = 0
        self._inflight = 0  # taken by the writer thread, not yet committed
        self._inflight_bytes = 0
        self._submitted = 0
        self._written = 0
        self._dead = 0
        self._unwritten = 0
        self._batches = 0
        self._commit_ms_total = 0.0
        self._last_commit_ms = 0.0
        self._max_commit_ms = 0.0
        self._last_dead_reason: str | None = None
        self._state = "starting"
        self._pause_reason: str | None = None
        self._last_error: str | None = None
        self._stopping = False
        self._stop_deadline: float | None = None
        self._abandoned = False
        self._table_ready = False
        self._wake = threading.Event()  # cuts a retry wait short (stop, new size limit)
        self._ready = threading.Event()
        self.error: PulseError | None = None  # the fatal error that stopped the writer, if any
        self._thread: threading.Thread | None = None

    # -- control (any thread) ----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start the thread and wait until the sink is open. Raises its PulseError."""
        if self._thread is not None:
            raise RuntimeError("writer already started")
        name = self.path.name if self.path is not None else type(self.sink).__name__
        self._thread = threading.Thread(target=self._run, name=f"pulse-writer:{name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise PulseError(f"{name}: timed out opening the database for writing.")
        if self.error is not None:
            self._thread.join()
            raise self.error

    def submit(self, chunk: Chunk, nbytes: int = 0, *, force: bool = False) -> bool:
        """Queue a chunk of `nbytes` bytes of messages; False (nothing queued) when the queue is full (unless
        `force`) or the writer stopped."""
        size = len(chunk[1])
        config = self.config
        with self._lock:
            if self._state == "stopped" or self._stopping:
                return False
            if not force and self._queued_rows and (
                self._queued_rows + size > config.max_queued_rows
                or self._queued_bytes + self._inflight_bytes + nbytes > config.max_queued_bytes
            ):
                return False
            was_empty = not self._queue
            self._queue.append((time.monotonic(), chunk, nbytes))
            self._queued_rows += size
            self._queued_bytes += nbytes
            self._submitted += size
            # Wake the writer only when it has something new to decide: a first chunk (it learns when the batch
            # is due) or a full batch. Each needless wake-up takes the GIL from the receive loop.
            if was_empty or self._queued_rows >= config.batch_rows or self._queued_bytes >= config.max_batch_bytes:
                self._lock.notify()
        return True

    def has_room(self) -> bool:
        with self._lock:
            return (
                self._queued_rows < self.config.max_queued_rows
                and self._queued_bytes + self._inflight_bytes < self.config.max_queued_bytes
                and self._state != "stopped"
            )

    def stop(self, timeout: float | None = None) -> WriterStats:
        """Flush everything submitted, close the sink, end the thread. Idempotent."""
        with self._lock:
            if not self._stopping:
                self._stopping = True
                flush = self.config.flush_timeout_s
                self._stop_deadline = None if flush is None else time.monotonic() + flush
            self._lock.notify_all()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats()

    def abandon(self) -> int:
        """Stop retrying now (a second interrupt): what is still queued is counted unwritten. Returns that
        number (as of now; a batch committing this instant still lands)."""
        with self._lock:
            self._stopping = self._abandoned = True
            self._stop_deadline = time.monotonic()
            self._lock.notify_all()
            pending = self._queued_rows + self._inflight
        self._wake.set()
        return pending

    def set_max_page_count(self, pages: int | None) -> None:
        """Change the sink's size limit (None: no limit); applied before the next attempt."""
        request = getattr(self.sink, "request_page_limit", None)
        if request is None:
            raise PulseError("This sink has no size limit to change.")
        request(pages)
        self._wake.set()

    def stats(self) -> WriterStats:
        with self._lock:
            batches = self._batches
            sequence = self.mapper.sequence
            return WriterStats(
                queued=self._submitted,
                written=self._written,
                dead_letters=self._dead,
                unwritten=self._unwritten,
                queue_depth=self._queued_rows + self._inflight,
                queue_bytes=self._queued_bytes + self._inflight_bytes,
                batches=batches,
                last_commit_ms=round(self._last_commit_ms, 3),
                mean_commit_ms=round(self._commit_ms_total / batches, 3) if batches else 0.0,
                max_commit_ms=round(self._max_commit_ms, 3),
                state=self._state,
                pause_reason=self._pause_reason,
                last_error=self._last_error,
                journal_mode=self.sink.journal_mode,
                gaps=sequence.gaps,
                missing=sequence.missing,
                seq_resets=sequence.resets,
                last_dead_letter_reason=self._last_dead_reason,
            )

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the writer thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        opened = False
        try:
            self.sink.open()
            opened = True
            self._set_state("running")
            self._ready.set()
            while True:
                chunks = self._next_batch()
                if not chunks:
                    break
                if not self._write(chunks):
                    break
        except PulseError as exc:
            self._fail(exc)
        except Exception as exc:
            failure = self.sink.classify(exc)
            if failure is None:  # a bug: record it for the session, and let the thread report it
                self._fail(PulseError(f"The writer failed unexpectedly: {exc!r}"))
                raise
            self._fail(failure.error)
        finally:
            if opened:
                self.sink.close()
            with self._lock:
                self._unwritten += self._queued_rows + self._inflight
                self._queue.clear()
                self._queued_rows = self._inflight = self._queued_bytes = self._inflight_bytes = 0
                self._state = "stopped"
                self._pause_reason = None
            self._ready.set()

    def _fail(self, error: PulseError) -> None:
        self.error = error
        with self._lock:
            self._last_error = str(error)
        log.error("writer stopped: %s", error)

    def _next_batch(self) -> list[Chunk]:
        """Block until a batch is due: enough rows or bytes, the oldest waited batch_ms, or a stop.
        [] ends the thread."""
        batch_rows, batch_bytes, wait_s = self.config.batch_rows, self.config.max_batch_bytes, self.config.batch_ms / 1000
        with self._lock:
            while True:
                if self._queue:
                    due = self._queue[0][0] + wait_s
                    now = time.monotonic()
                    if (
                        self._queued_rows >= batch_rows
                        or self._queued_bytes >= batch_bytes
                        or self._stopping
                        or now >= due
                    ):
                        break
                    self._lock.wait(due - now)
                elif self._stopping:
                    return []
                else:
                    self._lock.wait()
            chunks: list[Chunk] = []
            taken = taken_bytes = 0
            while self._queue and taken < batch_rows and taken_bytes < batch_bytes:
                _, chunk, nbytes = self._queue.popleft()
                chunks.append(chunk)
                taken += len(chunk[1])
                taken_bytes += nbytes
            self._queued_rows -= taken
            self._queued_bytes -= taken_bytes
            self._inflight, self._inflight_bytes = taken, taken_bytes
        return chunks

    def _write(self, chunks: list[Chunk]) -> bool:
        """Commit one batch, retrying until it lands. False when the writer must stop (deadline)."""
        batch = self.mapper.map_batch(chunks)
        del chunks  # the messages now live in the batch only (memory is counted once)
        outcome: list[float] = []

        def attempt() -> None:
            self.sink.before_attempt()
            if not self._table_ready:
                spec = self.mapper.settle(self.sink.existing_columns(self.mapper.table), batch)
                self.sink.prepare(spec)
                self._table_ready = spec is not None
            if batch.pending_objects:
                self.mapper.finish(batch)
            started = time.perf_counter()
            self.sink.write_batch(batch, time.time())
            outcome.append((time.perf_counter() - started) * 1000.0)

        if not self._retrying(attempt):
            return False
        self._committed(batch, outcome[-1])
        return True

    def _committed(self, batch: MappedBatch, commit_ms: float) -> None:
        rows, dead = len(batch.rows), len(batch.dead)
        with self._lock:
            self._written += rows
            self._dead += dead
            self._inflight = self._inflight_bytes = 0
            self._batches += 1
            self._last_commit_ms = commit_ms
            self._commit_ms_total += commit_ms
            self._max_commit_ms = max(self._max_commit_ms, commit_ms)
            if dead:
                self._last_dead_reason = batch.dead[-1].reason
        if self.on_commit is not None:
            try:
                self.on_commit(rows, commit_ms)
            except Exception:  # a listener's bug must not stop the writer or lose data
                log.exception("on_commit callback failed")

    def _retrying(self, work: Callable[[], None]) -> bool:
        """Run `work` until it succeeds. Locked: retry at once (SQLite already waited busy_timeout_ms).
        Out of space: pause, retry every retry_interval_s. Fatal: raise. False when the stop deadline
        passes first."""
        while True:
            try:
                work()
            except Exception as exc:
                failure = self.sink.classify(exc)
                if failure is None:
                    raise
                if failure.kind == "fatal":
                    raise failure.error from exc
                if failure.kind == "retry":
                    self._pause(f"{failure.error} Retrying until it is free.")
                    wait = 0.01
                else:
                    resumes = failure.resumes or (
                        f"when space frees (retrying every {self.config.retry_interval_s:g} s)"
                    )
                    self._pause(f"Paused: {failure.error} Unwritten messages are kept; writing resumes by itself {resumes}.")
                    wait = self.config.retry_interval_s
                if self._deadline_passed():
                    return False
                self._wait(wait)
                continue
            if self._state == "paused":
                self._set_state("running")
                with self._lock:
                    self._last_error = None  # recovered: the old reason no longer holds
            return True

    def _pause(self, reason: str) -> None:
        with self._lock:
            if self._pause_reason != reason:
                log.warning("%s", reason)
            self._state = "paused"
            self._pause_reason = reason
            self._last_error = reason

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state
            if state != "paused":
                self._pause_reason = None

    def _deadline_passed(self) -> bool:
        with self._lock:
            deadline = self._stop_deadline
            if deadline is None or time.monotonic() < deadline:
                return False
            flush = self.config.flush_timeout_s
            limit = "on a second interrupt" if self._abandoned or flush is None else f"after {flush:g} s"
            self._last_error = f"Gave up flushing {limit}: {self._pause_reason}"
            return True

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()
