"""A small pool for one-off work that belongs to no database (exports, the demo), awaited on the loop.

Database work goes through the `Session` (core/session.py) and is awaited; `TaskRunner.call(fn)` is the
same shape for the rest. `GuiPoster` and `TaskRunner.run` (callback style) remain for the ingest controller
until it moves to awaitables too.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop_app.core.errors import PulseError
from desktop_app.core.session import BACKGROUND_NICENESS, lower_thread_priority

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


__all__ = ["BACKGROUND_NICENESS", "GuiPoster", "TaskRunner", "lower_thread_priority"]


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

    async def call(self, job: Callable[[], T]) -> T:
        """Run `job` on the pool and await its result on the loop (its exception is raised here)."""
        future = self._pool.submit(job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return await asyncio.wrap_future(future)

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

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
