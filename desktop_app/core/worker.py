"""The one shape of background work: a `Worker` thread runs `Job`s; the loop awaits them.

datasette's write thread is the model: one thread fed by a queue, each request a small job carrying a
reply future, results delivered with `loop.call_soon_threadsafe`, a sentinel to stop. A worker owns what
it opens (a connection lives and dies on its thread), runs one job at a time in order, and nothing it
does reaches the loop any other way than through its jobs.

A `Job` is awaitable on the loop that submitted it; `job.cancel()` (or cancelling the awaiting task) sets
its flag, which long work checks between chunks, and interrupts the SQLite connection the job declared
with `job.interrupts(connection)`, so a statement stops mid-row. `job.report(...)` runs the progress
callback on the loop thread. Closing a worker cancels its jobs and ends its thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import threading
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

import apsw

from desktop_app.core.errors import PulseError, QueryInterrupted

log = logging.getLogger(__name__)
T = TypeVar("T")


class Job(Generic[T]):
    """One piece of work: `await job` for its result (or its error); `cancel()` from the loop thread."""

    _ids = itertools.count(1)

    def __init__(
        self,
        name: str,
        work: Callable[[Job[T]], T],
        loop: asyncio.AbstractEventLoop,
        *,
        progress: Callable[..., None] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.id = next(self._ids)
        self.name = name
        self.cancel_event = cancel_event if cancel_event is not None else threading.Event()
        self.future: asyncio.Future[T] = loop.create_future()
        self._work = work
        self._loop = loop
        self._progress = progress
        self._lock = threading.Lock()  # guards _connection between the worker thread and cancel()
        self._connection: apsw.Connection | None = None
        # An awaiting task cancelled (Escape, a closed dialog) cancels the work too, not just the wait.
        self.future.add_done_callback(lambda future: self.cancel() if future.cancelled() else None)

    # The loop side ---------------------------------------------------------------------------------------
    def cancel(self) -> None:
        self.cancel_event.set()
        with self._lock:
            if self._connection is not None:
                self._connection.interrupt()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def done(self) -> bool:
        return self.future.done()

    def __await__(self) -> Generator[Any, None, T]:
        return self.future.__await__()

    async def outcome(self) -> T | PulseError:
        """The result, or the PulseError that ended the job (QueryInterrupted when cancelled); anything else,
        a bug or the awaiting task's cancellation, is raised."""
        try:
            return await self
        except PulseError as exc:
            return exc

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.name}>"

    # The worker side -------------------------------------------------------------------------------------
    def report(self, *args: Any) -> None:
        """From the worker thread: `progress(*args)` on the loop thread (dropped once the job has ended)."""
        if self._progress is not None:
            self._call_soon(self._deliver, args)

    @contextlib.contextmanager
    def interrupts(self, connection: apsw.Connection) -> Generator[apsw.Connection, None, None]:
        """While inside, `cancel()` interrupts `connection`'s running statement."""
        with self._lock:
            self._connection = connection
        try:
            if self.cancelled:  # interrupt() only stops statements already running: check once here
                raise QueryInterrupted("Cancelled.")
            yield connection
        finally:
            with self._lock:
                self._connection = None

    def check(self) -> None:
        """Between chunks of long work: stop here if cancelled."""
        if self.cancelled:
            raise QueryInterrupted("Cancelled.")

    def _run(self) -> None:
        try:  # a job cancelled while queued still runs: the work says what a cancel means (a backup's result)
            result = self._work(self)
        except Exception as exc:  # delivered to the awaiter: a bug stays a bug there
            self._call_soon(self._settle, None, exc)
        else:
            self._call_soon(self._settle, result, None)

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone (interpreter exit): nobody is waiting
            self._loop.call_soon_threadsafe(callback, *args)

    def _deliver(self, args: tuple) -> None:
        if not self.future.done() and self._progress is not None:
            self._progress(*args)

    def _settle(self, result: object, error: BaseException | None) -> None:
        if self.future.done():
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)  # type: ignore[arg-type]


class Worker:
    """One thread that runs submitted jobs in order and owns what it opens. `on_stop` runs on it last."""

    def __init__(
        self,
        name: str,
        *,
        on_start: Callable[[], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards the fields below
        self._jobs: set[Job] = set()
        self._closed = False
        self._stopped_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._finished = False
        self._on_start = on_start
        self._on_stop = on_stop
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    @property
    def jobs(self) -> frozenset[Job]:
        with self._lock:
            return frozenset(self._jobs)

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(
        self,
        name: str,
        work: Callable[[Job[T]], T],
        *,
        progress: Callable[..., None] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> Job[T]:
        """Queue `work(job)`; call on the loop thread that will await the job."""
        job: Job[T] = Job(name, work, asyncio.get_running_loop(), progress=progress, cancel_event=cancel_event)
        with self._lock:
            if self._closed:
                raise PulseError("The database was closed.")
            self._jobs.add(job)
        self._queue.put(job)
        return job

    def cancel_all(self) -> None:
        for job in self.jobs:
            job.cancel()

    def stop(self) -> None:
        """No more jobs; the thread ends after those queued (cancel them first to end it soon)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)

    def close(self) -> None:
        """Blocking: cancel every job, stop, and join the thread."""
        self.cancel_all()
        self.stop()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    async def aclose(self) -> None:
        """Cancel every job, stop, and wait on the loop (no thread blocks) until the thread has ended."""
        self.cancel_all()
        self.stop()
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()
        with self._lock:
            if self._finished:
                stopped.set_result(None)
            else:
                self._stopped_waiters.append((loop, stopped))
        await stopped
        self._thread.join()  # it has only its return left

    def _main(self) -> None:
        try:
            if self._on_start is not None:
                self._on_start()
            while (job := self._queue.get()) is not None:
                try:
                    job._run()
                finally:
                    with self._lock:
                        self._jobs.discard(job)
        finally:
            try:
                if self._on_stop is not None:
                    self._on_stop()
            finally:
                with self._lock:
                    self._finished = True
                    waiters, self._stopped_waiters = self._stopped_waiters, []
                for loop, future in waiters:
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
