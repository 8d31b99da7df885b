"""Where the space goes: every table and index of the open file by size, from `Session.analyze_space`.

Scan starts the session's space job (its own thread and read connection, core/space.py); its progress
(objects done/total) arrives on the GUI thread and Cancel interrupts it. The result is a sortable table,
largest first, and a summary line whose parts add up to the file size. The panel follows the workspace's
session: a new file clears it and cancels a running scan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.maintenance import human_bytes
from desktop_app.core.session import Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.panels import follow_workspace

if TYPE_CHECKING:
    from desktop_app.core.growth import TableGrowth
    from desktop_app.core.space import ObjectSpace, SpaceReport
    from desktop_app.core.worker import Job

ANY_INDEX = QModelIndex | QPersistentModelIndex


def _kind(o: ObjectSpace) -> str:
    return f"index on {o.table}" if o.kind == "index" else ("table (without rowid)" if o.without_rowid else "table")


def _avg(o: ObjectSpace) -> str:
    return "" if o.avg_row_bytes is None else f"{o.avg_row_bytes:,.1f}"


# (header, text shown, value sorted by); numbers are right-aligned
COLUMNS: tuple[tuple[str, Any, Any], ...] = (
    ("Name", lambda o: o.name, lambda o: o.name.lower()),
    ("Kind", _kind, _kind),
    ("Size", lambda o: human_bytes(o.bytes), lambda o: o.bytes),
    ("Share", lambda o: f"{o.share:.1f} %", lambda o: o.share),
    ("Pages", lambda o: f"{o.pages:,}", lambda o: o.pages),
    ("Payload", lambda o: human_bytes(o.payload_bytes), lambda o: o.payload_bytes),
    ("Unused", lambda o: human_bytes(o.unused_bytes), lambda o: o.unused_bytes),
    ("Overflow pages", lambda o: f"{o.overflow_pages:,}", lambda o: o.overflow_pages),
    ("Avg row", _avg, lambda o: -1.0 if o.avg_row_bytes is None else o.avg_row_bytes),
    ("Rows", lambda o: f"{o.rows:,}", lambda o: o.rows),
)
TEXT_COLUMNS = 2
SIZE_COLUMN = 2
GROWTH_HEADER = "Inserts/min"  # the last column: live, from the session's per-table probe (core/growth.py)


class SpaceModel(QAbstractTableModel):
    """The report's objects as rows; `sort` reorders them by a column's raw value."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: list[ObjectSpace] = []
        self.growth: dict[str, TableGrowth] = {}

    def set_growth(self, growth: dict[str, TableGrowth]) -> None:
        if growth is self.growth:
            return
        self.growth = growth
        if self.objects:
            column = len(COLUMNS)
            self.dataChanged.emit(self.index(0, column), self.index(len(self.objects) - 1, column))

    def inserts_per_min(self, item: ObjectSpace) -> float | None:
        growth = self.growth.get(item.name) if item.kind == "table" else None
        return None if growth is None else growth.rows_per_min

    def set_objects(self, objects: list[ObjectSpace]) -> None:
        self.beginResetModel()
        self.objects = list(objects)
        self.endResetModel()

    def rowCount(self, parent: ANY_INDEX = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.objects)

    def columnCount(self, parent: ANY_INDEX = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(COLUMNS) + 1

    def data(self, index: ANY_INDEX, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.objects[index.row()]
        if role == Qt.ItemDataRole.DisplayRole and index.column() == len(COLUMNS):
            rate = self.inserts_per_min(item)
            return "" if rate is None else f"{rate:,.0f}"
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[index.column()][1](item)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= TEXT_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == SIZE_COLUMN:
            return f"{item.bytes:,} bytes"
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return GROWTH_HEADER if section == len(COLUMNS) else COLUMNS[section][0]
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][2] if column < len(COLUMNS) else lambda o: self.inserts_per_min(o) or -1.0
        self.layoutAboutToBeChanged.emit()
        self.objects.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)
        self.layoutChanged.emit()


