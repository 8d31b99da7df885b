"""Rows of a console query as they stream in; the view is shown them a screenful at a time."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex

from desktop_app.core.query import ResultPage
from desktop_app.ui.models.rows_model import RowsModel

REVEAL_ROWS = 500


class ResultModel(RowsModel):
    """Holds every received row (the runner caps them at max_rows); exposes them lazily via fetchMore."""

    def __init__(self, columns: list[str] | None = None) -> None:
        super().__init__(columns)
        self._received: list[tuple] = []

    @property
    def received_count(self) -> int:
        return len(self._received)

    def received_rows(self) -> list[tuple]:
        """Every row received, scrolled into view or not (a plot draws them all)."""
        return self._received

    def add_page(self, page: ResultPage) -> None:
        if page.columns and page.columns != self._columns and not self._received:
            self._set_columns(page.columns)
        self._received.extend(page.rows)
        if len(self._rows) < REVEAL_ROWS:  # fill the first screenful at once
            self._reveal(REVEAL_ROWS - len(self._rows))

    def set_columns(self, columns: list[str]) -> None:
        """Columns of a result with no rows (the header still shows)."""
        if not self._received:
            self._set_columns(columns)

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and len(self._rows) < len(self._received)

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> None:  # noqa: B008, N802
        if self.canFetchMore(parent):
            self._reveal(REVEAL_ROWS)

    def _reveal(self, count: int) -> None:
        start = len(self._rows)
        self._append(self._received[start : start + count])
