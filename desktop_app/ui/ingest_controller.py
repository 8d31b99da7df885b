"""Drives an IngestSession from the GUI: the session runs on its own thread with its own asyncio loop.

Ingesting tens of thousands of messages a second on the GUI's loop would starve the window, so the session
gets a thread (`asyncio.run` there); the GUI polls its cheap, thread-safe `stats()` from a 5 Hz QTimer.
The demo stream server is a child process (`spawn_demo_server`), stopped once the session has ended.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestSession, IngestStats
from desktop_app.ui.workers import GuiPoster, TaskRunner

POLL_MS = 200
DEMO_RATE = 2000


class IngestController(QObject):
    stats_changed = Signal(object)  # IngestStats, ~5 Hz while running
    started = Signal(object)  # IngestConfig
    stopped = Signal(object)  # final IngestStats
    failed = Signal(object)  # PulseError
    demo_starting = Signal()

    def __init__(self, poster: GuiPoster, tasks: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._poster = poster
        self._tasks = tasks
        self._session: IngestSession | None = None
        self._thread: threading.Thread | None = None
        self._demo = None  # DemoProcess while the demo server runs
        self._demo_pending = False
        self._stop_requested = False
        self.config: IngestConfig | None = None
        self.last_stats: IngestStats | None = None
        self._rate_mark: tuple[float, int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self._demo_pending or (self._thread is not None and self._thread.is_alive())

    @property
    def demo_url(self) -> str | None:
        return self._demo.url if self._demo is not None else None

    @property
    def demo_pid(self) -> int | None:
        return self._demo.pid if self._demo is not None else None

    def start(self, config: IngestConfig) -> None:
        if self.running:
            raise PulseError("An ingest is already running; stop it first.")
        session = IngestSession(config)
        self._session, self.config = session, config
        self._stop_requested = False
        self.last_stats = None
        self._rate_mark = None
        self._thread = threading.Thread(target=self._run, args=(session,), name="pulse-ingest", daemon=True)
        self._thread.start()
        self._timer.start()
        self.started.emit(config)

    def start_demo(self, db_path: Path, *, table: str = "readings", rate: int | None = DEMO_RATE) -> None:
        """Launch the built-in demo stream server and ingest from it into `db_path`."""
        if self.running:
            raise PulseError("An ingest is already running; stop it first.")
        from desktop_app.core.demo import spawn_demo_server  # the server module loads only when asked for

        self._demo_pending = True
        self._stop_requested = False
        self.demo_starting.emit()

        def spawned(process) -> None:
            self._demo_pending = False
            self._demo = process
            if self._stop_requested:
                self._stop_demo()
                self.stopped.emit(None)
                return
            try:
                self.start(IngestConfig(url=process.url, db_path=Path(db_path), table=table))
            except PulseError as exc:
                self._stop_demo()
                self.failed.emit(exc)

        def failed(error: PulseError) -> None:
            self._demo_pending = False
            self.failed.emit(error)

        self._tasks.run(lambda: spawn_demo_server(rate=rate), spawned, failed)

    def stop(self) -> None:
        """Ask the session to stop; `stopped` is emitted once it has flushed everything."""
        self._stop_requested = True
        if self._session is not None:
            self._session.stop()

    def shutdown(self, timeout: float = 20.0) -> None:
        """Stop and wait (window closing): the session flushes, the demo server exits."""
        self.stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._timer.stop()
        self._stop_demo(wait=True)

    def poll(self) -> IngestStats | None:
        if self._session is None:
            return None
        self.last_stats = self._session.stats()
        self.stats_changed.emit(self.last_stats)
        return self.last_stats

    def rows_per_second(self) -> float | None:
        """Rows written per second since the previous call; None when no ingest runs."""
        if self._session is None or not self.running:
            self._rate_mark = None
            return None
        now, written = time.monotonic(), self._session.stats().written
        mark, self._rate_mark = self._rate_mark, (now, written)
        if mark is None or now <= mark[0]:
            return 0.0
        return max(0, written - mark[1]) / (now - mark[0])

    # Session thread ---------------------------------------------------------------------------------------
    def _run(self, session: IngestSession) -> None:
        try:
            final = asyncio.run(session.run())
        except PulseError as exc:
            self._poster.post(self._ended, session, None, exc)
        except BaseException as exc:  # a bug: end cleanly here, then raise it on the GUI thread
            self._poster.post(self._ended, session, None, exc)
        else:
            self._poster.post(self._ended, session, final, None)

    def _ended(self, session: IngestSession, final: IngestStats | None, error: BaseException | None) -> None:
        if session is not self._session:
            return
        if self._thread is not None:
            self._thread.join()
        self._timer.stop()
        self.last_stats = final or session.stats()
        self.stats_changed.emit(self.last_stats)
        self._stop_demo()
        if error is not None and not isinstance(error, PulseError):
            self.stopped.emit(self.last_stats)
            raise error
        if error is not None:
            self.failed.emit(error)
        self.stopped.emit(self.last_stats)

    def _stop_demo(self, *, wait: bool = False) -> None:
        process, self._demo = self._demo, None
        if process is None:
            return
        if wait:
            process.stop()
        else:
            self._tasks.run(process.stop, lambda _result: None, self.failed.emit)
