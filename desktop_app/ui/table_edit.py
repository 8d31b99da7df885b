"""Changing a table from the data grid, only on purpose: *Allow edits*, then edit a cell, add or delete rows,
undo (Ctrl+Z).

Each committed change goes on the open database's one undo history (`session.undo_history`, core/undo.py),
the one the Structure menu's changes go on too: Ctrl+Z in the grid, its Undo button and Edit ▸ Undo all undo
the last of either, whichever table it touched (rows are addressed by key; the grid reloads when it shows the
table). Undoing an edit is a change to rows, so it needs Allow edits ticked, like the edit did.

With the box off (the default on every open), on a database opened read-only, or on a view or virtual table,
nothing is editable and the box's tooltip says why. Each change is one transaction on the session's write
connection (`Session.write`, core/edit.py), addressed by the row's key (`TableModel.row_key`). A change
SQLite refuses (a constraint) is shown under the grid in plain words and the cell keeps the text the user
typed, marked, so it can be corrected; `Discard` drops it. The grid is refreshed after each change (the
app's own commits do not fire `data_changed`).

The model asks this object (`TableModel.editor`) for flags, the edit text, overlays and setData.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from desktop_app.core import edit
from desktop_app.core.edit import Change
from desktop_app.core.errors import PulseError
from desktop_app.core.undo import UndoEntry, UndoFailed, UndoHistory
from desktop_app.ui.aio import spawn

if TYPE_CHECKING:
    from collections.abc import Callable

    import apsw
    from PySide6.QtCore import SignalInstance
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QTableView

    from desktop_app.core.events import Emitter
    from desktop_app.core.keyset import Relation
    from desktop_app.core.session import Session
    from desktop_app.ui.models.table_model import TableModel


class EditableTable(Protocol):
    """What the editor needs of the data view (which is one), so this module does not import it."""

    @property
    def view(self) -> QTableView: ...  # read-only here: the data view's may be a QTableView subclass

    table_opened: SignalInstance
    model: TableModel | None

    @property
    def session(self) -> Session | None: ...

    def addAction(self, action: QAction) -> None: ...  # noqa: N802 (Qt's name)

def _relation(model: TableModel) -> Relation:
    """The relation of a table being edited: `editable` and `_allowed()` hold only once it is known."""
    assert model.relation is not None
    return model.relation


ModelIndex = QModelIndex | QPersistentModelIndex  # what Qt hands a model's data() and flags()
FAILED_BACKGROUND = QColor("#fdecea")
PENDING_BACKGROUND = QColor("#fff4ce")


class TableEditor(QObject):
    changed = Signal(object)  # Change, once committed
    undone = Signal(object)  # UndoEntry, once undone (from the grid or Edit ▸ Undo; an edit or a structure change)
    failed = Signal(object)  # PulseError

    def __init__(self, data_view: EditableTable) -> None:
        super().__init__(data_view)  # type: ignore[arg-type]  # the data view is a QObject
        self.data_view = data_view
        self._history: UndoHistory | None = None  # the open database's, followed for the Undo button
        self._following = Subscriptions(self)
        self.pending: dict[tuple, str] = {}  # (key, column) -> the text being written, or kept after a failure
        self.errors: dict[tuple, str] = {}  # (key, column) -> why it failed
        self.writing = 0

        self.allow_box = QCheckBox("Allow edits")
        self.allow_box.setObjectName("allowEdits")
        self.allow_box.toggled.connect(self._on_allow)
        self.add_button = self._button("Add row", "addRow", "Insert a row (defaults; NOT NULL columns get 0 or '')", self.add_row)
        self.delete_button = self._button("Delete rows", "deleteRows", "Delete the selected rows (Ctrl+Z undoes)", self.delete_selected)
        self.undo_button = self._button("Undo", "undoEdit", "Undo the last change (Ctrl+Z)", self.undo)
        self.discard_button = self._button("Discard", "discardEdit", "Drop the text of the edit that failed", self.discard)
        self.message = QLabel("")
        self.message.setObjectName("editMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QWidget()
        self.bar.setObjectName("editBar")
        row = QHBoxLayout(self.bar)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.allow_box, self.add_button, self.delete_button, self.undo_button):
            row.addWidget(widget)
        row.addWidget(self.message, 1)
        row.addWidget(self.discard_button)

        view = data_view.view
        # Ctrl+Z in the grid arrives as a key press (see eventFilter), not as a second shortcut that would
        # make the window's Edit ▸ Undo ambiguous.
        self.undo_action = QAction("Undo last change\tCtrl+Z", view)
        self.undo_action.triggered.connect(lambda _checked=False: self.undo())
        data_view.addAction(self.undo_action)
        self.null_action = QAction("Set to NULL", view)
        self.null_action.triggered.connect(lambda _checked=False: self.set_current_null())
        self.delete_action = QAction("Delete selected rows", view)
        self.delete_action.triggered.connect(lambda _checked=False: self.delete_selected())
        data_view.table_opened.connect(self._on_table_opened)
        view.installEventFilter(self)
        self._update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        # Ctrl+Z with the grid focused: this grid's undo (same history as Edit ▸ Undo, its messages shown here).
        if (
            event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and isinstance(event, QKeyEvent)
            and event.matches(QKeySequence.StandardKey.Undo)
            and self.data_view.session is not None
        ):
            event.accept()
            if event.type() == QEvent.Type.KeyPress:
                self.undo()
            return True
        # F2 on a grid that cannot be edited: say why instead of doing nothing.
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_F2
            and self.model is not None
            and not self.editable
        ):
            self._say(self.reason())
        return False

    def _button(self, text: str, name: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # State ------------------------------------------------------------------------------------------------
    @property
    def model(self) -> TableModel | None:
        return self.data_view.model

    def reason(self) -> str:
        """Why the grid cannot be edited now ("" when it can)."""
        model = self.model
        if model is None:
            return "Open a table to edit it."
        if model.session.read_only:
            return f"{model.session.path.name} is open read-only: reopen it read-write (File ▸ Open…) to edit it."
        if model.relation is None:
            return "The table is still loading."
        why = edit.not_editable_reason(model.relation)
        if why:
            return why
        if not self.allow_box.isChecked():
            return "Editing is off: tick Allow edits to change this table (each change is one transaction; Ctrl+Z undoes)."
        return ""

    @property
    def editable(self) -> bool:
        return not self.reason()

    def history(self) -> UndoHistory | None:
        """The open database's undo history (edits and structure changes), followed for its changes."""
        session = self.data_view.session
        history = session.undo_history if session is not None and not session.read_only else None
        if history is not self._history:
            self._following.clear()
            self._history = history
            if history is not None:
                history.edits_allowed = self.allow_box.isChecked()
                self._following.connect(history.events.changed, self._on_history)
                self._following.connect(history.events.undone, self._on_undone)
        return history

    def _on_history(self, _history: UndoHistory) -> None:
        self._update()

    def extra_actions(self) -> list[QAction]:
        on = self.editable
        for action in (self.null_action, self.delete_action):
            action.setEnabled(on)
        history = self.history()
        self.undo_action.setEnabled(history is not None and not history.refusal())
        return [self.null_action, self.delete_action, self.undo_action]

    def _on_table_opened(self, _name: str) -> None:
        model = self.model
        if model is not None:
            model.editor = self
            model.page_loaded.connect(lambda _n: self._update())  # the relation is known with the first page
        self.pending.clear()
        self.errors.clear()
        self.allow_box.setChecked(False)
        self.message.setText("")
        self._update()

    def _on_allow(self, on: bool) -> None:
        history = self.history()
        if history is not None:
            history.edits_allowed = on
        self._update()
        view = self.data_view.view
        view.viewport().update()

    def _update(self) -> None:
        model = self.model
        blocked = ""
        if model is None:
            blocked = "Open a table to edit it."
        elif model.session.read_only or (model.relation is not None and edit.not_editable_reason(model.relation)):
            blocked = self.reason()
        self.allow_box.setEnabled(not blocked)
        self.allow_box.setToolTip(blocked or "Let this grid change the table: edit cells, add and delete rows")
        why = self.reason()
        for button in (self.add_button, self.delete_button):
            button.setEnabled(not why and not self.writing)
            if why:
                button.setToolTip(why)
        self.add_button.setToolTip(why or "Insert a row (defaults; NOT NULL columns get 0 or '')")
        self.delete_button.setToolTip(why or "Delete the selected rows (Ctrl+Z undoes)")
        history = self.history()
        refusal = history.refusal() if history is not None else "Nothing to undo."
        self.undo_button.setEnabled(not refusal and not self.writing)
        self.undo_button.setToolTip(refusal if history is None or not len(history) else
                                    f"{history.text()} (Ctrl+Z)" + (f": {refusal}" if refusal else ""))
        self.discard_button.setVisible(bool(self.errors))

    # The model's questions --------------------------------------------------------------------------------
    def key_of(self, model: TableModel, row: int) -> tuple | None:
        return model.row_key(row)

    def flags(self, model: TableModel, index: ModelIndex, base: Qt.ItemFlag) -> Qt.ItemFlag:
        if self.editable and not isinstance(model.value(index.row(), index.column()), bytes):
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, model: TableModel, index: ModelIndex, role: int) -> Any:
        """An overlay for the cell (None: the model's own answer)."""
        if role == Qt.ItemDataRole.EditRole:
            cell = self._cell(model, index)
            if cell in self.pending:
                return self.pending[cell]
            return edit.edit_text(model.value(index.row(), index.column()))
        if not self.pending or role not in (
            Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole
        ):
            return None
        cell = self._cell(model, index)
        if cell not in self.pending:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.pending[cell]
        if role == Qt.ItemDataRole.BackgroundRole:
            return FAILED_BACKGROUND if cell in self.errors else PENDING_BACKGROUND
        return f"Not saved: {self.errors[cell]}" if cell in self.errors else "Saving…"

    def _cell(self, model: TableModel, index: ModelIndex) -> tuple | None:
        key = self.key_of(model, index.row())
        return None if key is None else (key, model.columns[index.column()])

    def set_data(self, model: TableModel, index: ModelIndex, value: object, role: int) -> bool:
        if role != Qt.ItemDataRole.EditRole or not self.editable or not index.isValid():
            return False
        key = self.key_of(model, index.row())
        if key is None:
            return False
        column = model.columns[index.column()]
        old = model.value(index.row(), index.column())
        text = str(value)
        cell = (key, column)
        if text == edit.edit_text(old) and cell not in self.errors:
            return False  # unchanged: nothing to write
        new = edit.value_from_text(text, old)
        self.pending[cell] = text
        self.errors.pop(cell, None)
        relation = _relation(model)
        self._write(
            model,
            lambda connection: edit.update_cell(connection, relation, key, column, old, new),
            cell=cell,
        )
        model.dataChanged.emit(index, index)
        return True

    # Actions ----------------------------------------------------------------------------------------------
    def set_current_null(self) -> None:
        model, index = self.model, self.data_view.view.currentIndex()
        if model is None or not index.isValid() or not self.editable:
            return
        key = self.key_of(model, index.row())
        if key is None:
            return
        column, old, relation = model.columns[index.column()], model.value(index.row(), index.column()), _relation(model)
        self._write(model, lambda connection: edit.update_cell(connection, relation, key, column, old, None))

    def replace_value(self, key: tuple, column: str, old: object, new: object) -> None:
        """Set `column` of the row `key` from `old` to `new` (a file's bytes, say): one undoable change."""
        model = self.model
        if model is None or not self._allowed():
            return
        relation = _relation(model)
        self._write(model, lambda connection: edit.update_cell(connection, relation, key, column, old, new))

    def add_row(self) -> None:
        model = self.model
        if model is None or not self._allowed():
            return
        relation = _relation(model)
        self._write(model, lambda connection: edit.insert_row(connection, relation), then_last=True)

    def delete_selected(self) -> None:
        model = self.model
        if model is None or not self._allowed():
            return
        rows = sorted({index.row() for index in self.data_view.view.selectionModel().selectedIndexes()})
        if not rows and self.data_view.view.currentIndex().isValid():
            rows = [self.data_view.view.currentIndex().row()]
        keys = [key for key in (self.key_of(model, row) for row in rows) if key is not None]
        if not keys:
            self._say("Select the rows to delete first.")
            return
        relation = _relation(model)
        self._write(model, lambda connection: edit.delete_rows(connection, relation, keys))

    def undo(self) -> None:
        """Undo the open database's last change (an edit of any table, or a structure change)."""
        session = self.data_view.session
        if session is not None and session.read_only:
            self._say(f"{session.path.name} is open read-only: there is nothing to undo.")
            return
        history = self.history()
        why = history.refusal() if history is not None else "Nothing to undo."
        if history is None or why:
            self._say(why)
            return
        spawn(self._undo(history))

    async def _undo(self, history: UndoHistory) -> None:
        try:
            await history.undo()  # success: `_on_undone` says so and reloads
        except PulseError as error:
            if history is self._history:
                self._say(f"⚠ {error}", error=True)
                if isinstance(error, UndoFailed) and isinstance(error.__cause__, edit.EditConflict) and self.model is not None:
                    self.model.refresh()
                self.failed.emit(error)

    def _on_undone(self, entry: UndoEntry) -> None:
        """An entry of this database was undone (here or from Edit ▸ Undo): show it if it touched this table (a
        structure change's undo re-reads the schema, and a table whose columns changed is opened afresh by the
        schema panel)."""
        self._say(f"Undone: {entry.title}.")
        model = self.model
        if model is not None and not entry.schema and entry.table == model.table:
            model.refresh()
        self.undone.emit(entry)

    def discard(self) -> None:
        """Drop the text of failed edits: the cells show what the table holds."""
        for cell in list(self.errors):
            self.pending.pop(cell, None)
        self.errors.clear()
        self.message.setText("")
        if self.model is not None:
            _repaint(self.model)
        self._update()

    def _allowed(self) -> bool:
        why = self.reason()
        if why:
            self._say(why)
        return not why

    # Writing ----------------------------------------------------------------------------------------------
    def _write(self, model: TableModel, work: Callable[[apsw.Connection], Change], *, cell: tuple | None = None, then_last: bool = False) -> None:
        self.writing += 1
        self._update()
        spawn(self._run(model, work, cell, then_last))

    async def _run(self, model: TableModel, work: Callable[[apsw.Connection], Change], cell: tuple | None, then_last: bool) -> None:
        relation, history = _relation(model), model.session.undo_history
        history.begin_saving()
        try:
            result = await model.session.write(work)
        except PulseError as error:
            if model is self.model:
                self._failed(model, error, cell)
            return
        finally:
            self.writing -= 1
            history.end_saving()
        if not model.session.closed:  # committed: undoable from the database's history, whatever is shown now
            history.push(UndoEntry(
                title_of(result),
                lambda connection: edit.undo(connection, relation, result),
                kind="edit",
                table=result.table,
            ))
        self._update()
        if model is self.model:
            self._succeeded(model, result, cell, then_last)

    def _failed(self, model: TableModel, error: PulseError, cell: tuple | None) -> None:
        if cell is not None:
            self.errors[cell] = str(error)  # the cell keeps the user's text, marked, for correction
        hint = " Edit the cell again to correct it, or Discard." if cell is not None else ""
        self._say(f"⚠ {error}{hint}", error=True)
        if isinstance(error, edit.EditConflict):
            model.refresh()
        self.failed.emit(error)
        self._update()
        _repaint(model)

    def _succeeded(self, model: TableModel, result: Change, cell: tuple | None, then_last: bool) -> None:
        if cell is not None:
            self.pending.pop(cell, None)
        self._say(f"Saved: {result.describe()} (Ctrl+Z undoes).")
        self.changed.emit(result)
        if then_last and model.spec is not None and model.spec.sort is None and not model.spec.conditions:
            model.last_page()  # a new row has the highest key: show it
        else:
            model.refresh()
        self._update()

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #a61b1b" if error else "")


