"""Create Table, Modify Table and Create Index: non-modal dialogs that show the exact SQL before it runs.

Each dialog is handed the schema snapshot (and, to modify, the table as it is) and turns what the user
entered into a core `Plan` (core/structure/plan.py). The plan is made again after
each edit, on the session's browse thread (it is rehearsed on an in-memory copy of the schema, which is
not GUI work), and its SQL, what it also touches and whether it can be undone are shown. *Apply* hands
the plan to `on_apply` (the structure actions run it and close the dialog); an error is shown in the dialog,
which stays open so the definition can be corrected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import PulseError
from desktop_app.core.structure.model import COMMON_TYPES, FK_ACTIONS, STRICT_TYPES, Column, Index, Table
from desktop_app.core.structure.parse import parse_references, parse_table, references_text
from desktop_app.core.structure.plan import (
    NothingToChange,
    Plan,
    Snapshot,
    plan_create_index,
    plan_create_table,
    plan_modify,
)
from desktop_app.ui.aio import spawn
from desktop_app.ui.sql_highlighter import SqlHighlighter

if TYPE_CHECKING:
    from desktop_app.core.session import Session

GRID = ("Name", "Type", "PK", "NN", "UQ", "AI", "Default", "Check", "Collate", "References", "On delete",
        "On update", "Other")
NAME, TYPE, PK, NN, UQ, AI, DEFAULT, CHECK, COLLATE, REFERENCES, ON_DELETE, ON_UPDATE, OTHER = range(len(GRID))
FLAGS = {PK: "primary_key", NN: "not_null", UQ: "unique", AI: "autoincrement"}
TIPS = {PK: "Primary key (tick several for a composite key)", NN: "NOT NULL", UQ: "UNIQUE", AI: "AUTOINCREMENT",
        REFERENCES: "Foreign key: parent or parent(column)", OTHER: "Other constraints, as written"}
# Column widths: a tick needs little room, a name, an expression or a reference more (Other stretches).
WIDTHS = {NAME: 130, TYPE: 116, PK: 36, NN: 36, UQ: 36, AI: 36, DEFAULT: 100, CHECK: 110, COLLATE: 66,
          REFERENCES: 150, ON_DELETE: 100, ON_UPDATE: 100, OTHER: 80}
COLUMN_ROLE = Qt.ItemDataRole.UserRole  # on a row's Name item: the Column it started from (None: new)
PREVIEW_DELAY_MS = 150
ERROR_STYLE = "color: #a61b1b"


NOTES_SHOWN = 6  # a plan's notes, at most: one per index or trigger of a big table would fill the screen


def brief_notes(notes: tuple[str, ...] | list[str]) -> list[str]:
    """`notes`, the first NOTES_SHOWN of them and how many more when there are more."""
    if len(notes) <= NOTES_SHOWN + 1:
        return list(notes)
    return [*notes[:NOTES_SHOWN], f"… and {len(notes) - NOTES_SHOWN} more like these."]


class StructureDialog(QDialog):
    """What the three dialogs share: the SQL preview, the notes, the error line and Apply."""

    applied = Signal(object)  # Plan, once it ran

    def __init__(self, session: Session, snapshot: Snapshot, title: str, apply_label: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.session, self.snapshot = session, snapshot
        self.plan: Plan | None = None
        self._apply_failed = False
        self.on_apply: Callable[[StructureDialog, Plan], None] | None = None
        self._generation = 0
        self.deleted = False  # set when Qt deletes it: a job ending later leaves its widgets alone

        def deleted(*_args: object) -> None:
            self.deleted = True

        self.destroyed.connect(deleted)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.update_preview)

        self.preview = QPlainTextEdit()
        self.preview.setObjectName("structureSql")
        self.preview.setReadOnly(True)
        self.preview.setTabChangesFocus(True)  # Tab goes on to the buttons
        self.preview.setPlaceholderText("Nothing to run yet: the SQL shows here as you edit.")
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.highlighter = SqlHighlighter(self.preview.document())
        self.notes = QLabel("")
        self.notes.setObjectName("structureNotes")
        self.notes.setWordWrap(True)
        self.error = QLabel("")
        self.error.setObjectName("structureError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = self.buttons.addButton(apply_label, QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setObjectName("structureApply")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self._apply)
        self.buttons.rejected.connect(self.reject)
        self.layout_ = QVBoxLayout(self)

    def finish_layout(self) -> None:
        self.layout_.addWidget(QLabel("SQL that will run:"))
        self.layout_.addWidget(self.preview, 1)
        self.layout_.addWidget(self.notes)
        self.layout_.addWidget(self.error)
        self.layout_.addWidget(self.buttons)
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        if cancel is not None:  # Tab as they stand: Create/Apply, then Cancel
            QWidget.setTabOrder(self.apply_button, cancel)
        self.update_preview()

    def changed(self) -> None:
        self._apply_failed = False
        self.apply_button.setEnabled(False)
        self._timer.start()

    def make_plan(self) -> Plan:
        raise NotImplementedError

    def update_preview(self) -> None:
        """Make the plan again off the GUI thread; a newer edit's result wins over an older one's."""
        self._generation += 1
        spawn(self._preview(self._generation))

    async def _preview(self, generation: int) -> None:
        plan: Plan | None = None
        error = note = ""
        try:
            make = self.make_plan_maker()
            plan = await self.session.browse(lambda _connection: make())
        except NothingToChange as exc:  # not a mistake: the dialog was just opened
            note = str(exc)
        except PulseError as exc:
            error = str(exc)
        if generation != self._generation or self.deleted:
            return
        self.show_plan(plan, error)
        if note:
            self.notes.setText(note)

    def make_plan_maker(self) -> Callable[[], Plan]:
        """Read the widgets now (GUI thread) and return what makes the plan from them (any thread)."""
        raise NotImplementedError

    def show_plan(self, plan: Plan | None, error: str = "") -> None:
        self.plan = plan
        if error or not self._apply_failed:  # why Apply failed stays in view until the next edit
            self.error.setText(f"⚠ {error}" if error else "")
        self.preview.setPlainText(plan.sql if plan is not None else "")
        if plan is not None:
            self.notes.setText("\n".join((*brief_notes(plan.notes), plan.undo_text())))
        self.apply_button.setEnabled(plan is not None)

    def _apply(self) -> None:
        if self.plan is not None and self.on_apply is not None:
            self.on_apply(self, self.plan)

    def running(self) -> None:
        self.apply_button.setEnabled(False)
        self.error.setText("")

    def failed(self, error: PulseError, snapshot: Snapshot | None = None) -> None:
        """The change did not run: say why here, and stay open. With `snapshot` (the schema as it is now), the
        plan is made again from it, so Apply can be tried again after a change made elsewhere."""
        if snapshot is not None:
            self.snapshot = snapshot
            self.update_preview()
        self._apply_failed = True
        self.error.setText(f"⚠ {error}")
        self.apply_button.setEnabled(self.plan is not None)


class TableDialog(StructureDialog):
    """Create Table (`current` None) or Modify Table (`current` the table as it is now)."""

    def __init__(self, session: Session, snapshot: Snapshot, current: Table | None, parent: QWidget | None = None) -> None:
        modifying = current is not None
        super().__init__(session, snapshot, f"Modify Table {current.name}" if current else "Create Table",
                         "Apply" if modifying else "Create", parent)
        self.setObjectName("modifyTableDialog" if modifying else "createTableDialog")
        self.current = current
        self.name_edit = QLineEdit(current.name if current else "")
        self.name_edit.setObjectName("tableName")
        self.name_edit.setPlaceholderText("table name")
        self.strict_box = QCheckBox("STRICT")
        self.strict_box.setToolTip("Values must match the column types (INT, INTEGER, REAL, TEXT, BLOB, ANY)")
        self.without_rowid_box = QCheckBox("WITHOUT ROWID")
        self.without_rowid_box.setToolTip("Store rows by primary key (needs one)")
        self.strict_box.setChecked(bool(current and current.strict))
        self.without_rowid_box.setChecked(bool(current and current.without_rowid))
        self.constraints = current.constraints if current else ()
        self.key_order = current.key_order if current else ()

        self.grid = QTableWidget(0, len(GRID))
        self.grid.setObjectName("columnsGrid")
        self.grid.setHorizontalHeaderLabels(list(GRID))
        for index, tip in TIPS.items():
            header = self.grid.horizontalHeaderItem(index)
            if header is not None:
                header.setToolTip(tip)
        self.grid.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        sections = self.grid.horizontalHeader()
        sections.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        sections.setStretchLastSection(True)
        for index, width in WIDTHS.items():  # every column in view at the default size, References included
            self.grid.setColumnWidth(index, width)
        for column in current.columns if current else (Column("id", "INTEGER", primary_key=True, source=""),):
            self.add_row(column if current else None, template=column)
        self.grid.itemChanged.connect(lambda _item: self.changed())
        self.grid.itemChanged.connect(self._follow_reference)
        self.name_edit.textChanged.connect(lambda _text: self.changed())
        self.strict_box.toggled.connect(lambda _on: self.changed())
        self.without_rowid_box.toggled.connect(lambda _on: self.changed())

        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        options = QHBoxLayout()
        options.addWidget(self.strict_box)
        options.addWidget(self.without_rowid_box)
        options.addStretch(1)
        form.addRow("Options", options)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.grid, 2)
        row = QHBoxLayout()
        for text, name, slot in (("Add column", "addColumn", lambda: self.add_row(None)),
                                 ("Remove", "removeColumn", self.remove_row),
                                 ("Move up", "moveUp", lambda: self.move_row(-1)),
                                 ("Move down", "moveDown", lambda: self.move_row(1))):
            button = QPushButton(text)
            button.setObjectName(name)
            button.clicked.connect(lambda _checked=False, s=slot: s())
            row.addWidget(button)
        row.addStretch(1)
        self.layout_.addLayout(row)
        if self.constraints:
            kept = QLabel("Table constraints kept as written: " + "; ".join(self.constraints))
            kept.setObjectName("keptConstraints")
            kept.setWordWrap(True)  # a long CHECK widened the dialog past the screen
            kept.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.layout_.addWidget(kept)
        self.resize(1180, 640)
        self.finish_layout()

    # The grid ---------------------------------------------------------------------------------------------
    def add_row(self, original: Column | None, *, template: Column | None = None) -> int:
        """A row for `original` (an existing column) or a new column (shaped like `template`, if given)."""
        column = original or template or Column(f"column{self.grid.rowCount() + 1}", "TEXT")
        row = self.grid.rowCount()
        self.grid.blockSignals(True)
        self.grid.insertRow(row)
        name = QTableWidgetItem(column.name)
        name.setData(COLUMN_ROLE, original)
        if column.generated:  # kept as it is: shown, not edited here
            name.setToolTip(f"Generated: {column.generated}")
        self.grid.setItem(row, NAME, name)
        for index, text in ((DEFAULT, column.default), (CHECK, column.check), (COLLATE, column.collate),
                            (REFERENCES, references_text(column.references)), (OTHER, column.extra)):
            self.grid.setItem(row, index, QTableWidgetItem(text))
        for index, field in FLAGS.items():
            item = QTableWidgetItem()
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            item.setCheckState(Qt.CheckState.Checked if getattr(column, field) else Qt.CheckState.Unchecked)
            item.setToolTip(TIPS[index])
            self.grid.setItem(row, index, item)
        self.grid.setCellWidget(row, TYPE, self._combo((*COMMON_TYPES, *STRICT_TYPES), column.type, editable=True))
        references = column.references
        self.grid.setCellWidget(row, ON_DELETE, self._combo(FK_ACTIONS, references.on_delete if references else ""))
        self.grid.setCellWidget(row, ON_UPDATE, self._combo(FK_ACTIONS, references.on_update if references else ""))
        self._enable_actions(row)
        self.grid.blockSignals(False)
        self.changed()
        return row

    def _follow_reference(self, item: QTableWidgetItem) -> None:
        if item.column() == REFERENCES:
            self._enable_actions(item.row())

    def _enable_actions(self, row: int) -> None:
        """On delete and On update are choices only for a column that references another table."""
        referring = bool(self._text(row, REFERENCES))
        for index in (ON_DELETE, ON_UPDATE):
            widget = self.grid.cellWidget(row, index)
            if widget is not None:
                widget.setEnabled(referring)
                widget.setToolTip("" if referring else "Set References first: these apply to a foreign key")

    def _combo(self, choices: tuple[str, ...], value: str, *, editable: bool = False) -> QComboBox:
        combo = QComboBox()
        combo.setEditable(editable)
        combo.addItems(list(dict.fromkeys(choices)))
        combo.setCurrentText(value)
        combo.currentTextChanged.connect(lambda _text: self.changed())
        return combo

    def remove_row(self) -> None:
        row = self.grid.currentRow()
        if row >= 0:
            self.grid.removeRow(row)
            self.changed()

    def move_row(self, step: int) -> None:
        """Move the current row up (-1) or down (1): the row is rebuilt from its column where it lands."""
        row = self.grid.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < self.grid.rowCount():
            return
        try:
            columns = self.columns()
        except PulseError as error:  # a reference being typed: the grid stays as it is until it reads
            self.error.setText(f"⚠ {error}")
            return
        originals = [self._original(r) for r in range(self.grid.rowCount())]
        columns[row], columns[target] = columns[target], columns[row]
        originals[row], originals[target] = originals[target], originals[row]
        self.grid.setRowCount(0)
        for column, original in zip(columns, originals, strict=True):
            index = self.add_row(None, template=column)
            name_item = self.grid.item(index, NAME)
            if name_item is not None:
                name_item.setData(COLUMN_ROLE, original)
        self.grid.setCurrentCell(target, NAME)

    def _original(self, row: int) -> Column | None:
        item = self.grid.item(row, NAME)
        value = item.data(COLUMN_ROLE) if item is not None else None
        return value if isinstance(value, Column) else None

    def _text(self, row: int, index: int) -> str:
        item = self.grid.item(row, index)
        return item.text().strip() if item is not None else ""

    def _combo_text(self, row: int, index: int) -> str:
        widget = self.grid.cellWidget(row, index)
        return widget.currentText().strip() if isinstance(widget, QComboBox) else ""

    def _checked(self, row: int, index: int) -> bool:
        item = self.grid.item(row, index)
        return item is not None and item.checkState() == Qt.CheckState.Checked

    def columns(self) -> list[Column]:
        """The columns as the grid has them; PulseError when a reference cannot be read."""
        found = []
        for row in range(self.grid.rowCount()):
            original = self._original(row)
            references = parse_references(self._text(row, REFERENCES))
            if references is not None:
                references = replace(references, on_delete=self._combo_text(row, ON_DELETE),
                                     on_update=self._combo_text(row, ON_UPDATE))
            found.append(Column(
                self._text(row, NAME), self._combo_text(row, TYPE),
                primary_key=self._checked(row, PK), autoincrement=self._checked(row, AI),
                not_null=self._checked(row, NN), unique=self._checked(row, UQ), default=self._text(row, DEFAULT), check=self._text(row, CHECK), collate=self._text(row, COLLATE),
                references=references, generated=original.generated if original else "",
                extra=self._text(row, OTHER), source=original.source if original else "",
            ))
        return found

    def table(self) -> Table:
        columns = self.columns()
        renames = {c.source.lower(): c.name for c in columns if c.source}  # a composite key's order follows
        return Table(self.name_edit.text().strip(), tuple(columns), self.constraints,
                     strict=self.strict_box.isChecked(), without_rowid=self.without_rowid_box.isChecked(),
                     key_order=tuple(renames.get(name.lower(), name) for name in self.key_order))

    def show_plan(self, plan: Plan | None, error: str = "") -> None:
        """A new table's missing name, before one was typed, is where to start, not a mistake: said plainly."""
        untouched = self.current is None and not self.name_edit.text().strip() and not self.name_edit.isModified()
        if plan is None and error and untouched:
            super().show_plan(None, "")
            self.notes.setText("Name the table and define its columns: the SQL that will run shows as you type.")
            return
        super().show_plan(plan, error)

    def make_plan_maker(self) -> Callable[[], Plan]:
        wanted, snapshot, current = self.table(), self.snapshot, self.current
        if current is None:
            return lambda: plan_create_table(snapshot, wanted)
        return lambda: plan_modify(snapshot, current, wanted)


