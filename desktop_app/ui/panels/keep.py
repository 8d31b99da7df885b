"""The Ingest panel's "Keep" row: how much of the table the writer keeps (core/ingest/retention.py)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QWidget

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.retention import DEFAULT_TIME_COLUMN, parse_duration, parse_rows, parse_size

# (label, IngestConfig field, parser, placeholder); the first keeps everything.
KINDS: tuple[tuple[str, str | None, Any, str], ...] = (
    ("everything", None, None, ""),
    ("last N rows", "retain_rows", parse_rows, "1000000, 250k, 1M"),
    ("last D of time", "retain_seconds", parse_duration, "90s, 30m, 12h, 7d"),
    ("at most S bytes", "retain_bytes", parse_size, "500MB, 2GiB"),
)


class KeepRow(QWidget):
    """A kind (everything / last N rows / last D / at most S), its value, and for time the column to read."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("keepKind")
        for label, field, _parse, _hint in KINDS:
            self.kind_combo.addItem(label, field)
        self.value_edit = QLineEdit()
        self.value_edit.setObjectName("keepValue")
        self.column_edit = QLineEdit()
        self.column_edit.setObjectName("keepTimeColumn")
        self.column_edit.setPlaceholderText(DEFAULT_TIME_COLUMN)
        self.column_edit.setToolTip("The column holding each row's time, in Unix seconds")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind_combo)
        layout.addWidget(self.value_edit, 1)
        layout.addWidget(self.column_edit, 1)
        self.kind_combo.currentIndexChanged.connect(lambda _index: self._update())
        self._running = False
        self._update()

    def options(self) -> dict[str, Any]:
        """IngestConfig fields for the chosen kind; PulseError naming a value that does not parse."""
        label, field, parse, _hint = KINDS[self.kind_combo.currentIndex()]
        if field is None:
            return {}
        text = self.value_edit.text().strip()
        try:
            options: dict[str, Any] = {field: parse(text)}
        except ValueError as exc:
            raise PulseError(f"Keep {label}: {exc}.") from None
        column = self.column_edit.text().strip()
        if field == "retain_seconds" and column:
            options["retain_time_column"] = column
        return options

    def set_running(self, running: bool) -> None:
        self._running = running
        self._update()

    def _update(self) -> None:
        _label, field, _parse, hint = KINDS[self.kind_combo.currentIndex()]
        self.value_edit.setPlaceholderText(hint)
        self.value_edit.setVisible(field is not None)
        self.column_edit.setVisible(field == "retain_seconds")
        for widget in (self.kind_combo, self.value_edit, self.column_edit):
            widget.setEnabled(not self._running)
