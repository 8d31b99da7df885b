"""Drives an ingest from the GUI, off the GUI's thread, and reports its stats ~5 times a second.

By default the ingest runs in a child process (`IngestProcess`, the hidden `ingest-worker` verb): parsing
and writing tens of thousands of messages a second in the GUI's process would hold the GIL and starve the
window (bench/gui_responsiveness.py measures both). `mode="thread"` runs the IngestSession on a thread of
this process with its own asyncio loop instead. The demo stream server is a child process too
(`spawn_demo_server`), stopped once the ingest has ended.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestSession, IngestStats
from desktop_app.ui.ingest_process import EndCallback, IngestProcess
from desktop_app.ui.workers import GuiPoster, TaskRunner

POLL_MS = 200
DEMO_RATE = 2000
MODES = ("process", "thread")


class ThreadIngest:
    """An IngestSession on its own thread and asyncio loop, in this process."""

    def __init__(self, config: IngestConfig, on_end: EndCallback) -> None:
        self.config = config
        self.session = IngestSession(config)
        self._on_end = on_end
        self._thread = threading.Thread(target=self._run, name="pulse-ingest", daemon=True)
        self._thread.start()

    def stats(self) -> IngestStats:
        return self.session.stats()

    def stop(self) -> None:
        self.session.stop()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            final = asyncio.run(self.session.run())
        except BaseException as exc:  # PulseErrors are shown; anything else is re-raised on the GUI thread
            self._on_end(None, exc)
        else:
            self._on_end(final, None)


class IngestController(QObject):
    stats_changed = Signal(object)  # IngestStats, ~5 Hz while running
    started = Signal(object)  # IngestConfig
    stopped = Signal(object)  # final IngestStats
    failed = Signal(object)  # PulseError
    demo_starting = Signal()

    def __init__(
        self, poster: GuiPoster, tasks: TaskRunner, parent: QObject | None = None, *, mode: str = "process"
    ) -> None:
        super().__init__(parent)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self._poster = poster
        self._tasks = tasks
        self._runner: IngestProcess | ThreadIngest | None = None
        self._demo = None  # DemoProcess while the demo server runs
        self._demo_pending = False
        self._stop_requested = False
        self.config: IngestConfig | None = None
        self.last_stats: IngestStats | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self._demo_pending or (self._runner is not None and self._runner.is_alive())

    @property
    def demo_url(self) -> str | None:
        return self._demo.url if self._demo is not None else None

    @property
    def demo_pid(self) -> int | None:
        return self._demo.pid if self._demo is not None else None

    def start(self, config: IngestConfig) -> None:
        if self.running:
            raise PulseError("An ingest is already running; stop it first.")
        self._stop_requested = False
        self.last_stats = None
        self.config = config
        holder: list[IngestProcess | ThreadIngest] = []
        # Resolved on the GUI thread: a run that ends at once may report before `holder` is filled.
        on_end = lambda final, error: self._poster.post(lambda: self._ended(holder[0], final, error))  # noqa: E731
        runner_type = IngestProcess if self.mode == "process" else ThreadIngest
        self._runner = runner_type(config, on_end)
        holder.append(self._runner)
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
        if self._runner is not None:
            self._runner.stop()

    def shutdown(self, timeout: float = 20.0) -> None:
        """Stop and wait (window closing): the session flushes, the demo server exits."""
        self.stop()
        runner = self._runner
        if runner is not None:
            runner.join(timeout)
        self._timer.stop()
        self._stop_demo(wait=True)

    def poll(self) -> IngestStats | None:
        if self._runner is None:
            return None
        self.last_stats = self._runner.stats()
        self.stats_changed.emit(self.last_stats)
        return self.last_stats

    def rows_per_second(self) -> float | None:
        """Rows written per second over the session's last two seconds; None when no ingest runs.

        (A difference of `written` between two polls would beat against the 5 Hz stats reports.)"""
        if self._runner is None or not self.running:
            return None
        return self._runner.stats().recent_rows_per_s

    # End of a run (GUI thread) ----------------------------------------------------------------------------
    def _ended(self, runner, final: IngestStats | None, error: BaseException | None) -> None:
        if runner is not self._runner:
            return
        runner.join()
        self._timer.stop()
        self.last_stats = final or runner.stats()
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
