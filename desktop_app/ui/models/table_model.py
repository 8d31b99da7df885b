"""A table's rows, paged in by key as the view scrolls: a 10-million-row table opens at once.

No `count(*)`: the view learns about rows as pages arrive (canFetchMore / fetchMore), each page one short
keyed statement on the panel's read thread, so no read transaction stays open and the GUI never waits.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Signal

from desktop_app.core.errors import PulseError
from desktop_app.core.query import TablePage, fetch_table_page
from desktop_app.ui.models.rows_model import RowsModel
from desktop_app.ui.workers import ConnectionWorker

DEFAULT_PAGE_ROWS = 500


class TableModel(RowsModel):
    page_loaded = Signal(int)  # rows loaded so far
    failed = Signal(object)  # PulseError

    def __init__(self, worker: ConnectionWorker, table: str, *, page_rows: int = DEFAULT_PAGE_ROWS) -> None:
        super().__init__()
        self.worker = worker
        self.table = table
        self.page_rows = page_rows
        self._last_key: int | None = None
        self._fetching = False
        self._exhausted = False
        self._closed = False
        self.pages_fetched = 0

    def start(self) -> None:
        """Fetch the first page (columns come with it)."""
        self._request()

    def close(self) -> None:
        """Ignore pages still on their way (the panel moved on to another table)."""
        self._closed = True

    @property
    def fetching(self) -> bool:
        return self._fetching

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and not self._exhausted and not self._fetching and not self._closed

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: B008, N802
        if self.canFetchMore(parent):
            self._request()

    def look_for_new_rows(self) -> None:
        """Another writer may have appended rows: let the next scroll to the end fetch past the last key."""
        if self._exhausted and not self._fetching and not self._closed:
            self._exhausted = False
            self._request()

    def _request(self) -> None:
        self._fetching = True
        table, after_key, limit = self.table, self._last_key, self.page_rows
        self.worker.submit(
            lambda connection: fetch_table_page(connection, table, after_key=after_key, limit=limit),
            self._on_page,
            self._on_error,
        )

    def _on_page(self, page: TablePage) -> None:
        self._fetching = False
        if self._closed:
            return
        self.pages_fetched += 1
        if not self._columns:
            self._set_columns(page.columns)
        self._last_key = page.last_key
        if len(page.rows) < self.page_rows:
            self._exhausted = True
        self._append(page.rows)
        self.page_loaded.emit(len(self._rows))

    def _on_error(self, error: PulseError) -> None:
        self._fetching = False
        self._exhausted = True  # do not hammer a failing query on every scroll
        if not self._closed:
            self.failed.emit(error)


