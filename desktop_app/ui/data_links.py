"""Following foreign keys in the data grid: a reference cell opens the row it refers to, Back comes home.

Cells of a column in a foreign key (composite keys too) are links (the model's `links`); Ctrl+click or
"Go to referenced row" finds the parent row by one seek on its key (core/foreign_keys.py, on the session's
browse thread), then the grid opens the parent table positioned on that row and selects it. Before leaving,
the grid's `Place` (table, sort, filters, search, the window's first row and the current cell) goes on a
history; Back (Alt+Left, or the button) opens the previous place again the same way, by seek. A reference
to no row says so and stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QPushButton, QStyle

from desktop_app.core import foreign_keys
from desktop_app.core.errors import PulseError
from desktop_app.core.foreign_keys import ForeignKey
from desktop_app.core.keyset import Condition, Cursor, sql_literal
from desktop_app.ui.aio import spawn

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QTableView, QWidget

    from desktop_app.core.session import Session
    from desktop_app.ui.models.table_model import TableModel

HISTORY_DEPTH = 50


@dataclass(frozen=True)
class Place:
    """Where the grid is: reopening a Place shows the same rows, in the same order, with the same cell current."""

    table: str
    first: Cursor | None = None  # the window's first row (None: the first page)
    offset: int | None = None  # its row number, when known
    row: int = 0  # the current cell, within the window
    column: int = 0
    sort: str | None = None
    descending: bool = False
    conditions: tuple[Condition, ...] = ()
    filter_texts: tuple[str, ...] = ()  # what the filter boxes held, in column order
    search: str = ""


class LinkedGrid(Protocol):
    """What the links need of the data view (which is one), so this module does not import it."""

    @property
    def view(self) -> QTableView: ...
    @property
    def session(self) -> Session | None: ...

    table_opened: SignalInstance
    model: TableModel | None

    def place(self) -> Place | None: ...
    def open_table(self, name: str, *, at: Place | None = None) -> None: ...
    def addAction(self, action: QAction) -> None: ...  # noqa: N802 (Qt's name)
    def style(self) -> QStyle: ...


class ReferenceLinks(QObject):
    def __init__(self, data_view: LinkedGrid) -> None:
        super().__init__(cast("QWidget", data_view))  # the data view is a QWidget
        self.data_view = data_view
        self.history: list[Place] = []
        self._keys: list[ForeignKey] = []  # of the table shown

        self.back_action = QAction("Back", self)
        self.back_action.setShortcut(QKeySequence("Alt+Left"))
        self.back_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.back_action.triggered.connect(lambda _checked=False: self.back())
        data_view.addAction(self.back_action)
        self.follow_action = QAction("Go to referenced row", data_view.view)  # the grid connects Ctrl+click
        self.follow_action.triggered.connect(lambda _checked=False: self.follow(data_view.view.currentIndex()))
        self.back_button = QPushButton("Back")
        self.back_button.setObjectName("backToPlace")
        self.back_button.setIcon(data_view.style().standardIcon(QStyle.StandardPixmap.SP_ArrowBack))
        self.back_button.clicked.connect(lambda _checked=False: self.back())
        self.message = QLabel("")
        self.message.setObjectName("linkMessage")
        self.message.setWordWrap(True)
        data_view.table_opened.connect(self._on_table_opened)
        self._update()

    def forget(self) -> None:
        """Another file: no way back into the old one."""
        self.history.clear()
        self._keys = []
        self.message.setText("")
        self._update()

    def actions(self) -> list[QAction]:
        """For the grid's context menu: follow the current cell's reference (enabled on a link)."""
        model = self.data_view.model
        index = self.data_view.view.currentIndex()
        self.follow_action.setEnabled(model is not None and model.is_link(index))
        return [self.follow_action]

    # Links of the table shown ------------------------------------------------------------------------------
    def _on_table_opened(self, name: str) -> None:
        self._keys = []
        model, session = self.data_view.model, self.data_view.session
        if model is not None and session is not None:
            spawn(self._load_keys(model, name))

    async def _load_keys(self, model: TableModel, name: str) -> None:
        session = self.data_view.session
        if session is None:
            return
        try:
            keys = await session.browse(lambda c: foreign_keys.foreign_keys(c, name))
        except PulseError:
            return  # the page request reports the same problem
        view_model = self.data_view.model
        if view_model is not model or view_model is None:
            return
        self._keys = keys
        self._apply_links()
        if not view_model.columns:  # the columns come with the first page: mark the links then
            view_model.modelReset.connect(self._apply_links)

    def _apply_links(self) -> None:
        model = self.data_view.model
        if model is None:
            return
        columns = model.columns
        links: dict[int, str] = {}
        for key in self._keys:
            for column in key.columns:
                if column in columns and columns.index(column) not in links:
                    links[columns.index(column)] = key.target
        model.set_links(links)

    def key_at(self, index: QModelIndex) -> ForeignKey | None:
        model = self.data_view.model
        if model is None or not index.isValid():
            return None
        column = model.columns[index.column()]
        return next((key for key in self._keys if column in key.columns), None)

    # Following and coming back -----------------------------------------------------------------------------
    def follow(self, index: QModelIndex) -> None:
        """Open the row the cell at `index` refers to (its whole foreign key, from the cell's row)."""
        model, session, key = self.data_view.model, self.data_view.session, self.key_at(index)
        if model is None or session is None or key is None:
            return
        columns = model.columns
        values = tuple(model.value(index.row(), columns.index(column)) for column in key.columns)
        here = self.data_view.place()
        spawn(self._follow(key, values, here))

    async def _follow(self, key: ForeignKey, values: tuple, here: Place | None) -> None:
        session = self.data_view.session
        if session is None:
            return
        try:
            relation, cursor = await session.browse(lambda c: foreign_keys.locate(c, key, values))
        except PulseError as error:
            self._say(f"⚠ {error}")
            return
        if session is not self.data_view.session:
            return
        if cursor is None:
            shown = ", ".join(f"{c} = {sql_literal(v)}" for c, v in zip(key.columns, values, strict=True))
            self._say(f"⚠ No row of {relation.name} has what {shown} refers to: the reference is broken "
                      "(Tools ▸ Foreign Key Check lists every such row).")
            return
        if here is not None:
            self.history.append(here)
            del self.history[:-HISTORY_DEPTH]
        self._say(f"{relation.name}: the row {key.describe()} refers to. Alt+Left goes back.")
        self.data_view.open_table(relation.name, at=Place(relation.name, first=cursor))

    def back(self) -> None:
        if not self.history or self.data_view.session is None:
            return
        place = self.history.pop()
        self._say("")
        self.data_view.open_table(place.table, at=place)

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self._update()

    def _update(self) -> None:
        self.back_button.setEnabled(bool(self.history))
        self.back_action.setEnabled(bool(self.history))
        previous = self.history[-1].table if self.history else ""
        self.back_button.setToolTip(f"Back to {previous} (Alt+Left)" if previous else "Nothing to go back to")
