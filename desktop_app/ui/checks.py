"""Tools ▸ Foreign Key Check and Tools ▸ Quick Check: a background job of the session, its findings in a list.

Both run on a thread and read connection of their own (`Session.foreign_key_check`, the integrity job
with `quick=True`), show progress (per table for the foreign keys; SQLite's quick_check tells none) and stop
on Cancel or Esc, which interrupts the statement. A line of the foreign key check is a row: activating it
(double-click, Enter) asks for that row in the data grid (`open_row(table, rowid)`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.foreign_keys import ForeignKeyReport
from desktop_app.core.maintenance import CheckResult
from desktop_app.core.session import Job, Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.panels import follow_workspace

ROW_ROLE = Qt.ItemDataRole.UserRole  # (table, rowid) of a foreign key violation
TITLES = {"foreign_keys": "Foreign Key Check", "quick": "Quick Check"}


class ChecksDialog(QDialog):
    open_row = Signal(str, int)  # table, rowid
    finished_check = Signal(object)  # ForeignKeyReport or CheckResult; None when cancelled or failed

    def __init__(self, workspace: Workspace, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setObjectName(f"checks:{kind}")
        self.setWindowTitle(TITLES[kind])
        self.resize(720, 420)
        self._session: Session | None = None
        self.job: Job[Any] | None = None
        self.status = QLabel("")
        self.status.setObjectName("checkStatus")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # hidden at rest, its room kept: the buttons stay button-sized
        self.progress.setSizePolicy(policy)
        self.results = QListWidget()
        self.results.setObjectName("checkResults")
        self.results.itemActivated.connect(self._activated)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelCheck")
        self.cancel_button.clicked.connect(lambda _checked=False: self.cancel())
        self.run_button = QPushButton("Run again")
        self.run_button.clicked.connect(lambda _checked=False: self.run())
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        for button in (self.cancel_button, self.run_button, close):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.results, 1)
        layout.addLayout(row)
        follow_workspace(self, workspace, self.set_session, let_go=self._let_go)

    def set_session(self, session: Session | None) -> None:
        self.cancel()
        self._session = session
        self.results.clear()
        self.status.setText("" if session is not None else "Open a database first.")
        self._busy(False)

    def _let_go(self) -> None:
        """Closed (deleted): the check stops, and its late result finds no session here to show it for."""
        if self.job is not None:
            self.job.cancel()
        self._session = None

    # Running ----------------------------------------------------------------------------------------------
    def run(self) -> Job[Any] | None:
        session = self._session
        if session is None or (self.job is not None and not self.job.done()):
            return None
        self.results.clear()
        try:
            if self.kind == "foreign_keys":
                job: Job[Any] = session.foreign_key_check(progress=self._progress)
            else:
                job = session.integrity_check(quick=True)
        except PulseError as error:
            self.status.setText(f"⚠ {error}")
            return None
        self.job = job
        self.status.setText(f"{TITLES[self.kind]} of {session.path.name} running…")
        self._busy(True)
        spawn(self._settle(session, job))
        return job

    def cancel(self) -> None:
        if self.job is not None and not self.job.done():
            self.job.cancel()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and self.job is not None and not self.job.done():
            self.cancel()  # Esc stops the check; a second Esc closes the window
            event.accept()
            return
        super().keyPressEvent(event)

    def _progress(self, done: int, total: int) -> None:
        if self._session is None:  # closed (deleted): a report sent before the cancel reached the job has no bar
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    async def _settle(self, session: Session, job: Job[Any]) -> None:
        try:
            result = await job
        except QueryInterrupted:
            result, said = None, "Cancelled: nothing more was checked."
        except PulseError as error:
            result, said = None, f"⚠ {error}"
        else:
            said = result.describe()
        if job is not self.job or session is not self._session:
            return
        self._busy(False)
        self.status.setText(said.splitlines()[0] if said else "")
        if isinstance(result, ForeignKeyReport):
            self._list_violations(result)
            if any(violation.rowid is not None for violation in result.violations):
                self.status.setText(f"{self.status.text()} Double-click a line (or Enter) to open its row.")
                self.results.setCurrentRow(0)  # the keyboard's way in: Enter opens the first, arrows move
                self.results.setFocus()
        elif isinstance(result, CheckResult) and not result.ok:
            self.results.addItems(result.messages)
        self.finished_check.emit(result)

    def _list_violations(self, report: ForeignKeyReport) -> None:
        for violation in report.violations:
            item = QListWidgetItem(violation.describe())
            if violation.rowid is not None:
                item.setData(ROW_ROLE, (violation.table, violation.rowid))
                item.setToolTip("Double-click or Enter: open this row in the data grid")
            self.results.addItem(item)
        for problem in report.problems:
            self.results.addItem(f"⚠ {problem}")
        if report.more:
            self.results.addItem(f"… and {report.more:,} more rows")

    def _activated(self, item: QListWidgetItem) -> None:
        target = item.data(ROW_ROLE)
        if target is not None:
            self.open_row.emit(str(target[0]), int(target[1]))

    def _busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.run_button.setEnabled(not busy and self._session is not None)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # moving until a first step is known (quick_check tells none)
