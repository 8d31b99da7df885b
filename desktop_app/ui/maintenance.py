"""Tools menu actions: backup, checkpoint, VACUUM, VACUUM INTO, integrity check, optimize.

Each runs the core function on the task pool; the result comes back to the GUI thread and is shown in a
message and the status bar, and announced through `finished` (the self-test and the tests listen to it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop_app.core import maintenance
from desktop_app.core.database import Database
from desktop_app.core.errors import PulseError
from desktop_app.ui.dialogs import Dialogs, Progress, ScriptedDialogs
from desktop_app.ui.workers import GuiPoster, TaskRunner

WRITE_ACTIONS = frozenset({"checkpoint", "vacuum", "optimize"})


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000.0
    return f"{count:,.1f} TB"


def describe_checkpoint(result: maintenance.CheckpointResult) -> str:
    mode = result.mode.upper()
    if result.log_frames < 0:
        return f"Checkpoint ({mode}): the database is not in WAL mode, so there is nothing to checkpoint."
    text = (
        f"Checkpoint ({mode}): busy={result.busy}, WAL frames={result.log_frames:,}, "
        f"checkpointed={result.checkpointed_frames:,}."
    )
    if result.busy:
        text += " Another connection was busy, so the checkpoint could not finish; try again when it is idle."
    elif result.checkpointed_frames < result.log_frames:
        text += " Some frames are still needed by an open reader."
    return text


def describe_vacuum(result: maintenance.VacuumResult) -> str:
    saved = result.before_bytes - result.after_bytes
    target = f" into {result.destination}" if result.destination else ""
    return (
        f"VACUUM{target}: {human_bytes(result.before_bytes)} → {human_bytes(result.after_bytes)} "
        f"({'saved ' + human_bytes(saved) if saved > 0 else 'no space reclaimed'}) in {result.seconds:.1f} s."
    )


def describe_backup(result: maintenance.BackupResult) -> str:
    if result.cancelled:
        return "Backup cancelled; no partial file was left behind."
    return f"Backed up {result.pages:,} pages to {result.destination} in {result.seconds:.1f} s."


def describe_check(result: maintenance.CheckResult) -> str:
    kind = "Quick check" if result.quick else "Integrity check"
    if result.ok:
        return f"{kind} passed: the database is consistent."
    shown = "\n".join(result.messages[:20])
    more = f"\n… and {len(result.messages) - 20} more" if len(result.messages) > 20 else ""
    return f"{kind} found {len(result.messages)} problem(s):\n{shown}{more}"


def describe_optimize(statements: list[str]) -> str:
    if not statements:
        return "Optimize: the query planner statistics are already current; nothing to do."
    return "Optimize ran:\n" + "\n".join(statements)


class MaintenanceActions(QObject):
    finished = Signal(str, object)  # action name, core result
    failed = Signal(str, object)  # action name, PulseError
    busy_changed = Signal(bool)

    def __init__(
        self,
        tasks: TaskRunner,
        poster: GuiPoster,
        dialogs: Dialogs | ScriptedDialogs,
        show_status: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._poster = poster
        self.dialogs = dialogs
        self._show_status = show_status
        self.database: Database | None = None
        self._running: set[str] = set()
        self._backup_cancel: threading.Event | None = None

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    # Entry points (menu and toolbar) ----------------------------------------------------------------------
    def backup(self) -> None:
        database = self._require("backup")
        if database is None:
            return
        suggested = str(database.path.with_name(f"{database.path.stem}-backup{database.path.suffix or '.db'}"))
        self.dialogs.ask_save_path("Back up to…", self.backup_to, suggested=suggested)

    def backup_to(self, destination: Path) -> None:
        database = self._require("backup")
        if database is None:
            return
        cancel = threading.Event()
        self._backup_cancel = cancel
        progress: Progress = self.dialogs.progress("Backup", f"Backing up {database.path.name}…", cancel.set)
        report = self._poster.wrap(progress.update)
        overwrite = destination.exists()  # the save dialog already asked before replacing it

        def job() -> maintenance.BackupResult:
            return maintenance.backup(database.path, destination, progress=report, cancel=cancel, overwrite=overwrite)

        def done(result: maintenance.BackupResult) -> None:
            progress.close()
            self._backup_cancel = None
            self._succeeded("backup", result, describe_backup(result))

        def failed(error: PulseError) -> None:
            progress.close()
            self._backup_cancel = None
            self._failed("backup", error)

        self._start("backup", job, done, failed)

    def cancel_backup(self) -> None:
        if self._backup_cancel is not None:
            self._backup_cancel.set()

    def checkpoint(self, mode: str) -> None:
        database = self._require("checkpoint")
        if database is None:
            return
        self._start(
            "checkpoint",
            lambda: maintenance.checkpoint(database.path, mode),
            lambda result: self._succeeded("checkpoint", result, describe_checkpoint(result), popup=False),
            lambda error: self._failed("checkpoint", error),
        )

    def vacuum(self) -> None:
        database = self._require("vacuum")
        if database is None:
            return
        self.dialogs.confirm(
            "VACUUM",
            f"VACUUM rewrites all of {database.path.name} to reclaim free pages. It needs free disk space about "
            "the size of the database, and other writers wait until it finishes. Run it now?",
            self.run_vacuum,
            accept_label="Run VACUUM",
        )

    def run_vacuum(self) -> None:
        database = self._require("vacuum")
        if database is None:
            return
        self._start(
            "vacuum",
            lambda: maintenance.vacuum(database.path),
            lambda result: self._succeeded("vacuum", result, describe_vacuum(result)),
            lambda error: self._failed("vacuum", error),
        )

    def vacuum_into(self) -> None:
        database = self._require("vacuum_into")
        if database is None:
            return
        suggested = str(database.path.with_name(f"{database.path.stem}-compact{database.path.suffix or '.db'}"))
        self.dialogs.ask_save_path("VACUUM INTO…", self.vacuum_into_path, suggested=suggested)

    def vacuum_into_path(self, destination: Path) -> None:
        database = self._require("vacuum_into")
        if database is None:
            return
        self._start(
            "vacuum_into",
            lambda: maintenance.vacuum_into(database.path, destination),
            lambda result: self._succeeded("vacuum_into", result, describe_vacuum(result)),
            lambda error: self._failed("vacuum_into", error),
        )

    def integrity_check(self, *, quick: bool = False) -> None:
        database = self._require("integrity_check")
        if database is None:
            return
        self._start(
            "integrity_check",
            lambda: maintenance.integrity_check(database.path, quick=quick),
            lambda result: self._succeeded("integrity_check", result, describe_check(result)),
            lambda error: self._failed("integrity_check", error),
        )

    def optimize(self) -> None:
        database = self._require("optimize")
        if database is None:
            return
        self._start(
            "optimize",
            lambda: maintenance.optimize(database.path),
            lambda result: self._succeeded("optimize", result, describe_optimize(result)),
            lambda error: self._failed("optimize", error),
        )

    # Plumbing ---------------------------------------------------------------------------------------------
    def _require(self, action: str) -> Database | None:
        title = action.replace("_", " ").capitalize()
        if self.database is None:
            self.dialogs.show_error(title, "Open a database first.")
            return None
        if action in WRITE_ACTIONS and self.database.read_only:
            self.dialogs.show_error(
                title, f"{self.database.path.name} is open read-only. Reopen it read-write (File ▸ Open…) to do this."
            )
            return None
        if action in self._running:
            self._show_status(f"{title} is already running.")
            return None
        return self.database

    def _start(self, action: str, job: Callable[[], Any], done: Callable[[Any], None], failed: Callable) -> None:
        self._running.add(action)
        self.busy_changed.emit(True)
        self._show_status(f"{action.replace('_', ' ').capitalize()} running…")
        self._tasks.run(job, done, failed)

    def _finish(self, action: str) -> None:
        self._running.discard(action)
        self.busy_changed.emit(bool(self._running))

    def _succeeded(self, action: str, result: object, message: str, *, popup: bool = True) -> None:
        self._finish(action)
        self._show_status(message.splitlines()[0])
        if popup:
            self.dialogs.show_info(action.replace("_", " ").capitalize(), message)
        self.finished.emit(action, result)

    def _failed(self, action: str, error: PulseError) -> None:
        self._finish(action)
        title = action.replace("_", " ").capitalize()
        self._show_status(f"{title} failed: {error}")
        self.dialogs.show_error(f"{title} failed", str(error))
        self.failed.emit(action, error)
