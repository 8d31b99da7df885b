"""Looking at and copying what a grid shows, for any view over a RowsModel (the data view, console results).

Ctrl+C copies the selection as TSV (what a spreadsheet pastes); the context menu also copies it with headers,
as CSV or as JSON, and opens the cell viewer, which follows the current cell while it is open. Double-click
opens the viewer on a cell that is not being edited. Others may add actions to the menu (`extra_actions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QTableView

from desktop_app.core.cells import to_csv, to_json, to_tsv
from desktop_app.ui.cell_viewer import CellViewer

if TYPE_CHECKING:
    from PySide6.QtCore import QItemSelectionModel

    from desktop_app.ui.models.rows_model import RowsModel


class GridTools:
    def __init__(self, view: QTableView, *, name: str = "grid") -> None:
        self.view = view
        self.name = name
        self.viewer: CellViewer | None = None
        self.extra_actions: Callable[[], list[QAction]] = lambda: []
        self._followed: QItemSelectionModel | None = None  # the selection model the viewer follows

        self.copy_action = self._action("&Copy", lambda: self.copy("tsv"), QKeySequence.StandardKey.Copy)
        self.copy_headers_action = self._action("Copy with &headers", lambda: self.copy("tsv", header=True))
        self.copy_csv_action = self._action("Copy as C&SV", lambda: self.copy("csv"))
        self.copy_json_action = self._action("Copy as &JSON", lambda: self.copy("json"))
        self.view_action = self._action("&View value…", self.view_current, "Shift+Return")
        view.addAction(self.copy_action)
        view.addAction(self.view_action)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._menu)
        view.doubleClicked.connect(self._double_clicked)

    def _action(
        self, text: str, slot: Callable[[], object], shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None
    ) -> QAction:
        action = QAction(text, self.view)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    # Selection ------------------------------------------------------------------------------------------
    def selection(self) -> tuple[list[str], list[tuple]]:
        """The selected cells as (columns, rows): the rows and columns that have a selected cell, in order;
        a cell inside that grid that is not selected copies as empty."""
        model = self._model()
        indexes = self.view.selectionModel().selectedIndexes() if model is not None else []
        if not indexes:
            current = self.view.currentIndex()
            indexes = [current] if current.isValid() else []
        if model is None or not indexes:
            return [], []
        rows = sorted({index.row() for index in indexes})
        columns = sorted({index.column() for index in indexes})
        chosen = {(index.row(), index.column()) for index in indexes}
        names = model.columns
        grid = [
            tuple(model.value(row, column) if (row, column) in chosen else None for column in columns) for row in rows
        ]
        return [names[column] for column in columns], grid

    def copy_text(self, fmt: str, *, header: bool = False) -> str:
        columns, rows = self.selection()
        if not columns:
            return ""
        if fmt == "csv":
            return to_csv(columns, rows)
        if fmt == "json":
            return to_json(columns, rows)
        return to_tsv(columns, rows, header=header)

    def copy(self, fmt: str, *, header: bool = False) -> str:
        text = self.copy_text(fmt, header=header)
        if text or self.selection()[0]:
            QGuiApplication.clipboard().setText(text)
        return text

    # Viewer ---------------------------------------------------------------------------------------------
    def view_current(self) -> CellViewer | None:
        index = self.view.currentIndex()
        if not index.isValid():
            return None
        if self.viewer is None:
            self.viewer = CellViewer(self.view.window())
            self.viewer.setObjectName(f"{self.name}CellViewer")
        self._follow()
        self._show(index)
        self.viewer.raise_()
        return self.viewer

    def reset(self) -> None:
        """The grid shows another file: the viewer lets go of the old value."""
        if self.viewer is not None:
            self.viewer.clear()

    def _model(self) -> RowsModel | None:
        return cast("RowsModel | None", self.view.model())  # every grid shows a RowsModel

    def _show(self, index: QModelIndex) -> None:
        model = self._model()
        if self.viewer is None or model is None or not index.isValid():
            return
        label = model.headerData(index.row(), Qt.Orientation.Vertical, Qt.ItemDataRole.DisplayRole)
        number = int(str(label).replace(",", "")) if str(label).replace(",", "").isdigit() else None
        column = model.columns[index.column()]
        self.viewer.show_value(model.value(index.row(), index.column()), column=column, row=number)

    def _follow(self) -> None:
        selection = self.view.selectionModel()
        if selection is self._followed or selection is None:
            return
        selection.currentChanged.connect(self._current_changed)
        self._followed = selection

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.viewer is not None and self.viewer.isVisible() and current.isValid():
            self._show(current)

    def _double_clicked(self, index: QModelIndex) -> None:
        model = self.view.model()
        if model is not None and not (model.flags(index) & Qt.ItemFlag.ItemIsEditable):
            self.view.setCurrentIndex(index)
            self.view_current()

    # Menu -----------------------------------------------------------------------------------------------
    def menu(self) -> QMenu:
        menu = QMenu(self.view)
        menu.addAction(self.view_action)
        menu.addSeparator()
        for action in (self.copy_action, self.copy_headers_action, self.copy_csv_action, self.copy_json_action):
            menu.addAction(action)
        extra = self.extra_actions()
        if extra:
            menu.addSeparator()
            for action in extra:
                menu.addAction(action)
        has_cell = bool(self.selection()[0])
        self.view_action.setEnabled(self.view.currentIndex().isValid())
        for action in (self.copy_action, self.copy_headers_action, self.copy_csv_action, self.copy_json_action):
            action.setEnabled(has_cell)
        return menu

    def _menu(self, position: QPoint) -> None:
        menu = self.menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.view.viewport().mapToGlobal(position))
