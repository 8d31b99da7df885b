"""The Ingest panel's "Handshake…" area: a subscribe message, request headers and subprotocols for a feed
that needs them (core/ingest/handshake.py says what the specs mean).

A header's value is typed once and then shown masked: the list shows names only. `${NAME}` (the window's
environment, which the ingest child inherits) and `@/path` (a file) keep a secret out of the app's memory
until the child connects. Headers are never saved in settings; the subscribe text and subprotocols are.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.handshake import Header, check_header, check_subprotocol

MASK = "••••••"


class HandshakeBox(QWidget):
    failed = Signal(object)  # PulseError: a header that cannot be added (its text names no value)

    def __init__(self, subscribe: str = "", subprotocols: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._headers: list[Header] = []  # (name, value spec): the values live here only, never in a widget
        self.toggle_button = QPushButton("Handshake…")
        self.toggle_button.setObjectName("handshakeToggle")
        self.toggle_button.setCheckable(True)
        self.toggle_button.setToolTip("A subscribe message, headers (a token) or a subprotocol the feed needs")
        self.subscribe_edit = QLineEdit(subscribe)
        self.subscribe_edit.setObjectName("subscribeMessage")
        self.subscribe_edit.setPlaceholderText('sent after every connect: {"op": "subscribe"} or @/path/to/file')
        self.subscribe_edit.setToolTip("Saved in the settings: put a message holding a secret in a file (@FILE)")
        self.header_name_edit = QLineEdit()
        self.header_name_edit.setObjectName("headerName")
        self.header_name_edit.setPlaceholderText("Authorization")
        self.header_value_edit = QLineEdit()
        self.header_value_edit.setObjectName("headerValue")
        self.header_value_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)  # masked once entered
        self.header_value_edit.setPlaceholderText("Bearer ${TOKEN}  or  @/path/to/token")
        self.add_header_button = QPushButton("Add")
        self.remove_header_button = QPushButton("Remove")
        self.header_list = QListWidget()
        self.header_list.setObjectName("headerList")
        self.header_list.setMaximumHeight(80)
        self.subprotocol_edit = QLineEdit(subprotocols)
        self.subprotocol_edit.setObjectName("subprotocols")
        self.subprotocol_edit.setPlaceholderText("offered in this order, comma separated")

        self.area = QWidget()
        form = QFormLayout(self.area)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Subscribe", self.subscribe_edit)
        adding = QHBoxLayout()
        adding.addWidget(self.header_name_edit, 1)
        adding.addWidget(self.header_value_edit, 2)
        adding.addWidget(self.add_header_button)
        form.addRow("Header", adding)
        listed = QHBoxLayout()
        listed.addWidget(self.header_list, 1)
        listed.addWidget(self.remove_header_button)
        form.addRow("", listed)
        form.addRow("Subprotocol", self.subprotocol_edit)
        self.area.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.toggle_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addWidget(self.area)

        self.toggle_button.toggled.connect(self.area.setVisible)
        self.add_header_button.clicked.connect(self.add_header_from_fields)
        self.header_value_edit.returnPressed.connect(self.add_header_from_fields)
        self.remove_header_button.clicked.connect(self.remove_selected_header)

    # -- what the ingest gets ---------------------------------------------------------------------------------

    def subscribe(self) -> str | None:
        return self.subscribe_edit.text().strip() or None

    def headers(self) -> tuple[Header, ...]:
        return tuple(self._headers)

    def subprotocols(self) -> tuple[str, ...]:
        names = tuple(name.strip() for name in self.subprotocol_edit.text().split(",") if name.strip())
        for name in names:
            check_subprotocol(name)
        return names

    # -- editing ----------------------------------------------------------------------------------------------

    def add_header(self, name: str, spec: str) -> None:
        """Add (or replace, by name) a header; IngestError when it is not valid."""
        name, spec = name.strip(), spec.strip()
        check_header(name, spec)
        self._headers = [header for header in self._headers if header[0].lower() != name.lower()]
        self._headers.append((name, spec))
        self._show_headers()

    def add_header_from_fields(self) -> None:
        try:
            self.add_header(self.header_name_edit.text(), self.header_value_edit.text())
        except PulseError as exc:
            self.failed.emit(exc)
            return
        self.header_name_edit.clear()
        self.header_value_edit.clear()

    def remove_selected_header(self) -> None:
        row = self.header_list.currentRow()
        if 0 <= row < len(self._headers):
            del self._headers[row]
            self._show_headers()

    def set_running(self, running: bool) -> None:
        for control in (self.subscribe_edit, self.header_name_edit, self.header_value_edit, self.add_header_button,
                        self.remove_header_button, self.header_list, self.subprotocol_edit):
            control.setEnabled(not running)

    def _show_headers(self) -> None:
        self.header_list.clear()
        for name, _spec in self._headers:
            self.header_list.addItem(QListWidgetItem(f"{name}: {MASK}"))
        self.toggle_button.setText(f"Handshake… ({len(self._headers)} header{'s' if len(self._headers) != 1 else ''})"
                                   if self._headers else "Handshake…")
