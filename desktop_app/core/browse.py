"""Table browsing off the loop thread: one worker thread with one read-only connection, jobs awaited.

Each job is one short statement (a page of a table, a row estimate), run in order on the worker thread.
Awaiting a job and cancelling the awaiting task interrupts the statement if it is the one running (a view
that never ends stops at once), or drops it if it has not started: browsing never stays stuck behind a
statement nobody waits for any more. Results come back through `run_in_executor`, i.e. the loop's
`call_soon_threadsafe`, so callers only ever see them on the loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import apsw

from desktop_app.core import errors
from desktop_app.core.database import Database

T = TypeVar("T")


class _Job:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False


class BrowseWorker:
    """Runs `fn(connection)` jobs for one database on its own thread; `await worker.call(fn)`."""

    def __init__(self, database: Database, *, name: str = "pulse-read") -> None:
        self.database = database
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._connection: apsw.Connection | None = None  # created, used and closed on the worker thread
        self._lock = threading.Lock()  # guards _running, shared with cancel
        self._running: _Job | None = None
        self._closed = False

    async def call(self, fn: Callable[[apsw.Connection], T]) -> T:
        if self._closed:
            raise errors.PulseError("The database was closed.")
        job = _Job()
        future = asyncio.get_running_loop().run_in_executor(self._pool, self._run, job, fn)
        try:
            return await future
        except asyncio.CancelledError:
            self._cancel(job)
            raise

    def interrupt(self) -> None:
        """Stop whatever statement runs now (any thread)."""
        with self._lock:
            if self._running is not None and self._connection is not None:
                self._running.cancelled = True
                self._connection.interrupt()

    def close(self) -> None:
        """Blocking: interrupt, let queued jobs drain, close the connection on its own thread."""
        if self._closed:
            return
        self._closed = True
        self.interrupt()
        self._pool.submit(self._close_connection)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # Worker thread ----------------------------------------------------------------------------------------
    def _cancel(self, job: _Job) -> None:
        with self._lock:
            job.cancelled = True
            if self._running is job and self._connection is not None:
                self._connection.interrupt()

    def _run(self, job: _Job, fn: Callable[[apsw.Connection], T]) -> T:
        with self._lock:
            if job.cancelled:
                raise errors.QueryInterrupted("Cancelled.")
            self._running = job
        try:
            if self._connection is None:
                self._connection = self.database.connect_read()
            return fn(self._connection)
        except apsw.Error as exc:
            raise errors.translate(exc, self.database.path) from exc
        finally:
            with self._lock:
                self._running = None

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

