"""Schema browser: tables, views, indexes and triggers with their SQL, and the data grid (`DataView`).

The panel follows the window's `Session`: the schema tree is the session's `schema_changed` event, the data
view reloads in place on `data_changed` (another connection committed), and a table or view that goes away
closes with a note. Pages are awaited from the session's browse thread; a slow one shows a Cancel.
The tree's context menu browses, copies an object's SQL or name, and changes the structure
(ui/structure_actions.py: rename, modify, create index, drop; disabled, saying why, on a read-only open).
"""

from __future__ import annotations

from apsw.ext import quote_name
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
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
from desktop_app.ui.structure_actions import StructureActions

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
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        self.structure = StructureActions(self)  # the window hands it its dialogs and puts its menu in the bar
        self.structure.selected = self.selected_object
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
        self.structure.set_session(session)
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

    # Context menu -----------------------------------------------------------------------------------------
    def selected_object(self) -> SchemaObject | None:
        item = self.tree.currentItem()
        obj = item.data(0, OBJECT_ROLE) if item is not None else None
        return obj if isinstance(obj, SchemaObject) else None

    def _on_context_menu(self, position: QPoint) -> None:
        item = self.tree.itemAt(position)
        menu = self.context_menu(item) if item is not None else None
        if menu is not None:
            menu.popup(self.tree.viewport().mapToGlobal(position))  # popup(), not exec(): no nested loop

    def context_menu(self, item: QTreeWidgetItem) -> QMenu | None:
        """The menu for one object of the tree (None for a group heading)."""
        obj = item.data(0, OBJECT_ROLE)
        if not isinstance(obj, SchemaObject):
            return None
        menu = QMenu(self.tree)
        menu.setObjectName("schemaContextMenu")
        menu.setToolTipsVisible(True)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        is_table = obj.type == "table" and not (obj.sql or "").upper().startswith("CREATE VIRTUAL")
        only_tables = "SQLite changes tables only; drop and create an index, view or trigger again to change it."
        entries = (
            ("Browse", lambda: self.tree.setCurrentItem(item), "" if obj.type in BROWSABLE else "Indexes and triggers have no rows to browse."),
            ("Copy CREATE SQL", lambda: _copy(obj.sql or ""), "" if obj.sql else "SQLite made it itself: it has no SQL."),
            ("Copy Name", lambda: _copy(quote_name(obj.name)), ""),
            None,
            ("Rename…", lambda: self.structure.rename(obj.name), "" if is_table else only_tables),
            ("Modify Table…", lambda: self.structure.modify_table(obj.name), "" if is_table else only_tables),
            ("Create Index…", lambda: self.structure.create_index(obj.tbl_name),
             "" if obj.type in ("table", "index", "trigger") else "A view cannot be indexed."),
            ("Drop…", lambda: self.structure.drop(obj.name), ""),
        )
        read_only = self.structure.reason()
        for position, entry in enumerate(entries):
            if entry is None:
                menu.addSeparator()
                continue
            text, slot, why = entry
            if position > 3:  # the entries that change the file
                why = why or read_only
            action = QAction(text, menu)
            action.setEnabled(not why)
            action.setToolTip(why or text.rstrip("…"))
            action.triggered.connect(lambda _checked=False, run=slot: run())
            menu.addAction(action)
        return menu

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


def _copy(text: str) -> None:
    clipboard = QGuiApplication.clipboard()
    if clipboard is not None:
        clipboard.setText(text)
