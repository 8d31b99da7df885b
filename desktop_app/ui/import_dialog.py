"""File ▸ Import: a CSV/TSV, JSON or SQL file into the open database (core/importer), with a preview.

The preview is the first rows as they will be read; it is read again (off the GUI thread, through
`Session.inspect_import`) whenever the format, encoding, delimiter or header choice changes. Column types
are chosen in the preview's first row. Import runs as a job on the session's one write connection, in one
transaction, with a progress bar; Cancel (or closing the dialog) rolls it back. Refused on a read-only open.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.importer import (
    FORMATS,
    ImportOptions,
    ImportProgress,
    ImportResult,
    Plan,
    Preview,
    default_table_name,
)
from desktop_app.core.importer.columns import TYPES
from desktop_app.core.session import Session
from desktop_app.core.worker import Job
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, JobDialog, ScriptedDialogs
from desktop_app.ui.import_kinds import KINDS

DETECT = "Detect"
ENCODINGS = (DETECT, "utf-8", "utf-16", "cp1252", "latin-1")
DELIMITERS = {DETECT: None, "Comma": ",", "Semicolon": ";", "Tab": "\t", "Pipe": "|"}
HEADERS = {DETECT: None, "First row is the header": True, "No header": False}
PROGRESS_STEPS = 1000


def open_import(
    session: Session,
    kind: str,
    dialogs: Dialogs | ScriptedDialogs,
    parent: QWidget,
    on_imported: Callable[[], object] | None = None,
) -> None:
    """File ▸ Import ▸ `kind`: pick a file, then show the dialog for it; `on_imported()` after each import that
    committed (the window reloads what it shows: the import's commit is the app's own, so no data_changed)."""
    label, file_filter = KINDS[kind]

    def show(path: Path) -> None:
        dialog = ImportDialog(session, path, parent=parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if on_imported is not None:
            dialog.finished_import.connect(lambda _outcome: on_imported() if dialog.kept_some else None)
        dialog.open()

    dialogs.ask_open_path(f"Import {label.replace('&', '').rstrip('…')}", show, file_filter=file_filter)


async def _refresh_schema(session: Session) -> None:
    """The new table shows in the schema tree (the import's commit is the app's own: no event says so)."""
    with contextlib.suppress(PulseError):  # the database closed meanwhile: nothing to refresh
        await session.refresh_schema()


class ImportDialog(JobDialog):
    previewed = Signal(object)  # Preview, or the PulseError that stopped it
    finished_import = Signal(object)  # ImportResult, or the PulseError that ended it

    def __init__(self, session: Session, path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import")
        self.setObjectName("importDialog")
        self.resize(860, 680)  # the form takes ~260 px: the preview keeps room for a dozen rows
        self.session = session
        self.path = path
        self.preview: Preview | None = None
        self.job: Job[ImportResult] | None = None
        self._generation = 0  # drops a preview that a newer choice has overtaken
        self._preview_task: asyncio.Task | None = None
        self._delete_when_done = False
        self.kept_some = False  # the last import ended with something committed (a script run as written may have)
        self.dialogs = Dialogs(self)

        self.file_label = QLabel("No file chosen")
        # Cut at the dialog's edge rather than widen it past the screen (a long path); the name comes first.
        self.file_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._show_path(path)
        choose = QPushButton("Choose…")
        choose.setAutoDefault(False)  # Enter in the form imports (below), it does not open a file chooser
        choose.clicked.connect(self._choose)
        self.format_box = self._combo([DETECT, *FORMATS])
        self.encoding_box = self._combo(list(ENCODINGS))
        self.delimiter_box = self._combo(list(DELIMITERS))
        self.header_box = self._combo(list(HEADERS))
        self.empty_null = QCheckBox("Empty fields are NULL")
        self.empty_null.setChecked(True)
        self.one_transaction = QCheckBox("Run in one transaction (its own BEGIN/COMMIT folded in)")
        self.one_transaction.setChecked(True)
        self.detected = QLabel("")
        self.detected.setObjectName("importDetected")
        self.table_edit = QLineEdit(default_table_name(path) if path else "")
        self.table_edit.setCompleter(QCompleter([o.name for o in session.schema if o.type == "table"], self))
        self.new_table = QRadioButton("New table")
        self.existing_table = QRadioButton("Add to the existing table")
        self.new_table.setChecked(True)
        mode = QButtonGroup(self)
        mode.addButton(self.new_table)
        mode.addButton(self.existing_table)
        self.grid = QTableWidget()
        self.grid.setObjectName("importPreview")
        self.grid.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)  # the file's rows, read: not edited here
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.hide()  # until an import runs: at rest it looked like an empty text field
        self.status = QLabel("")
        self.status.setObjectName("importStatus")
        self.status.setWordWrap(True)
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("importRun")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self.cancel)

        file_row = QHBoxLayout()
        file_row.addWidget(self.file_label, 1)
        file_row.addWidget(choose)
        table_row = QHBoxLayout()
        table_row.addWidget(self.table_edit, 1)
        table_row.addWidget(self.new_table)
        table_row.addWidget(self.existing_table)
        form = QFormLayout()
        form.addRow("File", file_row)
        form.addRow("Format", self.format_box)
        form.addRow("Encoding", self.encoding_box)
        form.addRow("Delimiter", self.delimiter_box)
        form.addRow("Header", self.header_box)
        form.addRow("", self.empty_null)
        form.addRow("", self.one_transaction)
        form.addRow("Table", table_row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.detected)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)

        for box in (self.format_box, self.encoding_box, self.delimiter_box, self.header_box):
            box.currentIndexChanged.connect(self.refresh_preview)
        self.empty_null.toggled.connect(self.refresh_preview)
        self.import_button.setEnabled(False)
        if session.read_only:
            self.status.setText(f"{session.path.name} is open read-only: reopen it read-write to import into it.")
        if path is not None:
            self.refresh_preview()
        self.table_edit.setFocus()  # what is most often changed; Enter imports

    @staticmethod
    def _combo(items: list[str]) -> QComboBox:
        box = QComboBox()
        box.addItems(items)
        return box

    # Preview ---------------------------------------------------------------------------------------------
    def options(self) -> ImportOptions:
        fmt = self.format_box.currentText()
        encoding = self.encoding_box.currentText()
        return ImportOptions(
            format=None if fmt == DETECT else fmt,
            encoding=None if encoding == DETECT else encoding,
            delimiter=DELIMITERS[self.delimiter_box.currentText()],
            header=HEADERS[self.header_box.currentText()],
            empty_is_null=self.empty_null.isChecked(),
            one_transaction=self.one_transaction.isChecked(),
        )

    def _choose(self) -> None:
        self.dialogs.ask_open_path("Import a file", self.set_path, file_filter="All files (*)")

    def set_path(self, path: Path) -> None:
        self.path = path
        self._show_path(path)
        self.table_edit.setText(default_table_name(path))
        self.refresh_preview()

    def _show_path(self, path: Path | None) -> None:
        if path is not None:
            self.file_label.setText(f"{path.name}  in  {path.parent}")
            self.file_label.setToolTip(str(path))

    def refresh_preview(self) -> None:
        if self.path is None or self.running:
            return
        self._generation += 1
        self.import_button.setEnabled(False)
        self.status.setText("Reading the first rows…")
        self._preview_task = spawn(self._read_preview(self.path, self.options(), self._generation))

    async def _read_preview(self, path: Path, options: ImportOptions, generation: int) -> None:
        outcome: Preview | PulseError
        try:
            outcome = await self.session.inspect_import(path, options)
        except PulseError as exc:
            outcome = exc
        if generation != self._generation:
            return  # a newer choice is being read
        if isinstance(outcome, PulseError):
            self.preview = None
            self.grid.clear()
            self.grid.setRowCount(0)
            self.grid.setColumnCount(0)
            self.detected.setText("")
            self.status.setText(f"Cannot import this file: {outcome}")
        else:
            self._show(outcome)
        self.previewed.emit(outcome)

    def _show(self, preview: Preview) -> None:
        self.preview = preview
        plan = preview.plan
        script = plan.format == "sql"
        self.detected.setText(f"Read as: {plan.describe()}")
        for widget in (self.table_edit, self.new_table, self.existing_table):
            widget.setEnabled(not script)
        for option in (self.delimiter_box, self.header_box, self.empty_null):
            option.setEnabled(plan.format in ("csv", "tsv"))
        self.one_transaction.setEnabled(script)
        self.grid.clear()
        self.grid.setColumnCount(len(preview.headings))
        self.grid.setHorizontalHeaderLabels(preview.headings)
        typed = 0 if script else 1  # a first row of type choices
        self.grid.verticalHeader().setVisible(not script)  # a script's rows number themselves (Line)
        self.grid.setRowCount(len(preview.rows) + typed)
        previous: QWidget = self.grid
        if typed:
            self.grid.setVerticalHeaderLabels(["type", *(str(n) for n in range(1, len(preview.rows) + 1))])
            for index, column in enumerate(plan.columns):
                box = self._combo(list(TYPES))
                box.setCurrentText(column.type)
                box.setObjectName(f"importType:{column.name}")
                self.grid.setCellWidget(0, index, box)
                QWidget.setTabOrder(previous, box)  # Tab: the preview, its type boxes left to right, then Import
                previous = box
        # An empty field is shown as it will be stored: NULL while 'Empty fields are NULL' is ticked.
        null_empty = plan.format in ("csv", "tsv") and self.empty_null.isChecked()
        for row, values in enumerate(preview.rows, start=typed):
            for index, value in enumerate(values):
                null = value is None or (null_empty and value == "")
                item = QTableWidgetItem("NULL" if null else str(value))
                if null:
                    item.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
                self.grid.setItem(row, index, item)
        self.grid.resizeColumnsToContents()
        self.grid.resizeRowsToContents()  # rows as tall as their text (the type row as its boxes): more rows in view
        self.import_button.setEnabled(not self.session.read_only)
        self.status.setText(
            f"{self.session.path.name} is open read-only: reopen it read-write to import into it."
            if self.session.read_only
            else "Check the statements, then Import."
            if script
            else "Check the preview and the column types, then Import."
        )

    def set_type(self, column: str, kind: str) -> None:
        box = self.grid.findChild(QComboBox, f"importType:{column}")
        if box is None:
            raise KeyError(column)
        box.setCurrentText(kind)

    def plan(self) -> Plan:
        """The previewed plan with the types chosen in the preview and the transaction choice as it is now (it
        does not change the preview, so the preview's plan may predate it)."""
        assert self.preview is not None
        plan = self.preview.plan
        types = {}
        for index, column in enumerate(plan.columns):
            box = self.grid.cellWidget(0, index)
            if isinstance(box, QComboBox):
                types[column.name] = box.currentText()
        return dataclasses.replace(plan.with_types(types), one_transaction=self.one_transaction.isChecked())

    # Import ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.preview is None or self.running:
            return
        plan = self.plan()
        table = None if plan.format == "sql" else self.table_edit.text().strip()
        try:
            self.job = self.session.import_file(
                plan, table, append=self.existing_table.isChecked(), progress=self._show_progress
            )
        except PulseError as exc:
            self.status.setText(f"Import failed: {exc}")
            return
        self.import_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("Importing…")
        spawn(self._run(self.job, as_written=plan.format == "sql" and not plan.one_transaction))

    def _show_progress(self, progress: ImportProgress) -> None:
        if progress.bytes_total:
            self.progress.setValue(int(PROGRESS_STEPS * progress.bytes_done / progress.bytes_total))
        unit = "statements" if self.preview is not None and self.preview.plan.format == "sql" else "rows"
        self.status.setText(f"Importing: {progress.rows:,} {unit}…")

    async def _run(self, job: Job[ImportResult], *, as_written: bool = False) -> None:
        """The import's end, said as it is: with a script run as written, what it committed before an error or
        a cancel stays (and the window reloads, as after a whole import)."""
        outcome = await job.outcome()
        self.job = None
        self.cancel_button.setText("Close")
        self.import_button.setEnabled(True)
        if isinstance(outcome, ImportResult):
            self.progress.setValue(PROGRESS_STEPS)
            self.status.setText(outcome.summary())
            spawn(_refresh_schema(self.session))  # not awaited here: the dialog may be closed and deleted meanwhile
        elif as_written:
            stopped = "cancelled" if isinstance(outcome, QueryInterrupted) else f"failed: {outcome}"
            self.status.setText(
                f"Import {stopped}. What the script's statements committed before that stays (it ran as written)."
            )
            spawn(_refresh_schema(self.session))
        elif isinstance(outcome, QueryInterrupted):
            self.progress.setValue(0)
            self.status.setText("Import cancelled: nothing was imported, the database is as it was.")
        else:
            self.status.setText(f"Import failed, nothing was imported: {outcome}")
        self.kept_some = isinstance(outcome, ImportResult) or as_written
        self.finished_import.emit(outcome)
        if self._delete_when_done:
            self.deleteLater()

    def done(self, result: int) -> None:
        """Closing the dialog cancels a running import (rolled back) and a preview being read. A dialog that
        deletes itself on close waits for the import's end to do so: its ending still updates the widgets."""
        if self._preview_task is not None:
            self._preview_task.cancel()
        if self.job is not None:
            self.job.cancel()
            self._delete_when_done = self.testAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        super().done(result)