class Subscriptions:
    """Callbacks on core events (a session's), dropped when `owner` goes: a session can outlive a widget."""

    def __init__(self, owner: QObject) -> None:
        self._connected: list[tuple[Emitter, Callable[..., object]]] = []
        owner.destroyed.connect(lambda *_args: self.clear())

    def connect(self, emitter: Emitter, callback: Callable[..., object]) -> None:
        emitter.connect(callback)
        self._connected.append((emitter, callback))

    def clear(self) -> None:
        for emitter, callback in self._connected:
            emitter.disconnect(callback)
        self._connected.clear()


def title_of(change: Change) -> str:
    """An undo entry's title: "Edit Album row 3 Title", "Add row 7 to Album", "Delete 2 rows from Album"."""
    def key(values: tuple) -> str:
        return str(values[0]) if len(values) == 1 else "(" + ", ".join(map(str, values)) + ")"

    if change.kind == "update":
        return f"Edit {change.table} row {key(change.keys[0])} {change.column}"
    if change.kind == "insert":
        return f"Add row {key(change.keys[0])} to {change.table}"
    if len(change.keys) == 1:
        return f"Delete row {key(change.keys[0])} from {change.table}"
    return f"Delete {len(change.keys):,} rows from {change.table}"


def _repaint(model: TableModel) -> None:
    """The overlays changed: every shown cell asks again (no reset, so selection and scroll stay)."""
    rows, columns = model.rowCount(), model.columnCount()
    if rows and columns:
        model.dataChanged.emit(model.index(0, 0), model.index(rows - 1, columns - 1))
