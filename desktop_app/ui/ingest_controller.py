"""The window's view of the workspace's ingest run (core/ingest/run.py): its events as Qt signals, and the
one piece of UI policy an ingest has, asking before writing tables into a user's file.

Everything that runs children lives in core; this adapter starts work as tasks on the qasync loop and never
waits: `stop()` returns a future the window may await.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop_app.core.database import connect_read
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestStats
from desktop_app.core.ingest.run import IngestState
from desktop_app.core.ingest.sink import missing_ingest_tables
from desktop_app.core.ingest.targets import is_server_target
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn

if TYPE_CHECKING:
    from desktop_app.core.children import ChildProcess

DEMO_RATE = 2000


class IngestController(QObject):
    stats_changed = Signal(object)  # IngestStats: each report of the worker (~5 Hz, and on state changes)
    started = Signal(object)  # IngestConfig
    stopped = Signal(object)  # final IngestStats (None when the run never started)
    failed = Signal(object)  # PulseError
    demo_starting = Signal()

    def __init__(
        self, parent: QObject | None = None, *, workspace: Workspace | None = None, data_dir: Path | None = None,
        dialogs: object = None,
    ) -> None:
        super().__init__(parent)
        self.workspace = workspace if workspace is not None else Workspace(data_dir=data_dir)
        self.run = self.workspace.ingest
        self.dialogs = dialogs  # the window's Dialogs (or ScriptedDialogs): asks before writing a user's file
        self.run.stats.connect(self.stats_changed.emit)
        self.run.state.connect(self._on_state)
        self.run.error.connect(self.failed.emit)

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run.running

    @property
    def config(self) -> IngestConfig | None:
        return self.run.config

    @property
    def last_stats(self) -> IngestStats | None:
        return self.run.last_stats

    @property
    def demo_url(self) -> str | None:
        return self.run.demo_url

    @property
    def demo_pid(self) -> int | None:
        return self.run.demo_pid

    @property
    def worker_pid(self) -> int | None:
        return self.run.worker_pid

    @property
    def _worker(self) -> ChildProcess | None:  # tests read the worker's environment
        return self.run._worker

    def poll(self) -> IngestStats | None:
        return self.run.last_stats

    def rows_per_second(self) -> float | None:
        return self.run.rows_per_second()

    def demo_database_path(self) -> Path:
        return self.workspace.demo_database_path()

    def _on_state(self, state: IngestState) -> None:
        if state.phase == "starting" and state.demo:
            self.demo_starting.emit()
        elif state.phase == "running":
            self.started.emit(state.config)
        elif state.phase == "stopped":
            self.stopped.emit(state.final)

    # -- starting --------------------------------------------------------------------------------------------
    def start(self, config: IngestConfig, *, password: str | None = None) -> None:
        """Start ingesting into `config.db_path` (the caller asked the user first: see `ask_and_start`);
        `running` is True on return, a failure to start arrives as `failed`."""
        self.run.begin(config, password=password).add_done_callback(self._report_start)

    def start_demo(self, *, table: str = "readings", rate: int | None = DEMO_RATE) -> asyncio.Task:
        """The demo into a fresh database of its own, which the workspace opens (its `session_changed`) once
        the previous run has stopped and the open file has closed. The task's result: whether it started."""
        return spawn(self._reporting(self.workspace.start_demo(table=table, rate=rate or None)))

    def _report_start(self, started: asyncio.Future[bool]) -> None:
        if not started.cancelled() and isinstance(started.exception(), PulseError):
            self.failed.emit(started.exception())

    async def _reporting(self, starting: Awaitable[bool]) -> bool:
        try:
            return await starting
        except PulseError as exc:
            self.failed.emit(exc)
            return False

    def ask_and_start(self, config: IngestConfig, *, password: str | None = None) -> None:
        """Start, but first ask (through the window's `dialogs`) when the database lacks the tables an ingest
        creates, naming them. The check reads the schema off the GUI thread."""
        if self.running:
            raise PulseError("An ingest is already running; stop it first.")
        config = config.validated()
        if is_server_target(config.db_path):  # its tables are created with the first batch, like a new file's
            self.start(config, password=password)
            return
        spawn(self._check_then_start(config))

    async def _check_then_start(self, config: IngestConfig) -> None:
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

    # -- stopping --------------------------------------------------------------------------------------------
    def stop(self) -> asyncio.Future[None]:
        """Returns at once; the future is done (and `stopped` emitted) once every child has exited."""
        return self.run.stop()

    def shutdown(self) -> None:
        """The window is going: stop every child without waiting (see IngestRun.shutdown)."""
        self.run.shutdown()


def _missing_tables(path: Path, table: str) -> list[str]:
    connection = connect_read(path)
    try:
        return missing_ingest_tables(connection, table)
    finally:
        connection.close()
