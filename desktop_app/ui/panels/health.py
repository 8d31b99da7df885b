"""Health: the audit's findings (core/audit.py) for the open database, with the SQL to copy and, for the
few safe ones, a one-click fix behind a confirmation.

The audit is a job of the session (its own thread and read connection), awaited on the loop with a progress
bar and a Cancel; a fix runs on the session's one writer and the audit runs again afterwards. The Fix…
button exists only for a finding whose fix is declared safe, on a session opened read-write. Confirmations
go through `Dialogs` (callbacks, no `exec()`), so the tests answer them with `ScriptedDialogs`.
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.audit import AuditReport, Finding, Severity
from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.session import Job, Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui import theme
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.panels import follow_workspace
from desktop_app.ui.sql_highlighter import SqlHighlighter

ICONS = {
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
}
WARNING_HUE = "#b35900"
FINDING_ROLE = Qt.ItemDataRole.UserRole


class HealthPanel(QWidget):
    audit_finished = Signal(object)  # AuditReport
    audit_failed = Signal(object)  # PulseError (a cancel included)
    fix_applied = Signal(object, str)  # Finding, what was done
    fix_failed = Signal(object, object)  # Finding, PulseError

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        workspace: Workspace | None = None,
        dialogs: Dialogs | ScriptedDialogs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("health")
        self.dialogs: Dialogs | ScriptedDialogs = dialogs if dialogs is not None else Dialogs(self)
        self._session: Session | None = None
        self._job: Job[AuditReport] | None = None
        self._fixing: Finding | None = None
        self.report: AuditReport | None = None

        self.run_button = QPushButton("Run audit")
        self.run_button.setObjectName("healthRun")
        self.run_button.clicked.connect(self.run_audit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(160)
        self.step_label = QLabel()
        self.summary_label = QLabel("Open a database, then run the audit.")
        self.summary_label.setWordWrap(True)
        self.version_label = QLabel()
        self.notice_label = QLabel()  # what the last fix did
        self.notice_label.setWordWrap(True)

        self.findings = QListWidget()
        self.findings.setObjectName("healthFindings")
        self.findings.currentItemChanged.connect(lambda *_: self._show_selected())

        self.title_label = QLabel()
        self.title_label.setWordWrap(True)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.evidence_label = QLabel()
        self.evidence_label.setWordWrap(True)
        self.evidence_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice_label = QLabel()
        self.advice_label.setWordWrap(True)
        self.advice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sql_view = QPlainTextEdit()
        self.sql_view.setReadOnly(True)
        self.sql_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sql_view.setMaximumHeight(110)
        self.sql_highlighter = SqlHighlighter(self.sql_view.document())
        self.copy_button = QPushButton("Copy SQL")
        self.copy_button.clicked.connect(self.copy_sql)
        self.fix_button = QPushButton("Fix…")
        self.fix_button.setObjectName("healthFix")
        self.fix_button.clicked.connect(self.fix_selected)

        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        top.addWidget(self.step_label, 1)
        top.addWidget(self.version_label)

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.title_label)
        details_layout.addWidget(self.evidence_label)
        details_layout.addWidget(self.advice_label)
        details_layout.addWidget(self.sql_view)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.fix_button)
        details_layout.addLayout(buttons)
        details_layout.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.findings)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.notice_label)
        layout.addWidget(splitter, 1)

        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            follow_workspace(self, workspace, self.set_session, self._let_go)
        else:
            self.set_session(None)

    # Session ----------------------------------------------------------------------------------------------
    def _let_go(self) -> None:
        """Deleted while a file is open: its running audit stops (no widget touched)."""
        if self._job is not None:
            self._job.cancel()
        self._session = None

    def set_session(self, session: Session | None) -> None:
        """Audit `session` from now on; the previous one's findings leave the screen and its audit stops."""
        if self._job is not None:
            self._job.cancel()
        self._job = None
        self._fixing = None
        self._session = session
        self.notice_label.clear()
        self._show_report(None)
        self.summary_label.setText("Run the audit to check this database." if session else
                                   "Open a database, then run the audit.")
        self._set_busy(False)

    @property
    def running(self) -> bool:
        return self._job is not None

    # Audit ------------------------------------------------------------------------------------------------
    def run_audit(self) -> asyncio.Task | None:
        session = self._session
        if session is None or session.closed or self._job is not None:
            return None
        try:
            job = session.audit(progress=self._on_progress)
        except PulseError as error:
            self._audit_error(error)
            return None
        self._job = job
        self._set_busy(True)
        return spawn(self._await_audit(session, job))

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    async def _await_audit(self, session: Session, job: Job[AuditReport]) -> None:
        try:
            report = await job
        except PulseError as error:
            if self._job is job:
                self._job = None
                self._set_busy(False)
                self._audit_error(error)
            return
        if self._job is not job or session is not self._session:
            return  # another file, or a newer audit: this one's answer is nobody's now
        self._job = None
        self._set_busy(False)
        self._show_report(report)
        self.audit_finished.emit(report)

    def _on_progress(self, done: int, total: int, step: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.step_label.setText(f"{step}…" if done < total else "")

    def _audit_error(self, error: PulseError) -> None:
        cancelled = isinstance(error, QueryInterrupted)
        self.summary_label.setText("Audit cancelled." if cancelled else f"⚠ The audit failed: {error}")
        self.audit_failed.emit(error)

    # Findings ---------------------------------------------------------------------------------------------
    def _show_report(self, report: AuditReport | None) -> None:
        self.report = report
        self.findings.clear()
        self.version_label.setText("" if report is None else f"Schema version (user_version): {report.user_version}")
        if report is not None:
            self.summary_label.setText(report.summary())
            colors = theme.colors(self.palette())
            for finding in report.findings:
                item = QListWidgetItem(self._icon(finding.severity), finding.title)
                item.setData(FINDING_ROLE, finding)
                item.setToolTip(finding.evidence)
                color = severity_color(finding.severity, colors)
                if color is not None:
                    item.setForeground(color)
                self.findings.addItem(item)
            if report.findings:
                self.findings.setCurrentRow(0)
        self._show_selected()

    def _icon(self, severity: Severity) -> QIcon:
        return self.style().standardIcon(ICONS[severity])

    @property
    def listed(self) -> list[Finding]:
        return [self.findings.item(row).data(FINDING_ROLE) for row in range(self.findings.count())]

    @property
    def current_finding(self) -> Finding | None:
        item = self.findings.currentItem()
        return None if item is None else item.data(FINDING_ROLE)

    def select(self, code: str) -> Finding | None:
        """Select the first finding with `code` (the tests and the self-test use it)."""
        for row, finding in enumerate(self.listed):
            if finding.code == code:
                self.findings.setCurrentRow(row)
                return finding
        return None

    def can_fix(self, finding: Finding | None) -> bool:
        session = self._session
        return (finding is not None and finding.fix is not None and session is not None and not session.closed
                and not session.read_only)

    def _show_selected(self) -> None:
        finding = self.current_finding
        self.title_label.setText("" if finding is None else finding.title)
        self.evidence_label.setText("" if finding is None else finding.evidence)
        self.advice_label.setText("" if finding is None else f"What to do: {finding.advice}")
        self.sql_view.setPlainText("" if finding is None or not finding.fix_sql else finding.fix_sql)
        self.sql_view.setVisible(bool(finding and finding.fix_sql))
        self.copy_button.setVisible(bool(finding and finding.fix_sql))
        self.fix_button.setVisible(self.can_fix(finding))
        self.fix_button.setEnabled(self._fixing is None and self._job is None)

    def copy_sql(self) -> None:
        finding = self.current_finding
        if finding is not None and finding.fix_sql:
            QGuiApplication.clipboard().setText(finding.fix_sql)
            self.notice_label.setText("SQL copied to the clipboard.")

    # One-click fixes --------------------------------------------------------------------------------------
    def fix_selected(self) -> None:
        """Ask, then apply the selected finding's fix (the confirmation names what will run)."""
        finding = self.current_finding
        session = self._session
        if finding is None or session is None or not self.can_fix(finding) or self._fixing is not None:
            return
        what = finding.fix_sql or finding.title
        self.dialogs.confirm(
            "Apply fix",
            f"{finding.title}\n\nThis runs on {session.path.name}:\n{what}\n\n{finding.advice}",
            lambda: self.apply_fix(finding),
            accept_label="Apply fix",
        )

    def apply_fix(self, finding: Finding) -> asyncio.Task | None:
        session = self._session
        if session is None or not self.can_fix(finding) or self._fixing is not None:
            return None
        self._fixing = finding
        self._show_selected()
        return spawn(self._fix(session, finding))

    async def _fix(self, session: Session, finding: Finding) -> None:
        try:
            done = await session.apply_fix(finding)
        except PulseError as error:
            if session is self._session:
                self._fixing = None
                self._show_selected()
                self.dialogs.show_error("Fix failed", str(error))
                self.fix_failed.emit(finding, error)
            return
        if session is not self._session:
            return
        self._fixing = None
        self.notice_label.setText(f"✓ {done}")
        self.fix_applied.emit(finding, done)
        self.run_audit()  # show what is left

    # Busy state -------------------------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy and self._session is not None)
        self.cancel_button.setVisible(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # until the first step reports
            self.step_label.setText("Starting…")
        else:
            self.step_label.setText("")
        self.fix_button.setEnabled(self._fixing is None and not busy)


def severity_color(severity: Severity, colors: theme.Colors) -> QColor | None:
    """The text colour a finding is listed in, readable on the list's background (None: the palette's own)."""
    if severity == "error":
        return theme.readable(theme.DANGER, colors.base)
    if severity == "warning":
        return theme.readable(WARNING_HUE, colors.base)
    return None
