"""Drives the window's ingest on the window's asyncio (qasync) loop: no threads, no polling.

The ingest runs in a child process (`WorkerProcess`, the hidden `ingest-worker` verb; see
core/ingest/protocol.py): the controller starts it with `asyncio.create_subprocess_exec`, sends the whole
config as one JSON document, awaits its JSON-lines reports (stats, state changes, the final counts) and
awaits its exit. The demo stream server is a child too (`DemoServerProcess`), streaming into its own demo
database, never into the user's open file.

Children never outlive the window: on quit the controller stops them (the worker flushes first); if the
window's process dies, each child sees its stdin reach EOF and the kernel sends it SIGTERM
(PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop_app.core.database import connect_read, create_database
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestStats
from desktop_app.core.ingest.protocol import WorkerProcess
from desktop_app.core.ingest.sink import missing_ingest_tables
from desktop_app.core.postgres.url import is_postgres_url

DEMO_RATE = 2000
if TYPE_CHECKING:
    from desktop_app.core.demo import DemoServerProcess

DEMO_DATABASE_NAME = "demo.db"
STOP_TIMEOUT_S = 20.0


class IngestController(QObject):
    stats_changed = Signal(object)  # IngestStats: each report of the worker (~5 Hz, and on state changes)
    started = Signal(object)  # IngestConfig
    stopped = Signal(object)  # final IngestStats (None when the run never started)
    failed = Signal(object)  # PulseError
    demo_starting = Signal()
    demo_database_ready = Signal(object)  # Path of the fresh demo database (the window opens it)

    def __init__(self, parent: QObject | None = None, *, data_dir: Path | None = None, dialogs: object = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.dialogs = dialogs  # the window's Dialogs (or ScriptedDialogs): asks before writing a user's file
        self.config: IngestConfig | None = None
        self.last_stats: IngestStats | None = None
        self._worker: WorkerProcess | None = None
        self._demo: DemoServerProcess | None = None
        self._task: asyncio.Task | None = None
        self._final: IngestStats | None = None
        self._error: PulseError | None = None
        self._stop_requested = False

    # -- state -----------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def demo_url(self) -> str | None:
        return self._demo.url if self._demo is not None else None

    @property
    def demo_pid(self) -> int | None:
        return self._demo.pid if self._demo is not None else None

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    def poll(self) -> IngestStats | None:
        """The latest report (reports arrive by themselves; kept for callers that ask)."""
        return self.last_stats

    def rows_per_second(self) -> float | None:
        """Rows written per second over the session's last two seconds; None when no ingest runs."""
        if not self.running or self.last_stats is None:
            return None
        return self.last_stats.recent_rows_per_s

    def demo_database_path(self) -> Path:
        if self.data_dir is None:
            raise PulseError("No data folder for the demo database.")
        return self.data_dir / DEMO_DATABASE_NAME

    # -- starting --------------------------------------------------------------------------------------------

    def start(self, config: IngestConfig, *, password: str | None = None) -> None:
        """Start ingesting into `config.db_path` (the caller asked the user first: see `ask_and_start`).
        `password`: for a PostgreSQL target, given to the worker's libpq only (its environment)."""
        self._begin(self._run(config.validated(), password))

    def ask_and_start(self, config: IngestConfig, *, password: str | None = None) -> None:
        """Start, but first ask (through the window's `dialogs`) when the database lacks the tables an ingest
        creates, naming them. The check reads the schema off the GUI thread."""
        if self.running:
            raise PulseError("An ingest is already running; stop it first.")
        config = config.validated()
        if is_postgres_url(config.db_path):  # its tables are created with the first batch, like a new file's
            self.start(config, password=password)
            return

        async def check_then_start() -> None:
            loop = asyncio.get_running_loop()
            try:
                missing = await loop.run_in_executor(None, _missing_tables, config.db_path, config.table)
            except PulseError as exc:
                self.failed.emit(exc)
                return
            if self.running:
                self.failed.emit(PulseError("An ingest is already running; stop it first."))
                return
            if not missing:
                self.start(config)
                return
            names = ", ".join(missing)
            if self.dialogs is None:
                self.failed.emit(PulseError(f"{config.db_path.name} has no ingest tables and nobody to ask."))
                return
            self.dialogs.confirm(  # type: ignore[attr-defined]
                "Write into this database?",
                f"Streaming into {config.db_path.name} creates {len(missing)} table"
                f"{'s' if len(missing) != 1 else ''} in it: {names}. The first is created when the first "
                "message arrives.",
                lambda: self.start(config),
                accept_label="Create and stream",
            )

        asyncio.ensure_future(check_then_start())

    def start_demo(self, *, table: str = "readings", rate: int | None = DEMO_RATE) -> None:
        """Start the built-in demo stream server and ingest it into a fresh demo database of its own (the
        user's open database is never written by the demo). `demo_database_ready` tells the window the path."""
        self._begin(self._run_demo(table, rate or None))

    def _begin(self, work: object) -> None:
        if self.running:
            with contextlib.suppress(AttributeError):
                work.close()  # type: ignore[attr-defined]
            raise PulseError("An ingest is already running; stop it first.")
        self._stop_requested = False
        self.last_stats = None
        self._final: IngestStats | None = None
        self._error: PulseError | None = None
        self._task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        """Once everything is over (children exited): report the end; `running` is False by now."""
        if task is not self._task:
            return
        _surface_bugs(task)
        if self._error is not None:
            self.failed.emit(self._error)
        self.stopped.emit(self._final)

    async def _run_demo(self, table: str, rate: int | None) -> None:
        self.demo_starting.emit()
        path = self.demo_database_path()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, _fresh_database, path)
            self.demo_database_ready.emit(path)
            from desktop_app.core.demo import DemoServerProcess  # the server's modules load only for a demo

            self._demo = await DemoServerProcess.start(rate=rate)
        except PulseError as exc:
            self._error = exc
            return
        try:
            if self._stop_requested:
                return
            await self._run(IngestConfig(url=self._demo.url, db_path=path, table=table).validated())
        finally:
            demo, self._demo = self._demo, None
            await demo.stop()

    async def _run(self, config: IngestConfig, password: str | None = None) -> None:
        self.config = config
        try:
            worker = await WorkerProcess.start(config, password=password)
        except PulseError as exc:
            self._error = exc
            return
        self._worker = worker
        if self._stop_requested:
            worker.stop()
        self.started.emit(config)
        try:
            async for event in worker.events():
                if event.get("event") in ("stats", "final") and event.get("stats"):
                    self.last_stats = IngestStats.from_dict(event["stats"])
                    self.stats_changed.emit(self.last_stats)
            await worker.wait(STOP_TIMEOUT_S)
        finally:
            self._worker = None
            if worker.process.returncode is None:  # cancelled (the window is going): leave nothing behind
                worker.kill()
        self._error = worker.error
        self._final = worker.final or self.last_stats

    # -- stopping --------------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop; `stopped` is emitted once it has flushed everything."""
        self._stop_requested = True
        if self._worker is not None:
            self._worker.stop()
        elif self.running:
            self._task.cancel()  # still starting (the demo server, the worker): nothing to flush yet

    def shutdown(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """The window is closing (perhaps after its loop stopped): stop the worker and wait for it to exit (it
        flushes); end the demo server; cancel whatever is still starting. Blocks at most `timeout`."""
        self.stop()
        worker, demo = self._worker, self._demo
        if worker is not None and not _wait_gone(worker.pid, timeout):
            worker.kill()
        if demo is not None:
            demo.close_stdin()
            with contextlib.suppress(ProcessLookupError):
                os.kill(demo.pid, 15)
            if not _wait_gone(demo.pid, 5.0):
                demo.kill()
        if self._task is not None and not self._task.done():
            self._task.cancel()  # a start-up in flight: cancelling it kills what it spawned


def _surface_bugs(task: asyncio.Task) -> None:
    """A bug in the controller's task reaches the excepthook instead of vanishing with the task."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, PulseError):
        loop = asyncio.get_event_loop()
        loop.call_exception_handler({"message": "ingest controller failed", "exception": error, "task": task})


def _missing_tables(path: Path, table: str) -> list[str]:
    connection = connect_read(path)
    try:
        return missing_ingest_tables(connection, table)
    finally:
        connection.close()


def _fresh_database(path: Path) -> None:
    """A new, empty demo database (the previous demo's data is discarded: it is ours, not the user's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    create_database(path)


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait (blocking) until process `pid` has exited and been reaped; /proc, no psutil."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_exists(pid):
            return True
        time.sleep(0.02)
    return not process_exists(pid)


def process_exists(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

