"""Exporting a whole result or table from the window: every row, streamed by core/export.py in the background.

`ExportBar` is the non-modal progress line a grid shows under itself while its export runs: rows written
so far, elapsed time, Cancel. The export is a session job on its own thread and read connection
(`Session.export`, awaited here; its progress arrives on the GUI thread), so
the grid, the console and the charts stay usable; a cancelled or failed export leaves no file. What is
exported is the statement, not the rows loaded in the grid: the display limit never limits an export.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QMenu, QProgressBar, QPushButton, QWidget

from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.keyset import BrowseSpec, where_clause
from desktop_app.core.query import quote_identifier
from desktop_app.core.session import Session
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.widgets.job_bar import JobBar

if TYPE_CHECKING:  # the export machinery loads when an export starts (through the session)
    from desktop_app.core.export import ExportResult
    from desktop_app.ui.models.table_model import TableModel

FILE_FILTERS = {
    "csv": "CSV files (*.csv)",
    "json": "JSON files (*.json)",
    "ndjson": "NDJSON files (*.ndjson *.jsonl)",
}
# A file's type follows its name: choosing JSON and naming the file foo.csv writes CSV, never JSON in a .csv.
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}
PROGRESS_EVERY_MS = 100


def table_statement(spec: BrowseSpec) -> tuple[str, tuple]:
    """The grid's current rows as one statement: its filter bound as parameters, its sort (then its key)."""
    sql = f"SELECT * FROM {quote_identifier(spec.relation.name)}"
    where, values = where_clause(spec.conditions)
    if where:
        sql += f" WHERE {where}"
    order = spec.order_columns()
    if order:
        direction = " DESC" if spec.descending else ""
        sql += " ORDER BY " + ", ".join(f"{quote_identifier(c)}{direction}" for c in order)
    return sql, values


def format_for(destination: Path, chosen: str) -> str:
    """The format the file's name asks for (.csv, .json, .ndjson, .jsonl), else the one chosen."""
    return SUFFIX_FORMATS.get(destination.suffix.lower(), chosen)


def suggested_name(stem: str, fmt: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "export"
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"


class ExportBar(JobBar):
    """One export at a time for one grid: `start(...)`, a progress line with Cancel, then a signal:
    `finished` with an ExportResult, or `failed` with a PulseError (QueryInterrupted when cancelled)."""

    cancelling_text = "Cancelling the export…"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("exportBar")
        self.rows_written = 0  # set by the job's progress (on this thread), shown by the timer
        self._started = 0.0
        self._destination: Path | None = None
        self.label.setObjectName("exportProgress")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # the total is not known without counting, and we do not count
        self.busy.setMaximumWidth(120)
        self.busy.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.setObjectName("cancelExport")
        self.cancel_button.setToolTip("Stop the export; no file is left behind")
        self._arrange(self.busy, self.cancel_button)
        self._timer = QTimer(self)
        self._timer.setInterval(PROGRESS_EVERY_MS)
        self._timer.timeout.connect(self._show_progress)

    def start(self, session: Session, sql: str, destination: Path, *, fmt: str, bindings: tuple = ()) -> asyncio.Task | None:
        """Export every row of `sql` to `destination`; `finished` or `failed` follows."""
        if self.job is not None:
            self.failed.emit(PulseError("An export is still running: cancel it first."))
            return None
        self.rows_written = 0
        self._started = time.monotonic()
        self._destination = destination
        fmt = format_for(destination, fmt)
        try:
            job = session.export(sql, destination, fmt=fmt, bindings=bindings, progress=self._progress)
        except PulseError as error:
            self.failed.emit(error)
            return None
        self.label.setText(f"Exporting to {destination.name} as {fmt.upper()}…")
        self._timer.start()
        return self._run(job)

    def _progress(self, rows: int) -> None:  # the GUI thread, via the job
        self.rows_written = rows

    def _show_progress(self) -> None:
        if self.job is not None and self._destination is not None:
            seconds = time.monotonic() - self._started
            self.label.setText(f"Exporting to {self._destination.name}: {self.rows_written:,} rows · {seconds:.1f} s")

    def _done(self) -> None:
        super()._done()
        self._timer.stop()


def describe_result(result: ExportResult) -> str:
    rate = f" ({result.rows / result.seconds:,.0f} rows/s)" if result.seconds > 0.05 else ""
    kind = SUFFIX_FORMATS.get(result.path.suffix.lower()) if result.path is not None else None
    written = f" as {kind.upper()}" if kind else ""
    return f"Exported all {result.rows:,} rows to {result.path}{written} in {result.seconds:.1f} s{rate}"


def describe_failure(error: PulseError) -> str:
    if isinstance(error, QueryInterrupted):
        return "Export cancelled: no file was written."
    return f"Export failed: {error}"


class ExportedView(Protocol):
    """What the export needs of the data view beyond a QWidget (declared here: the data view imports this module)."""

    @property
    def model(self) -> TableModel | None: ...


class TableExport(QObject):
    """The data view's Export: every row of the table in its current sort and filter, to CSV / JSON / NDJSON."""

    def __init__(self, data_view: QWidget, dialogs: Dialogs | ScriptedDialogs | None = None) -> None:
        super().__init__(data_view)
        self.data_view = data_view
        self.dialogs = dialogs if dialogs is not None else Dialogs(data_view)
        self.bar = ExportBar()
        self.bar.finished.connect(lambda result: self._say(describe_result(result)))
        self.bar.failed.connect(lambda error: self._say(describe_failure(error)))
        self.status = QLabel("")
        self.status.setObjectName("tableExportStatus")
        self.button = QPushButton("Export…")
        self.button.setObjectName("exportTable")
        self.button.setToolTip("Write ALL rows of this table, in its current sort and filter, to a file")
        menu = QMenu(self.button)
        self.actions = {}
        for fmt in ("csv", "json", "ndjson"):
            action = menu.addAction(f"All rows as {fmt.upper()}…")
            action.triggered.connect(lambda _checked=False, fmt=fmt: self.export(fmt))
            self.actions[fmt] = action
        self.button.setMenu(menu)

    def export(self, fmt: str) -> None:
        model = cast(ExportedView, self.data_view).model
        if model is None or model.spec is None:
            self._say("Open a table first: there is nothing to export.")
            return
        if self.bar.running:
            self._say("An export is still running: cancel it first.")
            return
        session, (sql, bindings) = model.session, table_statement(model.spec)
        self.dialogs.ask_save_path(
            f"Export all rows of {model.table} as {fmt.upper()}…",
            lambda path: self.bar.start(session, sql, path, fmt=fmt, bindings=bindings),
            suggested=suggested_name(model.table, fmt),
            file_filter=FILE_FILTERS[fmt],
        )

    def reset(self) -> None:
        """Another file: an export of the old one is cancelled (it leaves no file) and its message goes."""
        self.bar.cancel()
        self.status.setText("")

    def _say(self, text: str) -> None:
        self.status.setText(text)
