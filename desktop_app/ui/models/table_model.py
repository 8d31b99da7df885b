"""A table's rows, paged in by key as the view scrolls: a 10-million-row table opens at once.

No `count(*)`: the view learns about rows as pages arrive (canFetchMore / fetchMore), each page one short
keyed statement awaited from the session's browse thread, so no read transaction stays open and the GUI
never waits. When the file changes, `refresh()` reloads the rows already shown in place (deleted rows go,
new ones appear, the scroll position stays). A page that takes long can be cancelled; one that fails says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Signal

from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.query import TablePage
from desktop_app.core.session import Session
from desktop_app.ui.aio import spawn
from desktop_app.ui.models.rows_model import RowsModel

DEFAULT_PAGE_ROWS = 500


class TableModel(RowsModel):
    page_loaded = Signal(int)  # rows loaded so far
    refreshed = Signal(int)  # rows shown after a reload
    busy_changed = Signal(bool)
    failed = Signal(object)  # PulseError

    def __init__(self, session: Session, table: str, *, page_rows: int = DEFAULT_PAGE_ROWS) -> None:
        super().__init__()
        self.session = session
        self.table = table
        self.page_rows = page_rows
        self._last_key: int | None = None
        self._task: asyncio.Task | None = None
        self._stale = False  # the file changed while a request was in flight: reload after it
        self._exhausted = False
        self._halted = False  # cancelled or failed: no automatic retry (selecting the table again retries)
        self._closed = False
        self.pages_fetched = 0
        self.reloads = 0

    def start(self) -> None:
        """Fetch the first page (columns come with it)."""
        self._launch(self._next_page)

    def close(self) -> None:
        """Stop what is in flight (interrupting its statement) and ignore anything late."""
        self._closed = True
        self._cancel_task()

    def cancel(self) -> None:
        """The user gave up on a slow page: interrupt it; scrolling does not retry it by itself."""
        if self._task is not None and not self._task.done():
            self._exhausted = self._halted = True
            self._cancel_task()
            self.failed.emit(QueryInterrupted("Cancelled: the query took too long."))

    @property
    def fetching(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and not self._exhausted and not self.fetching and not self._closed

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: B008, N802
        if self.canFetchMore(parent):
            self._launch(self._next_page)

    def refresh(self) -> None:
        """The file changed: reload the rows shown, in place; then pick up rows appended past the end."""
        if self._closed or self._halted:
            return
        if self.fetching:
            self._stale = True
            return
        self._launch(self._reload)

    def look_for_new_rows(self) -> None:
        """Another writer may have appended rows: fetch past the last key if everything was shown."""
        if self._exhausted and not self.fetching and not self._closed and not self._halted:
            self._exhausted = False
            self._launch(self._next_page)

    # Requests ---------------------------------------------------------------------------------------------
    def _launch(self, request: Callable[[], Awaitable[None]]) -> None:
        # The coroutine is made inside the task: a task cancelled before it starts leaves none un-awaited.
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
            self._launch(self._reload)

    async def _next_page(self) -> None:
        page = await self.session.page(self.table, after_key=self._last_key, limit=self.page_rows)
        if self._closed:
            return
        self.pages_fetched += 1
        self._accept_page(page)

    def _accept_page(self, page: TablePage) -> None:
        if not self._columns:
            self._set_columns(page.columns)
        self._last_key = page.last_key
        self._exhausted = len(page.rows) < self.page_rows
        self._append(page.rows)
        self.page_loaded.emit(len(self._rows))

    async def _reload(self) -> None:
        if not self._rows and self._last_key is None:
            await self._next_page()
            return
        was_exhausted, shown = self._exhausted, len(self._rows)
        page = await self.session.reload(self.table, through_key=self._last_key, count=len(self._rows))
        if self._closed:
            return
        self.reloads += 1
        if page.columns != self._columns:
            self.beginResetModel()
            self._columns = list(page.columns)
            self._rows = []
            self.endResetModel()
        self._replace(page.rows)
        self._last_key = page.last_key
        self.refreshed.emit(len(self._rows))
        if was_exhausted or len(self._rows) < shown:  # all was shown, or rows went: show what follows
            page = await self.session.page(self.table, after_key=self._last_key, limit=self.page_rows)
            if not self._closed:
                self._accept_page(page)

    def _replace(self, rows: list[tuple]) -> None:
        """Swap in `rows` with row-level change signals (no model reset), so the view keeps its scroll."""
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
