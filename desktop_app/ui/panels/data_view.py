"""The data grid of one table or view: click a header to sort, type in the filter row, jump, count, follow.

It owns a `TableModel` per opened relation and shows what the model knows: how many rows (exact once
counted, "about" from the estimate, never "N loaded"), which rows are on screen, the sort and the filter
(the WHERE clause with its values as SQL literals, copyable to the console), how the relation is paged and
whether the order has an index (without one every page sorts the whole table: busy, with Cancel).

For other parts (stable): `view` (the QTableView, a `GridView`), `model` (the open `TableModel`, or None),
`header` (the `FilterHeader`: `conditions`, `set_filter_text`), `search_edit` and `apply_search()`,
`current_table`, `open_table(name, at=Place)`, `open_row(table, key)`, `place()`, `close_table()`, `reload()`,
`first_page()`, `last_page()`, `go_to_row(n)`, `toggle_count()`, `set_follow(on)`, `select_sql()`;
`links` (foreign keys followed, Back: ui/data_links.py), `cell_files` (ui/cell_files.py); signals
`table_opened(str)`, `failed(PulseError)`, `sql_to_console(str)`.
`model.spec.query()` is the (sql, values) of every row shown, in order, for an export; `model.row_key(row)`
is a row's rowid or primary key, for an edit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QGuiApplication,
    QIntValidator,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError
from desktop_app.core.keyset import Condition, Filter, Plan, Search, inline, where_clause
from desktop_app.core.session import Session
from desktop_app.ui.aio import spawn
from desktop_app.ui.cell_files import CellFiles
from desktop_app.ui.data_links import Place, ReferenceLinks
from desktop_app.ui.export import TableExport
from desktop_app.ui.grid_tools import GridTools
from desktop_app.ui.models.table_model import TableModel
from desktop_app.ui.table_edit import TableEditor
from desktop_app.ui.widgets.filter_header import TYPING_PAUSE_MS, FilterHeader

BUSY_NOTE_AFTER_S = 0.3


def about(count: int) -> str:
    """An estimate to two significant digits: 588,669 -> 590,000."""
    if count < 100:
        return f"{count:,}"
    digits = len(str(count)) - 2
    return f"{round(count, -digits):,}"


class GridView(QTableView):
    """A table view that asks for earlier rows when the user scrolls up past the top of the window."""

    scrolled_past_top = Signal()
    link_clicked = Signal(QModelIndex)  # Ctrl+click on a cell that refers to a row (a foreign key)
    home_requested = Signal()  # Ctrl+Home: the first rows, wherever the window is
    end_requested = Signal()  # Ctrl+End: the last rows, without walking there

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        at_top = self.verticalScrollBar().value() == self.verticalScrollBar().minimum()
        if at_top and event.angleDelta().y() > 0:
            self.scrolled_past_top.emit()
        super().wheelEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            index = self.indexAt(event.position().toPoint())
            model = self.model()
            if isinstance(model, TableModel) and model.is_link(index):
                self.setCurrentIndex(index)
                self.link_clicked.emit(index)
                event.accept()
                return
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and event.key() in (Qt.Key.Key_Home, Qt.Key.Key_End):
            (self.home_requested if event.key() == Qt.Key.Key_Home else self.end_requested).emit()
            event.accept()
            return
        upward = event.key() in (Qt.Key.Key_Up, Qt.Key.Key_PageUp)
        if upward and self.currentIndex().row() <= 0 and self.verticalScrollBar().value() == 0:
            self.scrolled_past_top.emit()
        super().keyPressEvent(event)


class DataView(QWidget):
    table_opened = Signal(str)
    failed = Signal(object)  # PulseError
    sql_to_console = Signal(str)  # "SELECT ... WHERE ..." with the filter values inlined

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session: Session | None = None
        self._estimate_task: asyncio.Task | None = None
        self._last_error: PulseError | None = None
        self._busy_since: float | None = None
        self.model: TableModel | None = None
        self._arriving: Place | None = None  # the place being opened: boxes to fill, cell to select
        self.current_table: str | None = None
        self.estimated_rows: int | None = None

        self.view = GridView()
        self.view.setObjectName("tableData")
        self.header = FilterHeader(self.view)
        self.header.setObjectName("filterHeader")
        self.view.setHorizontalHeader(self.header)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.header.setDefaultSectionSize(110)
        self.view.horizontalScrollBar().valueChanged.connect(lambda _v: self.header.place_editors())
        # User actions only (drag, arrows, page clicks): a reset moving the bar to the top must not read more.
        self.view.verticalScrollBar().actionTriggered.connect(lambda _action: QTimer.singleShot(0, self._on_scrolled))
        self.view.scrolled_past_top.connect(self.fetch_previous)
        self.view.home_requested.connect(self.first_page)
        self.view.end_requested.connect(self.last_page)
        self._show_end = False  # the next window is the last page: scroll to its last row
        self.header.sort_requested.connect(self._on_sort)
        self.header.filters_changed.connect(self._on_filters)
        self.header.filter_error.connect(self._on_filter_error)

        self.info_label = QLabel("")
        self.info_label.setObjectName("tableInfo")
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel_button = self._button("Cancel", "cancelBrowse", "Stop reading this table or view", self.cancel_loading)
        self.cancel_button.hide()

        self.first_button = self._button("First", "firstPage", "The first rows (Ctrl+Home in the grid)", self.first_page)
        self.last_button = self._button("Last", "lastPage", "The last rows, read backwards by key (Ctrl+End in the grid)", self.last_page)
        style = self.style()
        self.first_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipBackward))
        self.last_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSkipForward))
        self.go_edit = QLineEdit()
        self.go_edit.setObjectName("goToRow")
        self.go_edit.setPlaceholderText("Go to row…")
        self.go_edit.setValidator(QIntValidator(1, 2**31 - 1, self))
        self.go_edit.setMaximumWidth(120)
        self.go_edit.returnPressed.connect(self._on_go)
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("searchRows")
        self.search_edit.setPlaceholderText("Search all columns…")
        self.search_edit.setToolTip(
            "Rows where any column contains this text (as typed: % and _ are plain characters), "
            "with the column filters. It reads every row until a page is full: Esc or Cancel stops it."
        )
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMaximumWidth(260)
        self._search_pause = QTimer(self)
        self._search_pause.setSingleShot(True)
        self._search_pause.setInterval(TYPING_PAUSE_MS)
        self._search_pause.timeout.connect(self.apply_search)
        self.search_edit.textEdited.connect(lambda _text: self._search_pause.start())
        self.search_edit.returnPressed.connect(self.apply_search)
        self.escape_action = QAction("Stop reading", self)
        self.escape_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.escape_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.escape_action.setEnabled(False)  # only while a page is read: Esc keeps its meaning elsewhere
        self.escape_action.triggered.connect(lambda _checked=False: self.cancel_loading())
        self.addAction(self.escape_action)
        self.count_button = self._button("Count", "countRows", "Count the rows exactly, in the background", self.toggle_count)
        self.follow_box = QCheckBox("Follow")
        self.follow_box.setObjectName("followRows")
        self.follow_box.setToolTip("Keep the last rows in view as new ones arrive (like tail -f)")
        self.follow_box.toggled.connect(self.set_follow)
        self.where_label = QLabel("")
        self.where_label.setObjectName("whereClause")
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where_label.setStyleSheet("font-family: monospace")
        # A long clause (a search names every column) is cut at the panel's edge, not let widen the panel past
        # its dock (which pushed the search box out of view); the whole clause is its tooltip and SQL → console.
        self.where_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.filter_error_label = QLabel("")
        self.filter_error_label.setObjectName("filterError")
        self.filter_error_label.setStyleSheet("color: #d93025")
        self.filter_error_label.setWordWrap(True)
        self.filter_error_label.hide()
        self.to_console_button = self._button(
            "SQL → console", "filterToConsole", "Put this SELECT (values inlined) in the console and on the clipboard",
            self.copy_sql_to_console,
        )
        self.clear_button = self._button(
            "Clear filters", "clearFilters", "Remove every column filter and the search", self.clear_filters
        )

        self.links = ReferenceLinks(self)
        self.view.link_clicked.connect(self.links.follow)
        nav = QHBoxLayout()
        nav.addWidget(self.links.back_button)
        for widget in (self.first_button, self.last_button, self.go_edit, self.count_button, self.follow_box):
            nav.addWidget(widget)
        nav.addStretch(1)
        nav.addWidget(self.search_edit, 2)  # grows to its 260 px first: its placeholder was cut at the hint's width
        nav.addWidget(self.cancel_button)
        where = QHBoxLayout()
        where.addWidget(self.where_label, 1)
        where.addWidget(self.clear_button)
        where.addWidget(self.to_console_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(nav)
        layout.addWidget(self.info_label)
        layout.addWidget(self.links.message)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.filter_error_label)
        layout.addLayout(where)
        # Looking, copying, editing and exporting live in their own modules; these lines only place them.
        self.grid_tools = GridTools(self.view, name="table")
        self.editing = TableEditor(self)
        self.cell_files = CellFiles(self, lambda: self.table_export.dialogs, self.editing.message)
        self.grid_tools.extra_actions = lambda: [
            *self.links.actions(), *self.cell_files.actions(), *self.editing.extra_actions()
        ]
        self.table_export = TableExport(self)
        tools = QHBoxLayout()
        tools.addWidget(self.editing.bar, 1)
        tools.addWidget(self.table_export.status)
        tools.addWidget(self.table_export.button)
        layout.addLayout(tools)
        layout.addWidget(self.table_export.bar)
        self._busy_timer = QTimer(self)
        self._busy_timer.setInterval(200)
        self._busy_timer.timeout.connect(self._show_info)
        self._update_controls()

    def _button(self, text: str, name: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # Opening and closing ----------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Follow `session`: its `data_changed` (another connection committed) reloads the rows shown."""
        if self._session is not None:
            self._session.events.data_changed.disconnect(self._on_data_changed)
        self.close_table()
        self._session = session
        self.links.forget()
        self.info_label.setText("")
        # Nothing typed or shown for the previous file stays: the row number, the export's note, the viewer.
        self.go_edit.clear()
        self.search_edit.clear()
        self.table_export.reset()
        self.grid_tools.reset()
        if session is not None:
            session.events.data_changed.connect(self._on_data_changed)

    def _on_data_changed(self, _sample: object) -> None:
        self.reload()

    @property
    def session(self) -> Session | None:
        return self._session

    def open_row(self, table: str, key: tuple) -> None:
        """Show `table` at the row whose key (its rowid, or its primary key values) is `key`, selected."""
        self.open_table(table, at=Place(table, first=tuple(key)))

    def open_table(self, name: str, *, at: Place | None = None) -> None:
        """Show `name` from its first row, or `at` a place: its order, filters and search, the window from
        its first row (a key seek) and its current cell selected."""
        if self._session is None:
            return
        self.close_table()  # also interrupts a page of the previous table still being read
        self.search_edit.setText(at.search if at is not None else "")  # a search belongs to its table
        self.current_table = name
        self.model = model = TableModel(self._session, name)
        self._last_error = None
        self._arriving = at
        for signal, slot in self._model_slots(model):
            signal.connect(slot)
        self.view.setModel(model)
        self.header.set_columns([])
        self.info_label.setText(f"{name}: loading…")
        if at is not None:
            model.configure(at.sort, at.descending, at.conditions, at.search)
        model.start(at=at.first if at is not None else None, offset=at.offset if at is not None else None)
        self._request_estimate()
        self.table_opened.emit(name)

    def _model_slots(self, model: TableModel) -> list:
        return [
            (model.page_loaded, self._on_rows),
            (model.refreshed, self._on_rows),
            (model.failed, self.show_error),
            (model.busy_changed, self._on_busy),
            (model.prepended, self._on_prepended),
            (model.plan_known, self._on_plan),
            (model.counted, self._on_counted),
            (model.modelReset, self._on_columns),
            (model.window_moved, self._on_window_moved),
            (model.sought, self._on_sought),
        ]

    def close_table(self) -> None:
        if self._estimate_task is not None:
            self._estimate_task.cancel()
            self._estimate_task = None
        if self.model is not None:
            model, self.model = self.model, None
            model.close()
            self.view.setModel(None)
            for signal, slot in self._model_slots(model):
                signal.disconnect(slot)
            model.deleteLater()
        self.header.set_columns([])
        self._set_follow_box(False)
        self._busy_timer.stop()
        self._busy_since = None
        self.cancel_button.hide()
        self.escape_action.setEnabled(False)
        self.filter_error_label.hide()
        self.where_label.setText("")
        self.where_label.setToolTip("")
        self.current_table = None
        self.estimated_rows = None
        self._update_controls()

    def reload(self) -> None:
        """The file changed (or F5): reload the rows shown in place, and the estimate."""
        if self.model is not None:
            self.model.refresh()
            self._request_estimate()

    # Actions ----------------------------------------------------------------------------------------------
    def first_page(self) -> None:
        self._show_end = False
        if self.model is not None:
            self._set_follow_box(False)
            self.model.first_page()

    def last_page(self) -> None:
        if self.model is not None:
            self._show_end = True
            self.model.last_page()

    def go_to_row(self, number: int) -> None:
        if self.model is not None:
            self._set_follow_box(False)
            self.model.go_to_row(number)

    def toggle_count(self) -> None:
        if self.model is None:
            return
        if self.model.counting:
            self.model.cancel_count()
        else:
            self.model.count_rows()
        self._update_controls()
        self._show_info()

    def set_follow(self, on: bool) -> None:
        if self.model is not None and self.model.follow != on:
            self.model.follow = on
        self._set_follow_box(on)

    def cancel_loading(self) -> None:
        if self.model is not None:
            self.model.cancel()

    def select_sql(self) -> str:
        return self.model.spec.select_sql() if self.model is not None and self.model.spec is not None else ""

    def copy_sql_to_console(self) -> None:
        sql = self.select_sql()
        if sql:
            QGuiApplication.clipboard().setText(sql)
            self.sql_to_console.emit(sql)

    def _set_follow_box(self, on: bool) -> None:
        self.follow_box.blockSignals(True)
        self.follow_box.setChecked(on)
        self.follow_box.blockSignals(False)
        if self.model is not None and not on and self.model.follow:
            self.model.follow = False

    def _on_go(self) -> None:
        text = self.go_edit.text().strip()
        if text.isdigit():
            self.go_to_row(int(text))

    def _on_sort(self, column: str | None, descending: bool) -> None:
        if self.model is not None:
            self.model.set_order(column, descending)
            self._show_where()

    def _on_filters(self, conditions: list[Condition]) -> None:
        if self.model is not None:
            self.model.set_conditions(conditions)
            self._show_where()

    def clear_filters(self) -> None:
        self.search_edit.clear()
        self.apply_search()
        self.header.clear_filters()

    def apply_search(self) -> None:
        """Filter by the search box's text (with the column filters), from the first page."""
        self._search_pause.stop()
        if self.model is not None and self.model.search != self.search_edit.text():
            self.model.set_search(self.search_edit.text())
            self._show_where()

    def filters(self) -> list[Filter]:
        """What the rows shown must match: the column filters, then the search."""
        text = self.search_edit.text() if self.model is not None else ""
        search: list[Filter] = [Search(text, tuple(self.model.columns))] if text and self.model is not None else []
        return [*self.header.conditions, *search]

    def _on_filter_error(self, message: str) -> None:
        self.filter_error_label.setText(f"⚠ {message}" if message else "")
        self.filter_error_label.setVisible(bool(message))

    def _show_where(self) -> None:
        where, values = where_clause(self.filters())
        self.where_label.setText(f"WHERE {inline(where, values)}" if where else "")
        self.where_label.setToolTip(self.where_label.text())
        self._update_controls()

    # Model events -----------------------------------------------------------------------------------------
    def _on_columns(self) -> None:
        if self.model is not None and self.model.columns and not self.header.editors:
            self.header.set_columns(self.model.columns)
            place = self._arriving
            if place is not None and place.table == self.current_table:
                self._fill_header(place)

    def _fill_header(self, place: Place) -> None:
        """The boxes and the sort of a place being opened, shown without applying them again (the model
        already reads with them)."""
        for editor, text in zip(self.header.editors, place.filter_texts, strict=False):
            editor.setText(text)
        self.header.blockSignals(True)
        self.header.apply()
        self.header.blockSignals(False)
        self.header.set_sort(place.sort, place.descending)
        self._show_where()

    def place(self) -> Place | None:
        """Where the grid is now, to come back to (None: no table, or its first rows are not read yet)."""
        model = self.model
        if model is None or self.current_table is None:
            return None
        current = self.view.currentIndex()
        spec = model.spec
        return Place(
            self.current_table,
            first=model.cursor_of(0),
            offset=model.offset,
            row=max(current.row(), 0),
            column=max(current.column(), 0),
            sort=spec.sort if spec is not None else None,
            descending=spec.descending if spec is not None else False,
            conditions=tuple(self.header.conditions),
            filter_texts=tuple(editor.text() for editor in self.header.editors),
            search=model.search,
        )

    def _on_sought(self, found: bool) -> None:
        """A place's window arrived: select its cell (the row sought is the window's first)."""
        place, self._arriving = self._arriving, None
        model = self.model
        if model is None or place is None or not model.rowCount():
            return
        row = min(place.row, model.rowCount() - 1) if found else 0
        index = model.index(row, min(place.column, max(model.columnCount() - 1, 0)))
        self.view.setCurrentIndex(index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().select(index, flags)
        self.view.scrollTo(index)

    def _on_window_moved(self) -> None:
        if self._show_end or (self.model is not None and self.model.follow):
            self._show_end = False
            self.view.scrollToBottom()
        else:
            self.view.scrollToTop()

    def _on_scrolled(self) -> None:
        bar = self.view.verticalScrollBar()
        if bar.value() == bar.minimum():
            self.fetch_previous()

    def fetch_previous(self) -> None:
        if self.model is not None and self.model.can_fetch_previous:
            self.model.fetch_previous()

    def _on_prepended(self, count: int) -> None:
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.value() + count)  # the rows the user was looking at stay where they were

    def _on_plan(self, _plan: Plan) -> None:
        self._show_info()

    def _on_counted(self, _total: int | None) -> None:
        self._update_controls()
        self._show_info()

    def _on_busy(self, busy: bool) -> None:
        self.cancel_button.setVisible(busy and self.model is not None)
        self.escape_action.setEnabled(busy and self.model is not None)
        if busy:
            self._busy_since = time.monotonic()
            self._busy_timer.start()
        else:
            self._busy_since = None
            self._busy_timer.stop()
            self._show_info()

    def _on_rows(self, _count: int) -> None:
        self._last_error = None
        if self.model is not None and self.model.follow:
            self.view.scrollToBottom()
        self._update_controls()
        self._show_info()

    def show_error(self, error: PulseError) -> None:
        """The error under the grid, and `failed` for whoever listens."""
        self._last_error = error
        self.info_label.setText(f"⚠ {error}")
        self.failed.emit(error)

    # Estimate ---------------------------------------------------------------------------------------------
    def _request_estimate(self) -> None:
        if self._session is None or self.current_table is None:
            return
        if self._estimate_task is not None and not self._estimate_task.done():
            return
        self._estimate_task = spawn(self._estimate(self._session, self.current_table))

    async def _estimate(self, session: Session, name: str) -> None:
        try:
            estimate = await session.estimate_rows(name)
        except PulseError:
            return  # the page request reports the same problem, once
        if session is self._session and name == self.current_table:
            self.estimated_rows = estimate
            self._show_info()

    # Labels -----------------------------------------------------------------------------------------------
    def _update_controls(self) -> None:
        model = self.model
        has = model is not None
        for widget in (
            self.first_button, self.last_button, self.go_edit, self.count_button, self.follow_box, self.search_edit
        ):
            widget.setEnabled(has)
        self.count_button.setText("Stop count" if model is not None and model.counting else "Count")
        filtered = has and bool(self.filters())
        self.clear_button.setVisible(filtered)
        self.to_console_button.setEnabled(has)

    def count_text(self) -> str:
        """"588,669 rows", "about 590,000 rows", "7,636 matching rows", "counting…"."""
        model = self.model
        if model is None:
            return ""
        filtered = bool(model.spec and model.spec.conditions)
        noun = "matching rows" if filtered else "rows"
        if model.total is not None:
            return f"{model.total:,} {noun}"
        if model.counting:
            return f"{noun}: counting…"
        if not filtered and self.estimated_rows is not None:
            return f"about {about(self.estimated_rows)} rows"
        return f"{noun}: not counted"

    def _show_info(self, *_args: object) -> None:
        model = self.model
        if model is None or self.current_table is None or self._last_error is not None:
            return
        if model.fetching:
            waited = time.monotonic() - self._busy_since if self._busy_since is not None else 0.0
            if not model.rowCount() or waited >= BUSY_NOTE_AFTER_S:
                note = self._scan_note()
                self.info_label.setText(
                    f"{self.current_table}: loading… {waited:.1f} s{' · ' + note if note else ''}"
                )
            return
        parts = [self.current_table, self.count_text()]
        first = model.first_row_number()
        shown = model.rowCount()
        if shown:
            if first is not None:
                parts.append(f"showing {first:,}–{first + shown - 1:,}")
            elif model.exhausted:
                parts.append(f"showing the last {shown:,}")
            else:
                parts.append(f"showing {shown:,} from the row opened")
        spec = model.spec
        if spec is not None and spec.sort:
            parts.append(f"sorted by {spec.sort} {'↓' if spec.descending else '↑'}")
        if spec is not None and spec.relation.paging_note:
            parts.append(spec.relation.paging_note)
        note = self._scan_note()
        if note:
            parts.append(note)
        self.info_label.setText(" · ".join(parts))

    def _scan_note(self) -> str:
        model = self.model
        if model is None or model.plan is None or model.spec is None:
            return ""
        notes = []
        if model.plan.sort_scans:
            rows = "every matching row" if model.spec.conditions else "the whole table"
            notes.append(f"⚠ no index on {model.spec.sort}: each page sorts {rows}")
        if model.search:
            notes.append(f"searching every column for {model.search!r}: reads rows until a page is full")
        elif model.plan.filter_scans:
            notes.append("the filter reads every row (no index for it)")
        return " · ".join(notes)