def summary(report: SpaceReport) -> str:
    """'N MB in T tables and I indexes · freelist … · overhead … · total … = file size'."""
    used = human_bytes(report.table_bytes + report.index_bytes)
    tables = f"{report.tables} table{'s' * (report.tables != 1)}"
    indexes = f"{report.indexes} index{'es' * (report.indexes != 1)}"
    parts = [
        f"{used} in {tables} and {indexes}",
        f"freelist {human_bytes(report.freelist_bytes)} ({report.freelist_pages:,} pages)",
        f"overhead {human_bytes(report.overhead_bytes)}",
    ]
    total = f"total {human_bytes(report.total_bytes)}"
    if report.file_bytes == report.database_bytes:
        parts.append(f"{total} = file size")
    else:
        parts.append(f"{total}; the file has {human_bytes(report.file_bytes)}, the rest is still in the WAL")
    text = " · ".join(parts)
    if report.changed_during_scan:
        text += " (the file changed during the scan: scan again for exact numbers)"
    return text


class SpacePanel(QWidget):
    scanned = Signal(object)  # SpaceReport
    failed = Signal(object)  # PulseError (a cancel included: QueryInterrupted)

    def __init__(self, parent: QWidget | None = None, *, workspace: Workspace | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("space")
        self._session: Session | None = None
        self._job: Job[SpaceReport] | None = None
        self.report: SpaceReport | None = None

        self.scan_button = QPushButton("Scan")
        self.scan_button.setToolTip("Measure every table and index of the open file (reads every page)")
        self.scan_button.clicked.connect(self.scan)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m objects")
        self.progress.hide()
        self.summary_label = QLabel("Open a database, then Scan to see where its space goes.")
        self.summary_label.setObjectName("spaceSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.model = SpaceModel()
        self.table = QTableView()
        self.table.setObjectName("spaceTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SIZE_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)

        row = QHBoxLayout()
        row.addWidget(self.scan_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addStretch(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(row)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.table, 1)

        self.set_session(None)
        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            follow_workspace(self, workspace, self.set_session, self._let_go)

    # Session ----------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Follow `session` (None: nothing open). A running scan of the previous file is cancelled."""
        self.cancel()  # its result is dropped: `_await` checks the session it scanned is still this one
        self._job = None
        self.progress.hide()
        self.cancel_button.hide()
        if self._session is not None:
            self._session.events.sample.disconnect(self._on_sample)
        self._session = session
        if session is not None:
            session.events.sample.connect(self._on_sample)
        self.report = None
        self.model.set_objects([])
        self.scan_button.setEnabled(session is not None)
        self.summary_label.setText(
            "Scan to see where the space goes." if session is not None else "Open a database to see where its space goes."
        )

    def _on_sample(self, _sample: object, _activity: object) -> None:
        if self._session is not None:
            self.model.set_growth(self._session.table_growth)

    @property
    def scanning(self) -> bool:
        return self._job is not None

    # Scan -------------------------------------------------------------------------------------------------
    def scan(self) -> None:
        session = self._session
        if session is None or self._job is not None:
            return
        try:
            job = session.analyze_space(progress=self._on_progress)
        except PulseError as error:
            self._show_error(error)
            return
        self._job = job
        self.progress.setRange(0, 0)  # busy until the object count arrives
        self.progress.show()
        self.cancel_button.show()
        self.scan_button.setEnabled(False)
        self.summary_label.setText("Scanning…")
        spawn(self._await(session, job))

    def _let_go(self) -> None:
        """Deleted while a file is open: no more samples to this panel, and its scan stops (no widget touched)."""
        if self._session is not None:
            self._session.events.sample.disconnect(self._on_sample)
            self._session = None
        self.cancel()

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    async def _await(self, session: Session, job: Job[SpaceReport]) -> None:
        try:
            report = await job
        except PulseError as error:
            if session is self._session:  # a scan of a file left meanwhile has nothing more to say
                self._show_error(error)
                self.failed.emit(error)
            return
        finally:
            if self._job is job:
                self._job = None
                self.progress.hide()
                self.cancel_button.hide()
                self.scan_button.setEnabled(self._session is not None)
        if session is not self._session:
            return  # the file changed while it ran: its numbers are not this file's
        self.report = report
        self.model.set_objects(report.objects)
        header = self.table.horizontalHeader()
        self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.summary_label.setText(summary(report))
        self.scanned.emit(report)

    def _show_error(self, error: PulseError) -> None:
        if isinstance(error, QueryInterrupted):
            self.summary_label.setText("Cancelled. Scan again to see where the space goes.")
        else:
            self.summary_label.setText(f"⚠ {error}")