class IndexDialog(StructureDialog):
    """Create Index: a table, its columns ticked (in table order) and/or an expression, UNIQUE, WHERE."""

    def __init__(self, session: Session, snapshot: Snapshot, table: str | None, parent: QWidget | None = None) -> None:
        super().__init__(session, snapshot, "Create Index", "Create", parent)
        self.setObjectName("createIndexDialog")
        self.table_box = QComboBox()
        self.table_box.setObjectName("indexTable")
        self.table_box.addItems([o.name for o in snapshot.objects if o.type == "table" and o.sql
                                 and not o.name.lower().startswith("sqlite_") and not o.sql.upper().startswith("CREATE VIRTUAL")])
        if table:
            self.table_box.setCurrentText(table)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("indexName")
        self.unique_box = QCheckBox("UNIQUE")
        self.column_list = QListWidget()
        self.column_list.setObjectName("indexColumns")
        self.expression_edit = QLineEdit()
        self.expression_edit.setPlaceholderText("an expression to index as well, e.g. lower(name)")
        self.where_edit = QLineEdit()
        self.where_edit.setPlaceholderText("a partial index's condition, e.g. deleted_at IS NULL")
        form = QFormLayout()
        form.addRow("Table", self.table_box)
        form.addRow("Name", self.name_edit)
        form.addRow("", self.unique_box)
        form.addRow("Columns", self.column_list)
        form.addRow("Expression", self.expression_edit)
        form.addRow("WHERE", self.where_edit)
        self.layout_.addLayout(form)
        self._fill_columns()
        self.table_box.currentTextChanged.connect(lambda _t: self._fill_columns())
        self.column_list.itemChanged.connect(lambda _item: self._suggest_name())
        for edit in (self.name_edit, self.expression_edit, self.where_edit):
            edit.textChanged.connect(lambda _t: self.changed())
        self.unique_box.toggled.connect(lambda _on: self.changed())
        self.resize(560, 560)
        self.finish_layout()

    def table_columns(self) -> tuple[str, ...]:
        found = self.snapshot.find(self.table_box.currentText(), ("table",))
        if found is None or not found.sql:
            return ()
        try:
            return tuple(c.name for c in parse_table(found.sql).columns)
        except PulseError:
            return ()

    def _fill_columns(self) -> None:
        self.column_list.blockSignals(True)
        self.column_list.clear()
        for name in self.table_columns():
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.column_list.addItem(item)
        self.column_list.blockSignals(False)
        self._suggest_name()

    def checked_columns(self) -> list[str]:
        items = (self.column_list.item(i) for i in range(self.column_list.count()))
        return [item.text() for item in items if item is not None and item.checkState() == Qt.CheckState.Checked]

    def _suggest_name(self) -> None:
        """idx_<table>_<columns> until the user types a name of their own."""
        suggested = "_".join(("idx", self.table_box.currentText(), *self.checked_columns()))
        if not self.name_edit.isModified():
            self.name_edit.setText(suggested)
        self.changed()

    def show_plan(self, plan: Plan | None, error: str = "") -> None:
        """Nothing ticked yet is where to start, not a mistake: said plainly, not in red."""
        if plan is None and error and not self.checked_columns() and not self.expression_edit.text().strip():
            super().show_plan(None, "")
            self.notes.setText("Tick the columns to index (they go in table order), or type an expression: the SQL shows as you go.")
            return
        super().show_plan(plan, error)

    def make_plan_maker(self) -> Callable[[], Plan]:
        parts = (*self.checked_columns(), *([self.expression_edit.text().strip()] if self.expression_edit.text().strip() else []))
        index = Index(self.name_edit.text().strip(), self.table_box.currentText(), tuple(parts),
                      unique=self.unique_box.isChecked(), where=self.where_edit.text().strip())
        snapshot, columns = self.snapshot, self.table_columns()
        return lambda: plan_create_index(snapshot, index, columns)
