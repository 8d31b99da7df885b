"""Read-only grids of SQLite values: the display rules shared by the table browser and the console."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop_app.core.cells import short_float

DISPLAY_CHARS = 300
NULL_COLOR = QColor("#9aa0a6")
BLOB_COLOR = QColor("#6b5b95")

Index = QModelIndex | QPersistentModelIndex


def display_text(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        preview = value[:16].hex(" ")
        return f"BLOB {len(value):,} bytes: {preview}{' …' if len(value) > 16 else ''}"
    if isinstance(value, float):
        return short_float(value)  # copies and exports keep repr
    text = str(value)
    if len(text) > DISPLAY_CHARS:
        return text[:DISPLAY_CHARS] + "…"
    return text.replace("\n", "⏎ ")


class RowsModel(QAbstractTableModel):
    """Columns plus the rows loaded so far. Subclasses decide how rows arrive (canFetchMore / fetchMore)."""

    def __init__(self, columns: list[str] | None = None) -> None:
        super().__init__()
        self._columns: list[str] = list(columns or [])
        self._rows: list[tuple] = []
        self._italic = QFont()
        self._italic.setItalic(True)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def rows(self) -> list[tuple]:
        return self._rows

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._columns)

    def value(self, row: int, column: int) -> object:
        return self._rows[row][column]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        value = self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(value)
        if role == Qt.ItemDataRole.ToolTipRole and isinstance(value, str) and len(value) > DISPLAY_CHARS:
            return value[:4000]
        if role == Qt.ItemDataRole.ForegroundRole:
            if value is None:
                return NULL_COLOR
            if isinstance(value, bytes):
                return BLOB_COLOR
        if role == Qt.ItemDataRole.FontRole and value is None:
            return self._italic
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int | float):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section] if section < len(self._columns) else None
        return str(section + 1)

    def _set_columns(self, columns: list[str]) -> None:
        if columns == self._columns:
            return
        self.beginResetModel()
        self._columns = list(columns)
        self._rows = []
        self.endResetModel()

    def _append(self, rows: list[tuple]) -> None:
        if not rows:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        self._rows.extend(rows)
        self.endInsertRows()
