"""Tools → Copy to PostgreSQL…: the `migrate` core (core/postgres/migrate.py) with a progress bar and Cancel.

The copy is a job of the open database's session (`Session.copy_to_postgres`), awaited on the window's
qasync loop with its progress delivered on the GUI thread; closing the session (the window) cancels it.
Without a session (the dialog alone) it runs on a worker the dialog owns and stops when the dialog closes.
Cancel rolls back the table being copied; finished tables stay, and copying again skips them. The password field never leaves this process (passed to libpq, not shown or logged).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.targets import is_server_target
from desktop_app.core.postgres.migrate import MigrateCancelled, MigrateResult, Migration
from desktop_app.core.postgres.url import has_password, mask_url
from desktop_app.core.session import Session
from desktop_app.core.worker import Job, Worker
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import JobDialog


class CopyToPostgresDialog(JobDialog):
    finished_copy = Signal(object)  # MigrateResult, or the PulseError that ended it

    def __init__(self, source: Session | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Copy to PostgreSQL")
        # The window still passes the open file's path: its session (the parent's) then owns the copy.
        if isinstance(source, Session):
            self.session: Session | None = source
            self.source = source.path
        else:
            self.session = _session_of(parent, Path(source))
            self.source = self.session.path if self.session is not None else Path(source)
        self.job: Job[MigrateResult] | None = None
        self._worker: Worker | None = None  # only without a session
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("migrateUrl")
        self.url_edit.setPlaceholderText("postgresql://user@host:5432/dbname?sslmode=require")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("optional: PGPASSWORD or ~/.pgpass also work")
        self.schema_edit = QLineEdit()
        self.schema_edit.setPlaceholderText("default schema")
        self.convert_dates_box = QCheckBox("DATE / DATETIME / TIMESTAMP columns of ISO-8601 text become date or timestamp")
        self.convert_dates_box.setToolTip("Off: dates are copied as their exact text. A column with a value that is "
                                          "not ISO-8601 stays text and is listed.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel(f"Copies every table of {self.source.name}, verifies the counts; resumable.")
        self.status.setWordWrap(True)
        self.copy_button = QPushButton("Copy")
        buttons = QDialogButtonBox()
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        form = QFormLayout()
        form.addRow("PostgreSQL URL", self.url_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("Schema", self.schema_edit)
        form.addRow("Dates", self.convert_dates_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.copy_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)

    def start(self) -> None:
        url = self.url_edit.text().strip()
        if not is_server_target(url):
            self.status.setText("Enter a PostgreSQL URL: postgresql://user@host:5432/dbname")
            return
        if has_password(url):
            self.url_edit.setText(mask_url(url))
            self.status.setText("Put the password in the Password field (or PGPASSWORD, ~/.pgpass), not in the URL.")
            return
        schema, password = self.schema_edit.text().strip() or None, self.password_edit.text() or None
        dates = self.convert_dates_box.isChecked()
        try:
            if self.session is not None:
                self.job = self.session.copy_to_postgres(url, schema=schema, password=password,
                                                         progress=self._show_progress, convert_dates=dates)
            else:
                self._worker = Worker("pulse-migrate")
                migration = Migration(self.source, url, schema=schema, password=password, convert_dates=dates)
                self.job = self._worker.submit("migrate", migration.run_job, progress=self._show_progress)
                self._worker.stop()  # its thread ends with this one job
        except PulseError as exc:
            self.status.setText(f"Copy failed: {exc}")
            return
        self.copy_button.setEnabled(False)
        self.status.setText("Connecting…")
        spawn(self._run(self.job))

    async def _run(self, job: Job[MigrateResult]) -> None:
        outcome = await job.outcome()
        self.job = None
        self.copy_button.setEnabled(True)
        if isinstance(outcome, MigrateResult):
            self.progress.setValue(self.progress.maximum())
            headline = outcome.headline()
            lines = [f"{headline[0].upper()}{headline[1:]}."]
            lines += [f"Failed: {table.name} — {table.reason}" for table in outcome.tables if table.status == "failed"]
            lines += [f"Renamed (over 63 bytes): {item['kind']} {item['from']} → {item['to']}" for item in outcome.renamed]
            lines += [f"Not translated: {item['type']} {item['name']} — {item['reason']}" for item in outcome.untranslated]
            self.status.setText("\n".join(lines))
        elif isinstance(outcome, MigrateCancelled):
            self.status.setText(str(outcome))
        else:
            self.status.setText(f"Copy failed: {outcome}")
        self.finished_copy.emit(outcome)

    def _show_progress(self, table: str, done: int, total: int) -> None:
        self.progress.setValue(int(1000 * done / total) if total else 1000)
        self.status.setText(f"{table}: {done:,} of {total:,} rows")

    def done(self, result: int) -> None:
        """Closing the dialog stops a copy running on its own worker (a session's copy is the session's)."""
        if self._worker is not None:
            self._worker.cancel_all()
            self._worker.stop()  # its thread ends once the cancelled batch is rolled back
            self._worker = None
        super().done(result)


def _session_of(parent: QWidget | None, path: Path) -> Session | None:
    session = getattr(parent, "session", None)
    return session if isinstance(session, Session) and not session.closed and session.path == path.absolute() else None
