"""Schema browser: tables, views, indexes and triggers with their SQL, and the data grid (`DataView`).

The panel follows the window's `Session`: the schema tree is the session's `schema_changed` event, the data
view reloads in place on `data_changed` (another connection committed), and a table or view that goes away
closes with a note. Pages are awaited from the session's browse thread; a slow one shows a Cancel.
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

from desktop_app.core.errors import PulseError
from desktop_app.core.query import SchemaObject
from desktop_app.core.session import Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.models.table_model import TableModel
from desktop_app.ui.panels.data_view import DataView
from desktop_app.ui.sql_highlighter import SqlHighlighter

GROUPS = (("table", "Tables"), ("view", "Views"), ("index", "Indexes"), ("trigger", "Triggers"))
BROWSABLE = frozenset({"table", "view"})
OBJECT_ROLE = Qt.ItemDataRole.UserRole


class SchemaPanel(QWidget):
    schema_loaded = Signal(object)  # list[SchemaObject]
    table_opened = Signal(str)
    failed = Signal(object)  # PulseError

    def __init__(self, parent: QWidget | None = None, *, workspace: Workspace | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("schema")
        self._session: Session | None = None
        self._objects: list[SchemaObject] = []
        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            workspace.session_changed.connect(self.set_session)

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

        self.browser = DataView()
        self.browser.setObjectName("dataView")
        self.browser.table_opened.connect(self.table_opened)
        self.browser.failed.connect(self.failed)
        self.sql_to_console = self.browser.sql_to_console

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.refresh_button)
        left_layout.addLayout(row)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.sql_view)
        right.addWidget(self.browser)
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

    # Session ----------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Follow `session` (None: show nothing). Everything of the previous one leaves the screen."""
        if self._session is not None:
            self._session.events.schema_changed.disconnect(self._on_schema)
        self._session = session
        self.browser.set_session(session)
        self._objects = []
        self.tree.clear()
        self.sql_view.clear()
        if session is not None:
            session.events.schema_changed.connect(self._on_schema)
            self._on_schema(list(session.schema))

    @property
    def objects(self) -> list[SchemaObject]:
        return list(self._objects)

    def refresh(self) -> None:
        """Re-read the schema, and reload the open table or view (Refresh, F5)."""
        if self._session is None:
            return
        spawn(self._refresh(self._session))

    async def _refresh(self, session: Session) -> None:
        try:
            objects = await session.refresh_schema()
        except PulseError as error:
            if session is self._session:
                self.browser.show_error(error)
            return
        if session is not self._session:
            return
        if objects == self._objects:
            self.schema_loaded.emit(objects)  # unchanged: still tell listeners the refresh happened
        self.reload_table()

    def reload_table(self) -> None:
        self.browser.reload()

    def _on_schema(self, objects: list[SchemaObject]) -> None:
        if objects == self._objects and self.tree.topLevelItemCount():
            self.schema_loaded.emit(objects)
            return  # unchanged: keep the selection and the scroll position
        if self.current_table is not None and not any(
            obj.type in BROWSABLE and obj.name == self.current_table for obj in objects
        ):
            gone = self.current_table
            self.browser.close_table()
            self.browser.info_label.setText(f"⚠ {gone} is no longer in the database (dropped or renamed); it was closed.")
        elif self.current_table is not None and self._definition(self._objects) != self._definition(objects):
            self.browser.open_table(self.current_table)  # its columns changed (ALTER TABLE): read it afresh
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

    def _definition(self, objects: list[SchemaObject]) -> str | None:
        return next((obj.sql for obj in objects if obj.type in BROWSABLE and obj.name == self.current_table), None)

    def _selected_name(self) -> tuple[str, str] | None:
        item = self.tree.currentItem()
        obj = item.data(0, OBJECT_ROLE) if item is not None else None
        return (obj.type, obj.name) if obj is not None else None

    def select(self, name: str) -> bool:
        """Select an object by name in the tree (opens a table or view). False when it is not there."""
        for index in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(index)
            if group is None:  # never, for an index below the count (the stub allows it)
                continue
            for child_index in range(group.childCount()):
                child = group.child(child_index)
                if child is None:
                    continue
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

    # Data view (see data_view.DataView) -----------------------------------------------------------------
    def open_table(self, name: str) -> None:
        self.browser.open_table(name)

    def cancel_loading(self) -> None:
        self.browser.cancel_loading()

    def look_for_new_rows(self) -> None:
        """Another writer committed: pick up rows appended after the last one shown."""
        if self.browser.model is not None:
            self.browser.model.look_for_new_rows()

    @property
    def model(self) -> TableModel | None:
        return self.browser.model

    @property
    def data_view(self) -> QTableView:
        return self.browser.view

    @property
    def info_label(self) -> QLabel:
        return self.browser.info_label

    @property
    def cancel_button(self) -> QPushButton:
        return self.browser.cancel_button

    @property
    def current_table(self) -> str | None:
        return self.browser.current_table

    @property
    def estimated_rows(self) -> int | None:
        return self.browser.estimated_rows
