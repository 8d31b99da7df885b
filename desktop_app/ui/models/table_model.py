"""A table's rows as a window on its ordered, filtered sequence: sorted, filtered, jumped, kept live.

No `count(*)` on open: the model shows a window of rows read by key (see `core/keyset.py`). Scrolling down
appends the page after the window's last row (canFetchMore / fetchMore); scrolling to the top of a window
that does not start at row 1 prepends the page before it (`fetch_previous`). Jumps replace the window: the
first page, the last page (the first page of the reversed order, never a walk through the table) and
"go to row N" (the key of row N by a key-only OFFSET, then pages from that key). Each page is one short
statement awaited from the session's browse thread, so no read transaction stays open and the GUI never
waits. When the file changes, `refresh()` reloads the window in place from its first row (the scroll
position stays); with `follow` on it shows the last page again, like `tail -f`. An exact count runs on the
session's count thread on request and can be cancelled.

API for the views (stable): `set_order(column, descending)`, `set_conditions(conditions)`, `set_search(text)`,
`first_page()`,
`last_page()`, `go_to_row(n)`, `fetch_previous()`, `count_rows()` / `cancel_count()`, `follow`, `refresh()`,
`cancel()`, `close()`; read `spec`, `relation`, `offset`, `total`, `at_start`, `exhausted`, `plan`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import apsw
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont

from desktop_app.core import keyset
from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.keyset import BrowseSpec, Condition, Cursor, Page, Plan, Relation
from desktop_app.core.session import Session
from desktop_app.ui.aio import spawn
from desktop_app.ui.models.rows_model import RowsModel

DEFAULT_PAGE_ROWS = 500
LINK_COLOR = QColor("#1a73e8")
LINK_ROLES = (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.ToolTipRole)


class CellEditor(Protocol):
    """What the model asks of its editor (ui/table_edit.py's TableEditor; declared here, not imported)."""

    def flags(self, model: TableModel, index: QModelIndex | QPersistentModelIndex, base: Qt.ItemFlag) -> Qt.ItemFlag: ...
    def data(self, model: TableModel, index: QModelIndex | QPersistentModelIndex, role: int) -> Any: ...
    def set_data(
        self, model: TableModel, index: QModelIndex | QPersistentModelIndex, value: object, role: int
    ) -> bool: ...


class TableModel(RowsModel):
    page_loaded = Signal(int)  # rows in the window after a page arrived
    refreshed = Signal(int)  # rows shown after a reload
    busy_changed = Signal(bool)
    failed = Signal(object)  # PulseError
    window_moved = Signal()  # a jump or a new order/filter replaced the rows shown (the view scrolls to them)
    prepended = Signal(int)  # rows added above the window (the view keeps its place)
    plan_known = Signal(object)  # keyset.Plan of the current order and filter
    counted = Signal(object)  # exact row count (int), or None when the count was cancelled or failed
    sought = Signal(bool)  # a seek (`start(at=...)`, `seek`) showed its window: True when the row sought is its first

    def __init__(self, session: Session, table: str, *, page_rows: int = DEFAULT_PAGE_ROWS) -> None:
        super().__init__()
        self.session = session
        self.table = table
        self.page_rows = page_rows
        self.relation: Relation | None = None
        self.spec: BrowseSpec | None = None
        self.plan: Plan | None = None
        self.offset: int | None = 0  # row number (0-based) of the window's first row, None when unknown
        self.total: int | None = None  # exact number of matching rows, once known
        self._first: Cursor | None = None
        self._cursors: list[Cursor] = []  # one per row shown, parallel to _rows
        self._last: Cursor | None = None
        self._sort: str | None = None
        self._descending = False
        self._conditions: tuple[Condition, ...] = ()
        self._search = ""  # text any column must contain ("" for none)
        self._follow = False
        self._task: asyncio.Task | None = None
        self._count_task: asyncio.Task | None = None
        self._stale = False  # the file changed while a request was in flight: reload after it
        self._exhausted = False  # nothing after the window
        self._halted = False  # cancelled or failed: no automatic retry (selecting the table again retries)
        self._closed = False
        self.pages_fetched = 0
        self.reloads = 0
        self.links: dict[int, str] = {}  # foreign key columns shown as links -> what they refer to

    # Public API -------------------------------------------------------------------------------------------
    def start(self, *, at: Cursor | None = None, offset: int | None = None) -> None:
        """Learn what the relation is and fetch the first page (columns come with it), or, `at` a cursor,
        the window starting at that row (`offset`: its row number when known, else the numbers are unknown)."""
        if at is None:
            self._launch(self._first_page)
        else:
            self.seek(at, offset=offset)

    def configure(
        self, sort: str | None, descending: bool, conditions: tuple[Condition, ...], search: str
    ) -> None:
        """Order and filters to use from the first request on (before `start`: nothing is read here)."""
        self._sort, self._descending, self._conditions, self._search = sort, descending, tuple(conditions), search

    def seek(self, cursor: Cursor, *, offset: int | None = None) -> None:
        """Show the window starting at the row whose cursor is `cursor` (a key seek, no count); `sought`
        says whether that row is still there (else the window starts at the next one)."""
        self._halted = False
        self._follow = False
        self._launch(lambda: self._seek(tuple(cursor), offset))

    def close(self) -> None:
        """Stop what is in flight (interrupting its statement) and ignore anything late."""
        self._closed = True
        self._cancel_task()
        self.cancel_count()

    def cancel(self) -> None:
        """The user gave up on a slow page: interrupt it; scrolling does not retry it by itself."""
        if self._task is not None and not self._task.done():
            self._exhausted = self._halted = True
            self._cancel_task()
            self.failed.emit(QueryInterrupted("Cancelled: the query took too long."))

    def set_order(self, column: str | None, descending: bool = False) -> None:
        """Sort by `column` (None: the table's own order) and show the first page of that order."""
        self._sort, self._descending = column, descending
        if self._columns:
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self._columns) - 1)
        self._restart()

    def set_conditions(self, conditions: list[Condition] | tuple[Condition, ...]) -> None:
        """Show only rows matching every condition (bound as parameters), from the first page."""
        self._conditions = tuple(conditions)
        self._restart()

    def set_search(self, text: str) -> None:
        """Show only rows where some column contains `text` (with the column filters), from the first page."""
        if text != self._search:
            self._search = text
            self._restart()

    @property
    def search(self) -> str:
        return self._search

    def first_page(self) -> None:
        self._follow = False  # the top of the table is not its tail
        self._restart(keep_total=True)

    def last_page(self) -> None:
        self._halted = False
        self._launch(self._last_page)

    def go_to_row(self, number: int) -> None:
        """Show the window starting at row `number` (1-based) of the current order and filter."""
        self._halted = False
        self._follow = False
        self._launch(lambda: self._go_to(max(number, 1) - 1))

    def fetch_previous(self) -> None:
        """Prepend the page before the window's first row (scrolling up from a jump)."""
        if self.can_fetch_previous:
            self._launch(self._previous_page)

    @property
    def can_fetch_previous(self) -> bool:
        return not self.at_start and not self.fetching and not self._closed and self._first is not None

    @property
    def at_start(self) -> bool:
        return self.offset == 0

    @property
    def follow(self) -> bool:
        return self._follow

    @follow.setter
    def follow(self, on: bool) -> None:
        """On: show the last rows now and after every change (like tail -f); off: stay where it is."""
        self._follow = on
        if on:
            self.last_page()

    def count_rows(self) -> None:
        """Count the matching rows exactly in the background; `counted` says the number (or None)."""
        if self.spec is None or self._closed or (self._count_task is not None and not self._count_task.done()):
            return
        self._count_task = spawn(self._count(self.spec))

    def cancel_count(self) -> None:
        if self._count_task is not None and not self._count_task.done():
            self._count_task.cancel()

    @property
    def counting(self) -> bool:
        return self._count_task is not None and not self._count_task.done()

    @property
    def fetching(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def row_key(self, row: int) -> tuple | None:
        """The key of a row shown, in `relation.key` order (its rowid, or its primary key values): what an
        UPDATE or DELETE of exactly that row needs. None for relations paged by position (views)."""
        if self.spec is None or not self.spec.relation.paged_by_key or not 0 <= row < len(self._cursors):
            return None
        order = self.spec.order_columns()
        cursor = self._cursors[row]
        return tuple(cursor[order.index(column)] for column in self.spec.relation.key)

    def cursor_of(self, row: int) -> Cursor | None:
        """Where a row shown sits in the order (what `seek` takes to come back to it)."""
        return self._cursors[row] if 0 <= row < len(self._cursors) else None

    def first_row_number(self) -> int | None:
        """1-based number of the window's first row, when known."""
        if self.offset is not None:
            return self.offset + 1
        if self.total is not None and self._exhausted:
            return self.total - len(self._rows) + 1
        return None

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and not self._exhausted and not self.fetching and not self._closed

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: B008, N802
        if self.canFetchMore(parent):
            self._launch(self._next_page)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            first = self.first_row_number()
            return f"{first + section:,}" if first is not None else "…"
        text = super().headerData(section, orientation, role)
        if role == Qt.ItemDataRole.DisplayRole and text is not None and text == self._sort:
            return f"{text} {'↓' if self._descending else '↑'}"  # every style shows this, unlike the indicator
        return text

    def refresh(self) -> None:
        """The file changed: reload the window in place (or the last page when following), count again."""
        if self._closed or self._halted:
            return
        if self.total is not None:  # rows came or went: count again (in the background)
            self.total = None
            self.count_rows()
        if self.fetching:
            self._stale = True
            return
        self._launch(self._last_page if self._follow else self._reload)

    def look_for_new_rows(self) -> None:
        """Another writer may have appended rows: fetch past the last row if everything was shown."""
        if self._exhausted and not self.fetching and not self._closed and not self._halted:
            self._exhausted = False
            self._launch(self._next_page)

    # Requests ---------------------------------------------------------------------------------------------
    def _restart(self, *, keep_total: bool = False) -> None:
        self._halted = False
        if not keep_total:
            self.total = None
            self.cancel_count()
        self._launch(self._last_page if self._follow else self._first_page)  # following: the new tail

    def _launch(self, request: Callable[[], Awaitable[None]]) -> None:
        # A new request replaces the one in flight (a jump while a page is read). The coroutine is made
        # inside the task: a task cancelled before it starts leaves none un-awaited.
        self._cancel_task()
        task = spawn(self._guarded(request))
        task.add_done_callback(self._ended)  # also runs for a task cancelled before it started
        self._task = task
        self.busy_changed.emit(True)

    def _ended(self, task: asyncio.Task) -> None:
        if not self._closed and task is self._task:
            self.busy_changed.emit(False)

    def _cancel_task(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _guarded(self, request: Callable[[], Awaitable[None]]) -> None:
        try:
            await request()
        except PulseError as error:
            self._exhausted = self._halted = True  # do not hammer a failing query on every scroll or change
            if not self._closed:
                self.failed.emit(error)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # a bug or MemoryError: say so here, and let it reach the excepthook
            self._exhausted = self._halted = True
            if not self._closed:
                self.failed.emit(PulseError(f"Reading {self.table} failed: {error!r}"))
            raise
        if self._stale and not self._closed and not self._halted:
            self._stale = False
            self._launch(self._last_page if self._follow else self._reload)

    async def _spec(self) -> BrowseSpec:
        """The spec for the current order and filter; the relation is described once (and its plan read)."""
        if self.relation is None:
            relation = await self.session.browse(lambda c: keyset.describe(c, self.table))
            self._adopt(BrowseSpec(relation), None)
        assert self.relation is not None
        spec = BrowseSpec(self.relation, self._sort, self._descending, self._filters(self.relation))
        if spec != self.spec:
            plan = None
            if spec.sort is not None or spec.conditions:
                plan = await self.session.browse(lambda c: keyset.page_plan(c, spec))
            self._adopt(spec, plan)
        return spec

    def _filters(self, relation: Relation) -> tuple[keyset.Filter, ...]:
        if not self._search:
            return self._conditions
        return (*self._conditions, keyset.Search(self._search, relation.columns))

    async def _page(self, spec: BrowseSpec, **kwargs: Any) -> Page:
        page = await self.session.browse(lambda c: keyset.fetch_page(c, spec, limit=self.page_rows, **kwargs))
        self.pages_fetched += 1
        return page

    async def _first_page(self) -> None:
        if self._sort is not None or self._conditions or self._search:
            # The plan first, on its own: a page that sorts the whole table is announced while it runs.
            spec = await self._spec()
            page = await self._page(spec)
        else:  # opening: describe and the first page in one job on the browse thread
            table, relation, limit = self.table, self.relation, self.page_rows

            def job(connection: apsw.Connection) -> tuple[BrowseSpec, Page]:
                spec = BrowseSpec(relation or keyset.describe(connection, table))
                return spec, keyset.fetch_page(connection, spec, limit=limit)

            spec, page = await self.session.browse(job)
            self.pages_fetched += 1
            if not self._closed:
                self._adopt(spec, None)
        if not self._closed:
            self._show_window(page, offset=0, at_end=page.complete)

    def _adopt(self, spec: BrowseSpec, plan: Plan | None) -> None:
        if self.relation is None:
            self.relation = spec.relation
            if not self._columns:
                self._set_columns(list(spec.relation.columns))
        if spec != self.spec:
            self.spec, self.plan = spec, plan
            if plan is not None:
                self.plan_known.emit(plan)

    async def _last_page(self) -> None:
        following = self._follow and bool(self._rows) and self._exhausted  # tail -f: update in place
        spec = await self._spec()
        page = await self._page(spec, backward=True)
        if self._closed:
            return
        offset = 0 if page.complete else (self.total - len(page.rows) if self.total is not None else None)
        self._show_window(page, offset=offset, at_end=True, reset=not following)
        if offset is None:
            self.count_rows()  # the row numbers of the last page need the count: find it in the background

    async def _go_to(self, index: int) -> None:
        spec = await self._spec()
        if self.total is None:
            # Counting first is cheaper than it looks: count(*) reads the smallest b-tree's pages without
            # decoding rows, it clamps N, lets the walk start from the nearer end, and the label gets it.
            counted = await self.session.count(lambda c: keyset.count_rows(c, spec))
            if self._closed or spec != self.spec:
                return
            self.total = counted
            self.counted.emit(counted)
        total = self.total
        cursor = await self.session.browse(lambda c: keyset.cursor_at(c, spec, index, total))
        if cursor is None:  # past the end: the last page
            await self._last_page()
            return
        page = await self._page(spec, after=cursor, inclusive=True)
        if not page.rows:  # the row went between the two statements
            await self._last_page()
            return
        if not self._closed:
            self._show_window(page, offset=index, at_end=page.complete)

    async def _seek(self, cursor: Cursor, offset: int | None) -> None:
        spec = await self._spec()
        page = await self._page(spec, after=cursor, inclusive=True)
        if self._closed:
            return
        if not page.rows:  # nothing from there on: the last rows
            await self._last_page()
            self.sought.emit(False)
            return
        self._show_window(page, offset=offset, at_end=page.complete)
        self.sought.emit(page.first == cursor)

    async def _next_page(self) -> None:
        spec = await self._spec()
        page = await self._page(spec, after=self._last)
        if self._closed:
            return
        if not self._rows:
            self._show_window(page, offset=0, at_end=page.complete)
            return
        self._exhausted = page.complete
        if page.rows:
            self._last = page.last
            self._cursors.extend(page.cursors)
            self._append(page.rows)
        self._learn_total()
        self.page_loaded.emit(len(self._rows))

    async def _previous_page(self) -> None:
        spec = await self._spec()
        page = await self._page(spec, after=self._first, backward=True)
        if self._closed or not page.rows:
            if not self._closed:
                self.offset = 0
            return
        count = len(page.rows)
        self.beginInsertRows(QModelIndex(), 0, count - 1)
        self._rows[:0] = page.rows
        self._cursors[:0] = page.cursors
        self.endInsertRows()
        self._first = page.first
        if page.complete:
            self.offset = 0
        elif self.offset is not None:
            self.offset = max(self.offset - count, 0)
        self._learn_total()
        self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, max(len(self._rows) - 1, 0))
        self.prepended.emit(count)
        self.page_loaded.emit(len(self._rows))

    async def _reload(self) -> None:
        """The window again from its first row, as many rows as it had (at least a page)."""
        spec = await self._spec()
        shown = len(self._rows)
        if self._first is None:
            await self._first_page()
            return
        # Read here, not on the browse thread; at the top, rows added above the first one show too.
        first, limit = (None if self.offset == 0 else self._first), max(shown, self.page_rows)
        page = await self.session.browse(lambda c: keyset.fetch_page(c, spec, after=first, inclusive=True, limit=limit))
        if self._closed:
            return
        self.reloads += 1
        if not page.rows and self.offset != 0:  # the window's rows all went: show the last page instead
            await self._last_page()
            return
        self._replace(page.rows, page.cursors)
        self._first, self._last = page.first, page.last
        self._exhausted = page.complete
        self._learn_total()
        self.refreshed.emit(len(self._rows))

    async def _count(self, spec: BrowseSpec) -> None:
        try:
            total = await self.session.count(lambda c: keyset.count_rows(c, spec))
        except PulseError:
            total = None  # interrupted or failed: the label keeps its estimate
        except asyncio.CancelledError:
            self._count_ended()
            if not self._closed:
                self.counted.emit(None)
            raise
        self._count_ended()
        if self._closed or spec != self.spec:
            return
        if total is not None:
            self.total = total
            self._emit_row_numbers()
        self.counted.emit(total)

    def _count_ended(self) -> None:
        if self._count_task is asyncio.current_task():
            self._count_task = None  # `counting` is False for the listeners of `counted`

    # Window -----------------------------------------------------------------------------------------------
    def _show_window(self, page: Page, *, offset: int | None, at_end: bool, reset: bool = True) -> None:
        self.offset = offset
        self._exhausted = at_end
        self._first, self._last = page.first, page.last
        self._replace(page.rows, page.cursors, reset=reset)
        self._learn_total()
        self.window_moved.emit()
        self.page_loaded.emit(len(self._rows))

    def _learn_total(self) -> None:
        """Both ends in the window: the count is known without counting."""
        if self.offset is not None and self._exhausted:
            self.total = self.offset + len(self._rows)

    def _emit_row_numbers(self) -> None:
        if self._rows:
            self.headerDataChanged.emit(Qt.Orientation.Vertical, 0, len(self._rows) - 1)

    def _replace(self, rows: list[tuple], cursors: list[Cursor], *, reset: bool = False) -> None:
        """Swap in `rows` with row-level change signals (no model reset), so the view keeps its scroll."""
        self._cursors = list(cursors)
        if reset:  # a new window: old rows out, new rows in (a model reset costs the view far more)
            if self._rows:
                self.beginRemoveRows(QModelIndex(), 0, len(self._rows) - 1)
                self._rows = []
                self.endRemoveRows()
            self._append(list(rows))
            return
        old = len(self._rows)
        new = len(rows)
        if new < old:
            self.beginRemoveRows(QModelIndex(), new, old - 1)
            del self._rows[new:]
            self.endRemoveRows()
        changed = min(old, new)
        self._rows[:changed] = rows[:changed]
        if changed and self._columns:
            self.dataChanged.emit(self.index(0, 0), self.index(changed - 1, len(self._columns) - 1))
        if new > old:
            self._append(rows[old:])
        self._emit_row_numbers()

    # Editing: ui/table_edit.py decides; the model only asks its `editor` (None: read-only) ------------------
    editor: CellEditor | None = None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        return self.editor.flags(self, index, base) if self.editor is not None and index.isValid() else base

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if self.editor is not None and index.isValid():
            shown = self.editor.data(self, index, role)
            if shown is not None:
                return shown
        if role in LINK_ROLES and self.is_link(index):
            return self._link_look(role, index.column())
        return super().data(index, role)

    # Links: cells of foreign key columns refer to a row of another table (ui/data_links.py follows them) ----
    def set_links(self, links: dict[int, str]) -> None:
        """Show the cells of these columns as links (column index -> "parent(columns)" for the tooltip)."""
        self.links = dict(links)
        if self._rows and self._columns:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self._columns) - 1))

    def is_link(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        """A cell that refers to a row: in a foreign key column and not NULL."""
        return index.isValid() and index.column() in self.links and self.value(index.row(), index.column()) is not None

    def _link_look(self, role: int, column: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole:
            return LINK_COLOR
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setUnderline(True)
            return font
        return f"Refers to {self.links[column]}: Ctrl+click opens that row (Alt+Left comes back)"

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        return self.editor is not None and self.editor.set_data(self, index, value, role)
