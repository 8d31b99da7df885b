"""Schema browser: tables, views, indexes and triggers with their SQL, and a lazily paged data view.

All statements run on the panel's own read thread (ConnectionWorker), one short statement at a time.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.database import Database
from desktop_app.core.errors import PulseError
from desktop_app.core.query import SchemaObject, estimate_row_count, list_schema
from desktop_app.ui.models.table_model import TableModel
from desktop_app.ui.sql_highlighter import SqlHighlighter
from desktop_app.ui.workers import ConnectionWorker, GuiPoster

GROUPS = (("table", "Tables"), ("view", "Views"), ("index", "Indexes"), ("trigger", "Triggers"))
BROWSABLE = frozenset({"table", "view"})
OBJECT_ROLE = Qt.ItemDataRole.UserRole


class SchemaPanel(QWidget):
    schema_loaded = Signal(object)  # list[SchemaObject]
    table_opened = Signal(str)
    failed = Signal(object)  # PulseError

    def __init__(self, poster: GuiPoster, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("schema")
        self._poster = poster
        self._worker: ConnectionWorker | None = None
        self._objects: list[SchemaObject] = []
        self.model: TableModel | None = None
        self.current_table: str | None = None
        self.estimated_rows: int | None = None

        self.tree = QTreeWidget()
        self.tree.setObjectName("schemaTree")
        self.tree.setHeaderHidden(True)
        self.tree.currentItemChanged.connect(self._on_current_item)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)

        self.sql_view = QPlainTextEdit()
        self.sql_view.setObjectName("schemaSql")
        self.sql_view.setReadOnly(True)
        self.sql_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sql_view.setPlaceholderText("Select an object to see its SQL.")
        self.sql_highlighter = SqlHighlighter(self.sql_view.document())

        self.data_view = QTableView()
        self.data_view.setObjectName("tableData")
        self.data_view.setAlternatingRowColors(True)
        self.data_view.setWordWrap(False)
        self.data_view.verticalHeader().setDefaultSectionSize(22)
        self.data_view.horizontalHeader().setDefaultSectionSize(110)
        self.info_label = QLabel("")
        self.info_label.setObjectName("tableInfo")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        left_layout.addLayout(row)

        data = QWidget()
        data_layout = QVBoxLayout(data)
        data_layout.setContentsMargins(0, 0, 0, 0)
        data_layout.addWidget(self.info_label)
        data_layout.addWidget(self.data_view, 1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.sql_view)
        right.addWidget(data)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 4)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    # Database ---------------------------------------------------------------------------------------------
    def set_database(self, database: Database | None) -> None:
        self._close_table()
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        self._objects = []
        self.tree.clear()
        self.sql_view.clear()
        self.info_label.setText("")
        if database is not None:
            self._worker = ConnectionWorker(database, self._poster)
            self.refresh()

    @property
    def objects(self) -> list[SchemaObject]:
        return list(self._objects)

    def refresh(self) -> None:
        if self._worker is not None:
            self._worker.submit(list_schema, self._on_schema, self._on_error)

    def _on_schema(self, objects: list[SchemaObject]) -> None:
        if objects == self._objects and self.tree.topLevelItemCount():
            self.schema_loaded.emit(objects)
            return  # unchanged: keep the selection and the scroll position
        selected = self._selected_name()
        self._objects = objects
        self.tree.blockSignals(True)
        self.tree.clear()
        restore: QTreeWidgetItem | None = None
        for kind, title in GROUPS:
            members = [item for item in objects if item.type == kind]
            group = QTreeWidgetItem(self.tree, [f"{title} ({len(members)})"])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for obj in members:
                label = obj.name if kind in BROWSABLE else f"{obj.name}  ·  on {obj.tbl_name}"
                child = QTreeWidgetItem(group, [label])
                child.setData(0, OBJECT_ROLE, obj)
                child.setToolTip(0, obj.sql or "(created automatically by SQLite)")
                if selected == (obj.type, obj.name):
                    restore = child
            group.setExpanded(kind in BROWSABLE)
        self.tree.blockSignals(False)
        if restore is not None:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(restore)
            self.tree.blockSignals(False)
        self.schema_loaded.emit(objects)

    def _selected_name(self) -> tuple[str, str] | None:
        item = self.tree.currentItem()
        obj = item.data(0, OBJECT_ROLE) if item is not None else None
        return (obj.type, obj.name) if obj is not None else None

    def select(self, name: str) -> bool:
        """Select an object by name in the tree (opens a table or view). False when it is not there."""
        for index in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(index)
            for child_index in range(group.childCount()):
                child = group.child(child_index)
                obj = child.data(0, OBJECT_ROLE)
                if obj is not None and obj.name == name:
                    self.tree.setCurrentItem(child)
                    return True
        return False

    def _on_current_item(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        obj = item.data(0, OBJECT_ROLE) if item is not None else None
        if obj is None:
            return
        self.sql_view.setPlainText(obj.sql or f"-- {obj.name} was created automatically by SQLite (no SQL).")
        if obj.type in BROWSABLE:
            self.open_table(obj.name)

    # Data view --------------------------------------------------------------------------------------------
    def open_table(self, name: str) -> None:
        if self._worker is None:
            return
        self._close_table()
        self.current_table = name
        self.estimated_rows = None
        self.model = TableModel(self._worker, name)
        self.model.page_loaded.connect(self._show_info)
        self.model.failed.connect(self._on_error)
        self.data_view.setModel(self.model)
        self.info_label.setText(f"{name}: loading…")
        self.model.start()
        self._worker.submit(
            lambda connection: estimate_row_count(connection, name),
            lambda estimate: self._on_estimate(name, estimate),
            self._on_error,
        )
        self.table_opened.emit(name)

    def _close_table(self) -> None:
        if self.model is not None:
            self.model.close()
            self.model.page_loaded.disconnect(self._show_info)
            self.model.failed.disconnect(self._on_error)
        self.model = None
        self.current_table = None

    def _on_estimate(self, name: str, estimate: int | None) -> None:
        if name == self.current_table:
            self.estimated_rows = estimate
            self._show_info()

    def _show_info(self, *_args: object) -> None:
        if self.model is None or self.current_table is None:
            return
        loaded = self.model.rowCount()
        total = f"about {self.estimated_rows:,} rows" if self.estimated_rows is not None else "rows"
        more = "" if self.model.exhausted else " · scroll for more"
        self.info_label.setText(f"{self.current_table}: {total} · {loaded:,} loaded{more}")

    def look_for_new_rows(self) -> None:
        """Another writer committed: pick up rows appended after the last one shown."""
        if self.model is not None:
            self.model.look_for_new_rows()

    def _on_error(self, error: PulseError) -> None:
        self.info_label.setText(f"⚠ {error}")
        self.failed.emit(error)
