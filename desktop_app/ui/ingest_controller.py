"""Drives the window's ingest on the window's asyncio (qasync) loop: no threads, no polling, no waiting.

The ingest runs in a child process (the hidden `ingest-worker` verb; see core/ingest/protocol.py), run as
a `ChildProcess` (core/children.py): the whole config goes as one JSON document, its JSON-lines reports
(stats, state changes, the final counts) arrive on the loop. The demo stream server is a child too,
streaming into its own demo database, never into the user's open file.

Stopping is awaited, never waited for: `stop()` closes the worker's stdin (it flushes and exits), then ends
the demo server, each step with a deadline, while the window keeps painting. Children never outlive the
window: if its process dies, each child sees its stdin reach EOF and the kernel sends it SIGTERM
(PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop_app.core.children import ChildProcess
from desktop_app.core.database import connect_read, create_database
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestStats
from desktop_app.core.ingest.protocol import STOP_DEADLINES, final_report, start_worker
from desktop_app.core.ingest.sink import missing_ingest_tables
from desktop_app.core.postgres.url import is_postgres_url

DEMO_RATE = 2000
DEMO_DATABASE_NAME = "demo.db"


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
        self._worker: ChildProcess | None = None
        self._demo: ChildProcess | None = None
        self._task: asyncio.Task | None = None
        self._final: IngestStats | None = None
        self._error: PulseError | None = None
        self._reported_final = False
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
        self._final = None
        self._error = None
        self._reported_final = False
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
            from desktop_app.core.demo import start_demo_server  # the server's modules load only for a demo

            demo = await start_demo_server(rate=rate)  # cancelled or failed: it kills what it spawned
        except PulseError as exc:
            self._error = exc
            return
        self._demo = demo
        try:
            if not self._stop_requested:
                await self._run(IngestConfig(url=demo.url or "", db_path=path, table=table).validated())
        finally:
            self._demo = None
            await demo.stop()

    async def _run(self, config: IngestConfig, password: str | None = None) -> None:
        self.config = config
        try:
            worker = await start_worker(config, password=password, on_message=self._on_report)
        except PulseError as exc:
            self._error = exc
            return
        self._worker = worker
        if self._stop_requested:
            worker.stop(*STOP_DEADLINES)
        self.started.emit(config)
        try:
            code = await worker.finished()
        finally:
            self._worker = None
            worker.signal(signal.SIGKILL)  # only if cancelled (the window is going): leave nothing behind
        if not self._reported_final:
            detail = worker.stderr_text().strip()[-800:]
            self._error = PulseError(f"The ingest process ended unexpectedly (exit code {code}). {detail}".strip())
        self._final = self._final or self.last_stats

    def _on_report(self, message: dict[str, Any]) -> None:
        """One line of the worker's, on the loop."""
        if message.get("event") == "final":
            self._reported_final = True
            self._final, self._error = final_report(message)
        if message.get("event") in ("stats", "final") and message.get("stats"):
            self.last_stats = IngestStats.from_dict(message["stats"])
            self.stats_changed.emit(self.last_stats)

    # -- stopping --------------------------------------------------------------------------------------------

    def stop(self) -> asyncio.Future[None]:
        """Stop the run: the worker flushes what it received and exits, then the demo server ends; each step
        has a deadline (protocol.STOP_DEADLINES). Returns at once; the returned future is done (and `stopped`
        emitted) once every child has exited, so a slot may await it and nothing else waits."""
        self._stop_requested = True
        if self._worker is not None:
            self._worker.stop(*STOP_DEADLINES)
        elif self.running:
            self._task.cancel()  # still starting (the demo server, the worker): nothing to flush yet
        return asyncio.ensure_future(self._over())

    async def _over(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})

    def shutdown(self) -> None:
        """The window is going: stop everything, without waiting. On a running loop this is `stop()`. Once the
        loop has ended (the app's last resort) nothing can be awaited: each child gets SIGTERM now, which stops
        it as EOF would (the worker still flushes), and exits on its own."""
        if not self.running:
            return
        if self._task.get_loop().is_running():
            self.stop()
            return
        for child in (self._worker, self._demo):
            if child is not None:
                child.signal(signal.SIGTERM)


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
