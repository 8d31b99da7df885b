"""A table header with a filter box under each column and click-to-sort (ascending, descending, off).

Like DB Browser's: the boxes live inside the header (its viewport gets a bottom margin for them) and follow
the sections as columns are resized, moved or scrolled. Each box's text is parsed by `keyset.parse_filter`
when the user presses Enter or pauses typing; a box that cannot be parsed turns red and `filter_error`
says why, and the valid ones are emitted together as `filters_changed`.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QHeaderView, QLineEdit, QWidget

from desktop_app.core.keyset import FILTER_HELP, Condition, FilterError, parse_filter

TYPING_PAUSE_MS = 400
INVALID_STYLE = "QLineEdit { border: 1px solid #d93025; background: #fdecea; }"


class FilterHeader(QHeaderView):
    filters_changed = Signal(object)  # list[Condition]
    filter_error = Signal(str)  # "" once every box parses
    sort_requested = Signal(object, bool)  # column name or None, descending

    def __init__(self, parent: QWidget | None = None) -> None:
        self.editors: list[QLineEdit] = []  # before anything that makes Qt call updateGeometries
        self._names: list[str] = []
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSectionsClickable(True)
        self.setSortIndicatorShown(True)
        self.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setHighlightSections(True)
        self.setStretchLastSection(True)
        self._sort: tuple[int, bool] | None = None  # (section, descending)
        self._applied: list[Condition] = []
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(TYPING_PAUSE_MS)
        self._pause.timeout.connect(self.apply)
        self.sectionClicked.connect(self._on_clicked)
        self.sectionResized.connect(lambda *_: self._place())
        self.sectionMoved.connect(lambda *_: self._place())

    # Columns ----------------------------------------------------------------------------------------------
    def set_columns(self, names: list[str]) -> None:
        """New columns: fresh, empty boxes and no sort (a new table)."""
        if names == self._names:
            return
        for editor in self.editors:
            editor.deleteLater()
        self._names = list(names)
        self.editors = []
        for name in names:
            editor = QLineEdit(self)
            editor.setObjectName(f"filter:{name}")
            editor.setPlaceholderText("Filter")
            editor.setToolTip(f"Filter {name}: {FILTER_HELP}")
            editor.setClearButtonEnabled(True)
            editor.textEdited.connect(lambda _text: self._pause.start())
            editor.returnPressed.connect(self.apply)
            editor.show()
            self.editors.append(editor)
        self._sort = None
        self._applied = []
        self.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.updateGeometries()

    def set_filter_text(self, column: str, text: str) -> None:
        """Type `text` into a column's box and apply (for scripts and tests)."""
        self.editors[self._names.index(column)].setText(text)
        self.apply()

    def clear_filters(self) -> None:
        for editor in self.editors:
            editor.clear()
        self.apply()

    @property
    def conditions(self) -> list[Condition]:
        return list(self._applied)

    def apply(self) -> None:
        """Parse every box; emit the conditions when they all parse and differ from those applied."""
        self._pause.stop()
        conditions, problems = [], []
        for name, editor in zip(self._names, self.editors, strict=True):
            try:
                condition = parse_filter(name, editor.text())
            except FilterError as error:
                editor.setStyleSheet(INVALID_STYLE)
                editor.setToolTip(str(error))
                problems.append(str(error))
                continue
            editor.setStyleSheet("")
            editor.setToolTip(f"Filter {name}: {FILTER_HELP}")
            if condition is not None:
                conditions.append(condition)
        self.filter_error.emit("; ".join(problems))
        if not problems and conditions != self._applied:
            self._applied = conditions
            self.filters_changed.emit(conditions)

    # Sort -------------------------------------------------------------------------------------------------
    def set_sort(self, column: str | None, descending: bool = False) -> None:
        """Show `column` as the sort (no signal)."""
        if column is None or column not in self._names:
            self._sort = None
            self.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
            return
        self._sort = (self._names.index(column), descending)
        order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        self.setSortIndicator(self._sort[0], order)

    def _on_clicked(self, section: int) -> None:
        if section >= len(self._names):
            return
        if self._sort is None or self._sort[0] != section:
            self.set_sort(self._names[section], False)
        elif not self._sort[1]:
            self.set_sort(self._names[section], True)
        else:
            self.set_sort(None)
        self.sort_requested.emit(
            self._names[self._sort[0]] if self._sort else None, bool(self._sort and self._sort[1])
        )

    # Geometry ---------------------------------------------------------------------------------------------
    def _editor_height(self) -> int:
        return self.editors[0].sizeHint().height() if self.editors else 0

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        size = super().sizeHint()
        if self.editors:
            size.setHeight(size.height() + self._editor_height() + 2)
        return size

    def updateGeometries(self) -> None:  # noqa: N802 (Qt API)
        self.setViewportMargins(0, 0, 0, self._editor_height() + 2 if self.editors else 0)
        super().updateGeometries()
        self._place()

    def place_editors(self) -> None:
        """Follow a horizontal scroll of the table (connect the scroll bar here)."""
        self._place()

    def _place(self) -> None:
        if not self.editors:
            return
        height = self._editor_height()
        top = self.height() - height - 1
        for index, editor in enumerate(self.editors):
            editor.move(self.sectionViewportPosition(index), top)
            editor.resize(self.sectionSize(index), height)
            editor.setVisible(not self.isSectionHidden(index))
