"""Run database and file work off the GUI thread and hand results back to it through queued signals.

Core objects call back on their own worker threads; `GuiPoster.post(fn, ...)` runs `fn` on the thread the
poster lives in (the GUI thread), through a queued signal, so widgets are only touched there.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import apsw
from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop_app.core.database import Database
from desktop_app.core.errors import PulseError, translate

T = TypeVar("T")
ErrorCallback = Callable[[PulseError], None]


class GuiPoster(QObject):
    """Call functions on this object's thread from any thread."""

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        self._call.emit(functools.partial(fn, *args))

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """A callback that, called from any thread, runs `fn` on the GUI thread."""
        return lambda *args: self.post(fn, *args)

    @Slot(object)
    def _run(self, fn: Callable[[], Any]) -> None:
        fn()


BACKGROUND_NICENESS = 10


def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Make the calling thread yield the CPU to the GUI thread (Linux schedules threads individually).

    A quick check or a backup of a big file keeps a core busy for seconds; on a loaded two-core machine
    the window's event loop then waits for a core. Elsewhere this does nothing."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError as exc:  # a sandbox may forbid it: the job still runs, at normal priority
            print(f"sqlite-pulse: could not lower a worker thread's priority: {exc}", file=sys.stderr)


class TaskRunner:
    """A small thread pool for one-off jobs (open a file, back up, vacuum, export), below the GUI's priority."""

    def __init__(self, poster: GuiPoster, *, workers: int = 2, name: str = "pulse-task") -> None:
        self._poster = poster
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=lower_thread_priority)
        self._pending: set[Future] = set()
        self._lock = threading.Lock()

    def run(
        self,
        job: Callable[[], T],
        on_done: Callable[[T], None],
        on_error: ErrorCallback,
    ) -> Future:
        """Run `job` on the pool; `on_done(result)` or `on_error(PulseError)` then runs on the GUI thread.

        Exceptions that are not PulseErrors are bugs: they are re-raised on the GUI thread (excepthook)."""
        future = self._pool.submit(job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(functools.partial(self._deliver, on_done=on_done, on_error=on_error))
        return future

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def _deliver(self, future: Future, *, on_done: Callable, on_error: ErrorCallback) -> None:
        with self._lock:
            self._pending.discard(future)
        exc = future.exception()
        if exc is None:
            self._poster.post(on_done, future.result())
        elif isinstance(exc, PulseError):
            self._poster.post(on_error, exc)
        else:
            self._poster.post(_reraise, exc)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _reraise(exc: BaseException) -> None:
    raise exc


class ConnectionWorker:
    """One thread with one read-only connection to a database; jobs `fn(connection)` run there in order.

    Used for short statements (schema listing, one page of a table), each finished before the next, so no
    read transaction stays open between jobs."""

    def __init__(self, database: Database, poster: GuiPoster) -> None:
        self.database = database
        self._poster = poster
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pulse-read")
        self._connection: apsw.Connection | None = None
        self._closed = False

    def submit(
        self,
        job: Callable[[apsw.Connection], T],
        on_done: Callable[[T], None],
        on_error: ErrorCallback,
    ) -> None:
        if self._closed:
            return
        self._pool.submit(self._run, job, on_done, on_error)

    def _run(self, job: Callable, on_done: Callable, on_error: ErrorCallback) -> None:
        try:
            if self._connection is None:
                self._connection = self.database.connect_read()
            result = job(self._connection)
        except PulseError as exc:
            self._poster.post(on_error, exc)
        except apsw.Error as exc:
            self._poster.post(on_error, translate(exc, self.database.path))
        else:
            self._poster.post(on_done, result)

    def interrupt(self) -> None:
        """Stop the statement running now (safe from any thread)."""
        connection = self._connection
        if connection is not None:
            connection.interrupt()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)
        # The worker thread has exited: closing here cannot overlap with its use of the connection.
        if self._connection is not None:
            self._connection.close()
            self._connection = None
