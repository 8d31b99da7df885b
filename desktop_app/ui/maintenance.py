"""Tools menu actions: backup, checkpoint, VACUUM, VACUUM INTO, integrity check, optimize.

Each is a job of the window's `Session`, awaited on the qasync loop; the result is shown in a message and
the status bar, and announced through `finished` (the self-test and the tests listen to it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop_app.core import maintenance
from desktop_app.core.errors import PulseError
from desktop_app.core.session import Job, Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, Progress, ScriptedDialogs

# The texts and the list of jobs that write are core's (core/maintenance.py), shared with the command line.
WRITE_ACTIONS = maintenance.WRITE_JOBS
human_bytes = maintenance.human_bytes  # the window's status bar uses it too


def _describe(result: maintenance.CheckpointResult | maintenance.BackupResult | maintenance.VacuumResult
              | maintenance.CheckResult) -> str:
    return result.describe()


class MaintenanceActions(QObject):
    finished = Signal(str, object)  # action name, core result
    failed = Signal(str, object)  # action name, PulseError
    busy_changed = Signal(bool)

    def __init__(
        self,
        dialogs: Dialogs | ScriptedDialogs,
        show_status: Callable[[str], None],
        parent: QObject | None = None,
        *,
        workspace: Workspace | None = None,
    ) -> None:
        super().__init__(parent)
        self.dialogs = dialogs
        self._show_status = show_status
        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            workspace.session_changed.connect(self.set_session)
        self.session: Session | None = None
        self._running: dict[str, Job] = {}

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def set_session(self, session: Session | None) -> None:
        """Act on `session`; jobs of the previous one are cancelled where they can be (the session waits
        for the rest when it closes) and their results are no longer shown."""
        for job in self._running.values():
            job.cancel()
        self._running.clear()
        self.busy_changed.emit(False)
        self.session = session

    # Entry points (menu and toolbar) ----------------------------------------------------------------------
    def backup(self) -> None:
        session = self._require("backup")
        if session is None:
            return
        path = session.path
        suggested = str(path.with_name(f"{path.stem}-backup{path.suffix or '.db'}"))
        self.dialogs.ask_save_path("Back up to…", self.backup_to, suggested=suggested)

    def backup_to(self, destination: Path) -> asyncio.Task | None:
        session = self._require("backup")
        if session is None:
            return None
        overwrite = destination.exists()  # the save dialog already asked before replacing it
        cancel = threading.Event()  # the dialog exists before the job: the job takes this as its cancel flag
        progress: Progress = self.dialogs.progress("Backup", f"Backing up {session.path.name}…", cancel.set)
        try:
            job = session.backup(destination, progress=progress.update, overwrite=overwrite, cancel=cancel)
        except PulseError as error:
            progress.close()
            self._failed("backup", error)
            return None
        return self._watch("backup", job, _describe, on_end=progress.close)

    def checkpoint(self, mode: str) -> asyncio.Task | None:
        session = self._require("checkpoint")
        if session is None:
            return None
        return self._start("checkpoint", lambda: session.checkpoint(mode), _describe, popup=False)

    def vacuum(self) -> None:
        session = self._require("vacuum")
        if session is None:
            return
        self.dialogs.confirm(
            "VACUUM",
            f"VACUUM rewrites all of {session.path.name} to reclaim free pages. It needs free disk space about "
            "the size of the database, and other writers wait until it finishes. Run it now?",
            self.run_vacuum,
            accept_label="Run VACUUM",
        )

    def run_vacuum(self) -> asyncio.Task | None:
        session = self._require("vacuum")
        if session is None:
            return None
        return self._start("vacuum", session.vacuum, _describe)

    def vacuum_into(self) -> None:
        session = self._require("vacuum_into")
        if session is None:
            return
        path = session.path
        suggested = str(path.with_name(f"{path.stem}-compact{path.suffix or '.db'}"))
        self.dialogs.ask_save_path("VACUUM INTO…", self.vacuum_into_path, suggested=suggested)

    def vacuum_into_path(self, destination: Path) -> asyncio.Task | None:
        session = self._require("vacuum_into")
        if session is None:
            return None
        return self._start("vacuum_into", lambda: session.vacuum_into(destination), _describe)

    def integrity_check(self, *, quick: bool = False) -> asyncio.Task | None:
        session = self._require("integrity_check")
        if session is None:
            return None
        return self._start("integrity_check", lambda: session.integrity_check(quick=quick), _describe)

    def optimize(self) -> asyncio.Task | None:
        session = self._require("optimize")
        if session is None:
            return None
        return self._start("optimize", session.optimize, maintenance.describe_optimize)

    # Plumbing ---------------------------------------------------------------------------------------------
    def _require(self, action: str) -> Session | None:
        title = action.replace("_", " ").capitalize()
        session = self.session
        if session is None or session.closed:
            self.dialogs.show_error(title, "Open a database first.")
            return None
        if action in WRITE_ACTIONS and session.read_only:
            self.dialogs.show_error(
                title, f"{session.path.name} is open read-only. Reopen it read-write (File ▸ Open…) to do this."
            )
            return None
        if action in self._running:
            self._show_status(f"{title} is already running.")
            return None
        return session

    def _start(
        self, action: str, begin: Callable[[], Job], describe: Callable[[Any], str], *, popup: bool = True
    ) -> asyncio.Task | None:
        try:
            job = begin()
        except PulseError as error:
            self._failed(action, error)
            return None
        return self._watch(action, job, describe, popup=popup)

    def _watch(
        self,
        action: str,
        job: Job,
        describe: Callable[[Any], str],
        *,
        popup: bool = True,
        on_end: Callable[[], None] | None = None,
    ) -> asyncio.Task:
        self._running[action] = job
        self.busy_changed.emit(True)
        self._show_status(f"{action.replace('_', ' ').capitalize()} running…")

        async def settle() -> None:
            try:
                result = await job
            except PulseError as error:
                if self._finish(action, job, on_end):
                    self._failed(action, error)
            else:
                if self._finish(action, job, on_end):
                    self._succeeded(action, result, describe(result), popup=popup)

        return spawn(settle())

    def _finish(self, action: str, job: Job, on_end: Callable[[], None] | None) -> bool:
        """Forget `job`; False when its session was replaced meanwhile (its result is not shown)."""
        if on_end is not None:
            on_end()
        if self._running.get(action) is not job:
            return False
        del self._running[action]
        self.busy_changed.emit(bool(self._running))
        return True

    def _succeeded(self, action: str, result: object, message: str, *, popup: bool = True) -> None:
        self._show_status(message.splitlines()[0])
        if popup:
            self.dialogs.show_info(action.replace("_", " ").capitalize(), message)
        self.finished.emit(action, result)

    def _failed(self, action: str, error: PulseError) -> None:
        title = action.replace("_", " ").capitalize()
        self._show_status(f"{title} failed: {error}")
        self.dialogs.show_error(f"{title} failed", str(error))
        self.failed.emit(action, error)
