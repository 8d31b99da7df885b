"""Tools ▸ Pragmas…: the open file's settings (core/pragmas.py), each with what it means, the stored ones
editable.

Values are read on the session's browse connection (a background read, never on the GUI thread); a
change is written on the session's one write connection and read back. On a read-only open nothing is
editable and the note says how to change them. The per-connection pragmas are shown apart, with the note
that they are this app's connections' own.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import pragmas
from desktop_app.core.errors import PulseError
from desktop_app.core.pragmas import PragmaValue
from desktop_app.core.session import Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.panels import follow_workspace

COLUMNS = ("Pragma", "Value", "Kept", "What it does")


class PragmasDialog(QDialog):
    loaded = Signal()  # values read (again)
    applied = Signal(object)  # list of (name, message) after Apply, errors included

    def __init__(self, workspace: Workspace, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pragmasDialog")
        self.setWindowTitle("Pragmas")
        self.resize(900, 560)
        self._session: Session | None = None
        self.values: dict[str, str] = {}
        self.editors: dict[str, QComboBox | QLineEdit] = {}
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("pragmaTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        self.note = QLabel("")
        self.note.setObjectName("pragmaNote")
        self.note.setWordWrap(True)
        self.message = QLabel("")
        self.message.setObjectName("pragmaMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.apply_button = QPushButton("Apply changes")
        self.apply_button.setObjectName("applyPragmas")
        self.apply_button.setDefault(True)  # Enter in a value applies it (it read the values again, losing the edit)
        self.apply_button.clicked.connect(lambda _checked=False: self.apply_changes())
        self.reload_button = QPushButton("Read again")
        self.reload_button.clicked.connect(lambda _checked=False: self.reload())
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        for button in (self.reload_button, self.apply_button, close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        follow_workspace(self, workspace, self.set_session, let_go=self._let_go)

    def _let_go(self) -> None:
        self._session = None  # closed (deleted): a late read or write result is not shown

    # Reading ----------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self._session = session
        self.values = {}
        self.table.setRowCount(0)
        self.editors = {}
        self.message.setText("")
        self.reload()

    def reload(self) -> None:
        session = self._session
        if session is None:
            self.note.setText("Open a database to see its pragmas.")
            self.apply_button.setEnabled(False)
            return
        self.note.setText(f"Reading the pragmas of {session.path.name}…")
        spawn(self._read(session))

    async def _read(self, session: Session) -> None:
        try:
            values = await session.browse(pragmas.read_all)
        except PulseError as error:
            if session is self._session:
                self.note.setText(f"⚠ {error}")
            return
        if session is self._session:
            self._show(session, values)

    def _show(self, session: Session, values: list[PragmaValue]) -> None:
        self.values = {item.pragma.name: item.value for item in values}
        writable = not session.read_only
        self.note.setText(
            f"Stored pragmas are kept in {session.path.name}: every program sees them. "
            + ("" if writable else "It is open read-only: reopen it read-write (File ▸ Open…) to change them. ")
            + pragmas.CONNECTION_NOTE
        )
        self.table.setRowCount(len(values))
        self.editors = {}
        previous: QWidget = self.table
        for row, item in enumerate(values):
            pragma = item.pragma
            self.table.setItem(row, 0, _cell(pragma.name))
            self.table.setItem(row, 2, _cell("in the file" if pragma.stored else "per connection"))
            self.table.setItem(row, 3, _cell(pragma.about))
            if pragma.editable:
                editor = _editor(item)
                editor.setEnabled(writable)
                editor.setToolTip(pragma.about if writable else "Read-only open: nothing here can change.")
                self.editors[pragma.name] = editor
                self.table.setCellWidget(row, 1, editor)
                QWidget.setTabOrder(previous, editor)  # Tab: the values top to bottom, then the buttons
                previous = editor
            else:
                self.table.setItem(row, 1, _cell(item.value))
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(3, 480)
        self.table.resizeRowsToContents()
        self.apply_button.setEnabled(writable)
        self.loaded.emit()

    # Changing ---------------------------------------------------------------------------------------------
    def changes(self) -> dict[str, str]:
        """The edited values that differ from those read."""
        found = {}
        for name, editor in self.editors.items():
            text = editor.currentText() if isinstance(editor, QComboBox) else editor.text()
            if text.strip().lower() != self.values.get(name, "").lower():
                found[name] = text
        return found

    def apply_changes(self) -> None:
        session, changes = self._session, self.changes()
        if session is None:
            return
        if not changes:
            self.message.setText("Nothing changed.")
            return
        spawn(self._apply(session, changes))

    async def _apply(self, session: Session, changes: dict[str, str]) -> None:
        self.apply_button.setEnabled(False)
        results: list[tuple[str, str]] = []
        for name, text in changes.items():
            try:
                said = await session.write(functools.partial(pragmas.set_value, name=name, text=text))
            except PulseError as error:
                said = f"⚠ {name}: {error}"
            results.append((name, said))
        if session is not self._session:
            return
        self.message.setText("\n".join(said for _name, said in results))
        self.applied.emit(results)
        self.reload()


def _cell(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    return item


def _editor(item: PragmaValue) -> QComboBox | QLineEdit:
    pragma = item.pragma
    if pragma.choices:
        box = QComboBox()
        box.setObjectName(f"pragma:{pragma.name}")
        box.addItems(list(pragma.choices))
        if item.value not in pragma.choices:
            box.addItem(item.value)  # a mode not offered (MEMORY, OFF...) is still shown as it is
        box.setCurrentText(item.value)
        return box
    edit = QLineEdit(item.value)
    edit.setObjectName(f"pragma:{pragma.name}")
    return edit
