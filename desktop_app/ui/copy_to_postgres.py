"""Tools → Copy to PostgreSQL…: the `migrate` core (core/postgres/migrate.py) with a progress bar and Cancel.

The copy runs on an executor thread and is awaited on the window's qasync loop; progress comes back as a
queued Qt signal (Qt drops it if the dialog is gone by then). Cancel rolls back the table being copied; finished tables stay, and copying
again skips them. The password field never leaves this process (passed to libpq, not shown or logged).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
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
from desktop_app.core.postgres.migrate import MigrateCancelled, MigrateResult, Migration
from desktop_app.core.postgres.url import has_password, is_postgres_url, mask_url


class CopyToPostgresDialog(QDialog):
    finished_copy = Signal(object)  # MigrateResult, or the PulseError that ended it
    progressed = Signal(str, int, int)  # (table, rows copied, rows in the table), emitted on the copying thread

    def __init__(self, source: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Copy to PostgreSQL")
        self.source = Path(source)
        self.migration: Migration | None = None
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("migrateUrl")
        self.url_edit.setPlaceholderText("postgresql://user@host:5432/dbname?sslmode=require")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("optional: PGPASSWORD or ~/.pgpass also work")
        self.schema_edit = QLineEdit()
        self.schema_edit.setPlaceholderText("default schema")
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
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.copy_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.progressed.connect(self._show_progress)  # queued: emitted from the copying thread

    @property
    def running(self) -> bool:
        return self.migration is not None

    def start(self) -> None:
        url = self.url_edit.text().strip()
        if not is_postgres_url(url):
            self.status.setText("Enter a PostgreSQL URL: postgresql://user@host:5432/dbname")
            return
        if has_password(url):
            self.url_edit.setText(mask_url(url))
            self.status.setText("Put the password in the Password field (or PGPASSWORD, ~/.pgpass), not in the URL.")
            return
        self.migration = Migration(self.source, url, schema=self.schema_edit.text().strip() or None,
                                   on_progress=self.progressed.emit, password=self.password_edit.text() or None)
        self.copy_button.setEnabled(False)
        self.status.setText("Connecting…")
        asyncio.ensure_future(self._run(self.migration))

    async def _run(self, migration: Migration) -> None:
        outcome: MigrateResult | PulseError
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(None, migration.run)
        except PulseError as exc:
            outcome = exc
        self.migration = None
        self.copy_button.setEnabled(True)
        if isinstance(outcome, MigrateResult):
            self.progress.setValue(self.progress.maximum())
            skipped = sum(1 for table in outcome.tables if table.status == "skipped")
            lines = [f"Copied {outcome.rows:,} rows into {outcome.target} ({outcome.rows_per_s:,.0f} rows/s); "
                     f"counts verified{f', {skipped} table(s) already there' if skipped else ''}."]
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

    def cancel(self) -> None:
        if self.migration is not None:
            self.migration.cancel()
            self.status.setText("Cancelling…")
        else:
            self.reject()
