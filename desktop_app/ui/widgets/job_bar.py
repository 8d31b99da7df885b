"""A progress line under a view that runs one session `Job` at a time: progress, a label, a cancel button.

`OneJob` is what it shares with the dialogs that run a job (dialogs.JobDialog): `job` while one runs,
`running`, and cancelling it with a word to the user.

`JobBar` owns the job's lifetime: `_run(job)` shows the bar and awaits the job; the bar hides when it ends and
`finished` (the job's result) or `failed` (a `PulseError`, `QueryInterrupted` when cancelled) follows. A
subclass starts its own kind of job, lays out its widgets with `_arrange` and says what cancelling shows.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from desktop_app.core.errors import PulseError
from desktop_app.ui.aio import spawn

if TYPE_CHECKING:
    from desktop_app.core.worker import Job


class OneJob:
    """A widget running one job at a time: `job` while it runs."""

    job: Job[Any] | None

    @property
    def running(self) -> bool:
        return self.job is not None

    def cancel_job(self, label: QLabel, saying: str) -> bool:
        """Cancel the running job and say `saying` in `label`; False when none is running."""
        if self.job is None:
            return False
        self.job.cancel()
        label.setText(saying)
        return True


class JobBar(OneJob, QWidget):
    finished = Signal(object)  # the job's result
    failed = Signal(object)  # PulseError (QueryInterrupted when cancelled)

    cancelling_text = "Cancelling…"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = None
        self.label = QLabel("")

    def _arrange(self, progress: QWidget, button: QPushButton) -> None:
        """Progress on the left, the label taking the room, the button (which cancels) on the right."""
        button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(progress)
        layout.addWidget(self.label, 1)
        layout.addWidget(button)
        self.hide()

    def cancel(self) -> None:
        self.cancel_job(self.label, self.cancelling_text)

    def _run(self, job: Job[Any]) -> asyncio.Task:
        """Show the bar and await `job` in the background."""
        self.job = job
        self.show()
        return spawn(self._wait(job))

    async def _wait(self, job: Job[Any]) -> None:
        try:
            result = await job
        except PulseError as error:
            self._done()
            self.failed.emit(error)
            return
        except BaseException:  # cancelled with its task, or a bug (it goes on to the excepthook)
            job.cancel()
            self._done()
            raise
        self._done()
        self.finished.emit(result)

    def _done(self) -> None:
        self.job = None
        self.hide()
