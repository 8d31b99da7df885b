"""The progress line of an SQL file running on the session's writer: bytes read, statements run, Stop.

The file is read and run on the session's write thread (`Session.run_sql_file`, core/sql_script.py), in one
transaction; this bar only shows its progress and turns its end into a sentence: how many statements ran,
or which line failed and that nothing of the file was kept.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QProgressBar, QPushButton, QWidget

from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.session import Session
from desktop_app.ui.widgets.job_bar import JobBar

if TYPE_CHECKING:
    from desktop_app.core.sql_script import ScriptProgress, ScriptResult

PERCENT_STEPS = 1000  # the bar's resolution: bytes are scaled to this, a file may be larger than an int32


class ScriptBar(JobBar):
    """`finished` carries a ScriptResult; `failed` a PulseError (QueryInterrupted when stopped)."""

    cancelling_text = "Stopping: rolling back…"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scriptBar")
        self.path: Path | None = None
        self.one_transaction = True
        self.last_progress: ScriptProgress | None = None
        self._started = 0.0
        self.progress = QProgressBar()
        self.progress.setObjectName("scriptProgress")
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(200)
        self.label.setObjectName("scriptLabel")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopScript")
        self.stop_button.setToolTip("Stop the file: its transaction is rolled back, nothing of it is kept")
        self._arrange(self.progress, self.stop_button)

    def start(self, session: Session, path: Path, *, one_transaction: bool = True) -> asyncio.Task | None:
        """Run the file at `path` (in one transaction, or as written); `finished` or `failed` follows."""
        if self.job is not None:
            self.failed.emit(PulseError("A file is still running: stop it first."))
            return None
        self.path = path
        self.one_transaction = one_transaction
        self.last_progress = None
        self._started = time.monotonic()
        try:
            job = session.run_sql_file(path, one_transaction=one_transaction, progress=self._progress)
        except PulseError as error:
            self.failed.emit(error)
            return None
        self.progress.setRange(0, 0)
        self.label.setText(f"Running {path.name}…")
        return self._run(job)

    def _progress(self, progress: ScriptProgress) -> None:  # the GUI thread, via the job
        self.last_progress = progress
        if progress.bytes_total > 0:
            self.progress.setRange(0, PERCENT_STEPS)
            self.progress.setValue(min(PERCENT_STEPS, progress.bytes_done * PERCENT_STEPS // progress.bytes_total))
        seconds = time.monotonic() - self._started
        name = self.path.name if self.path else "the file"
        self.label.setText(f"Running {name}: {progress.statements:,} statements · {seconds:.1f} s")

    def describe_result(self, result: ScriptResult) -> str:
        name = self.path.name if self.path else "The file"
        changed = f", {result.changes:,} rows changed" if result.changes else ""
        how = "one transaction, committed" if result.one_transaction else "as written"
        return f"{name}: {result.statements:,} statements ran in {result.seconds:.1f} s{changed} ({how})."

    def describe_failure(self, error: PulseError) -> str:
        """What happened, and whether anything the file did before was kept."""
        name = self.path.name if self.path else "The file"
        stopped = "was stopped" if isinstance(error, QueryInterrupted) else "stopped at an error"
        if self.one_transaction:
            kept = "nothing of the file was kept (one transaction, rolled back)"
        else:
            kept = "what the statements before it committed was kept (it ran as written; an open transaction was rolled back)"
        detail = "" if isinstance(error, QueryInterrupted) else f" {error}"
        return f"{name} {stopped}; {kept}.{detail}"
