"""The Structure menu and the schema tree's structure entries: create, modify, rename, drop, and undo.

Everything reads the schema on the session's browse thread and writes through `core.structure.apply.change`
(the session's one write connection), awaited in coroutines on the qasync loop; no dialog runs `exec()`.
A change that cannot be undone (a table rebuild, dropping a table with rows) is confirmed first, and the
confirmation says so. A change that can be undone goes on the open database's one undo history
(`session.undo_history`, core/undo.py), with the grid's edits: Structure ▸ Undo, like Edit ▸ Undo and the
grid's Ctrl+Z, undoes the last of either. On a read-only open every entry is disabled and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from desktop_app.core.errors import PulseError
from desktop_app.core.query import SchemaObject
from desktop_app.core.structure.apply import apply, change
from desktop_app.core.structure.parse import read_table
from desktop_app.core.structure.plan import Plan, Snapshot, plan_drop_now, plan_rename_table, snapshot
from desktop_app.core.undo import UndoEntry, UndoHistory
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.structure_dialogs import IndexDialog, StructureDialog, TableDialog, brief_notes
from desktop_app.ui.table_edit import Subscriptions

if TYPE_CHECKING:
    import apsw

    from desktop_app.core.session import Session


CONFIRM_SQL_LINES = 16  # a confirmation's SQL, at most: the box stays on a 768-px screen

class StructureActions(QObject):
    message = Signal(str)  # what happened, for the status bar
    changed = Signal(object)  # Plan, once it ran
    undone = Signal(object)  # UndoEntry, once undone from here (or Edit ▸ Undo)
    failed = Signal(object)  # PulseError

    def __init__(self, parent: QWidget, dialogs: Dialogs | ScriptedDialogs | None = None) -> None:
        super().__init__(parent)
        self.parent_widget = parent
        self.dialogs: Dialogs | ScriptedDialogs = dialogs if dialogs is not None else Dialogs(parent)
        self.session: Session | None = None
        self.history: UndoHistory | None = None  # the open database's (edits and structure changes)
        self._following = Subscriptions(self)
        self.dialog: StructureDialog | None = None  # the open Create/Modify dialog
        self.rename_dialog: QInputDialog | None = None
        self.selected: Callable[[], SchemaObject | None] = lambda: None  # the schema tree's current object

        self.create_table_action = self._action("Create &Table…", "Define a new table's columns, keys and options",
                                                lambda: self.create_table())
        self.create_index_action = self._action("Create &Index…", "Index columns or expressions of a table",
                                                lambda: self.create_index(self._selected_table()))
        self.modify_action = self._action("&Modify Table…", "Change the selected table's columns and constraints",
                                          lambda: self._on_selected(self.modify_table))
        self.rename_action = self._action("&Rename Table…", "Rename the selected table",
                                          lambda: self._on_selected(self.rename))
        self.drop_action = self._action("&Drop…", "Drop the selected table, view, index or trigger",
                                        lambda: self._on_selected(self.drop))
        self.undo_action = self._action("&Undo", "Nothing to undo", lambda: self.undo())
        self.menu = QMenu("&Structure", parent)
        self.menu.setObjectName("structureMenu")
        self.menu.setToolTipsVisible(True)
        for action in (self.create_table_action, self.create_index_action, self.modify_action, self.rename_action,
                       self.drop_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.undo_action)
        self.update_actions()

    def _action(self, text: str, tip: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setData(tip)  # the tip to restore when the action is enabled again
        action.triggered.connect(lambda _checked=False: slot())
        return action

    # State ------------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Follow the open file (and its undo history); a dialog for the previous one closes."""
        self.session = session
        self._following.clear()
        self.history = session.undo_history if session is not None else None
        if self.history is not None:
            self._following.connect(self.history.events.changed, self._on_history)
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None
        if self.rename_dialog is not None:  # its answer would rename a table of the next file
            self.rename_dialog.close()
            self.rename_dialog.deleteLater()
            self.rename_dialog = None
        self.update_actions()

    def reason(self) -> str:
        """Why the structure cannot be changed now ("" when it can)."""
        session = self.session
        if session is None or session.closed:
            return "Open a database first."
        if session.read_only:
            return f"{session.path.name} is open read-only: reopen it read-write (File ▸ Open…) to change its structure."
        return ""

    def update_actions(self) -> None:
        why = self.reason()
        for action in (self.create_table_action, self.create_index_action, self.modify_action, self.rename_action,
                       self.drop_action, self.undo_action):
            action.setEnabled(not why)
            action.setToolTip(why or str(action.data()))
        history = self.history
        if not why and history is not None:
            refusal = history.refusal()
            self.undo_action.setText(f"&{history.text()}")
            self.undo_action.setEnabled(not refusal)
            self.undo_action.setToolTip(refusal or f"{history.text()} (an edit or a structure change, the last first)")
        else:
            self.undo_action.setText("&Undo")

    def _on_history(self, _history: UndoHistory) -> None:
        self.update_actions()

    def _selected_table(self) -> str | None:
        obj = self.selected()
        return obj.tbl_name if obj is not None and obj.type in ("table", "index", "trigger") else None

    def _on_selected(self, act: Callable[[str], object]) -> None:
        obj = self.selected()
        if obj is None:
            self.dialogs.show_error("Nothing selected", "Select an object in the Schema panel first.")
            return
        act(obj.name)

    def _writable(self) -> Session | None:
        why = self.reason()
        if why:
            self.dialogs.show_error("Cannot change the structure", why)
            return None
        return self.session

    # Entries ----------------------------------------------------------------------------------------------
    def create_table(self) -> None:
        session = self._writable()
        if session is not None:
            spawn(self._open_table_dialog(session, None))

    def modify_table(self, name: str) -> None:
        session = self._writable()
        if session is not None:
            spawn(self._open_table_dialog(session, name))

    def create_index(self, table: str | None = None) -> None:
        session = self._writable()
        if session is not None:
            spawn(self._open_index_dialog(session, table))

    async def _open_table_dialog(self, session: Session, name: str | None) -> None:
        try:
            snap, current = await session.browse(
                lambda c: (snapshot(c), read_table(c, name) if name is not None else None)
            )
        except PulseError as error:
            self._failed(f"Cannot modify {name}" if name is not None else "Cannot create a table", error)
            return
        if session is self.session:
            self._show(TableDialog(session, snap, current, self.parent_widget))

    async def _open_index_dialog(self, session: Session, table: str | None) -> None:
        try:
            snap = await session.browse(snapshot)
        except PulseError as error:
            self._failed("Cannot create an index", error)
            return
        if session is self.session:
            self._show(IndexDialog(session, snap, table, self.parent_widget))

    def _show(self, dialog: StructureDialog) -> None:
        if self.dialog is not None:  # one at a time: the previous one goes (kept until now for its state)
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = dialog
        dialog.on_apply = self._confirm_and_run
        dialog.show()

    def rename(self, name: str) -> None:
        if self._writable() is None:
            return
        if self.rename_dialog is not None:
            self.rename_dialog.deleteLater()
        dialog = QInputDialog(self.parent_widget)
        dialog.setWindowTitle(f"Rename {name}")
        dialog.setLabelText(f"New name for the table {name} (views, triggers and foreign keys follow):")
        dialog.setTextValue(name)
        dialog.textValueSelected.connect(lambda new: self._rename_to(name, new.strip()))
        self.rename_dialog = dialog
        dialog.open()

    def _rename_to(self, old: str, new: str) -> None:
        session = self._writable()
        if session is not None and new and new != old:
            spawn(self._plan_and_run(session, f"Cannot rename {old}", lambda c: plan_rename_table(snapshot(c), old, new)))

    def drop(self, name: str) -> None:
        session = self._writable()
        if session is not None:
            spawn(self._plan_and_run(session, f"Cannot drop {name}", lambda c: plan_drop_now(c, name)))

    async def _plan_and_run(self, session: Session, title: str, make: Callable[[apsw.Connection], Plan]) -> None:
        try:
            plan = await session.browse(make)
        except PulseError as error:
            if session is self.session:
                self._failed(title, error)
            return
        if session is self.session:  # another file opened meanwhile: the plan was made for this one
            self._confirm_and_run(None, plan, session)

    def _confirm_and_run(self, dialog: StructureDialog | None, plan: Plan, session: Session | None = None) -> None:
        """Run `plan` on the file it was made for; a drop, or a change that cannot be undone, is confirmed first,
        saying so."""
        target = session if session is not None else dialog.session if dialog is not None else self.session
        if target is None:
            return
        if plan.undo is not None and not plan.confirm:
            spawn(self._run(plan, dialog, target))
            return
        # The SQL: in full beside the dialog's own preview would make the box taller than the screen (a rebuild
        # recreates every index and trigger), hiding its buttons; so at most CONFIRM_SQL_LINES of it here.
        lines = plan.sql.splitlines()
        if len(lines) > CONFIRM_SQL_LINES:
            where = " (all in the dialog's SQL preview)" if dialog is not None else ""
            lines = [*lines[:CONFIRM_SQL_LINES], f"… and {len(lines) - CONFIRM_SQL_LINES} more lines{where}"]
        text = "\n".join((f"{plan.title}?", *brief_notes(plan.notes), plan.undo_text(), "", *lines))
        label = "Drop" if plan.confirm else "Apply"
        self.dialogs.confirm(plan.title, text, lambda: spawn(self._run(plan, dialog, target)), accept_label=label)

    async def _run(self, plan: Plan, dialog: StructureDialog | None, session: Session) -> None:
        """Run `plan` on `session`. The dialog may be deleted and another file opened while it runs: then the
        outcome goes to the status bar, and its undo entry to the history of the file it ran on."""
        if session is not self.session:
            self.message.emit(f"{plan.title}: not done, {session.path.name} is no longer the open file.")
            return
        if dialog is not None:
            dialog.running()
        failure: PulseError | None = None
        session.undo_history.begin_saving()  # Undo waits for this change's entry
        try:
            await change(session, plan)
        except PulseError as exc:
            failure = exc
        finally:
            session.undo_history.end_saving()
        if failure is not None:
            if dialog is not None and not dialog.deleted:
                snap = await self._fresh_snapshot(session, dialog)
                if not dialog.deleted:
                    dialog.failed(failure, snap)
                    self.failed.emit(failure)
                    return
            if session is self.session:
                self._failed(plan.title, failure)
            else:
                self.message.emit(f"{plan.title} failed: {failure}")
            return
        if dialog is not None and not dialog.deleted:
            dialog.applied.emit(plan)
            dialog.close()
        if dialog is not None and dialog is self.dialog:
            self.dialog = None
        undo = plan.undo
        if undo is not None and not session.closed:  # on the history of the file it ran on, open or not
            session.undo_history.push(UndoEntry(
                plan.title, lambda connection: apply(connection, undo), kind="structure",
                table=plan.rebuild or None, schema=True,
            ))
        if session is not self.session:
            self.message.emit(f"{plan.title}: done in {session.path.name}.")
            return
        self.update_actions()
        self.message.emit(f"{plan.title}: done." + (" Edit ▸ Undo (Ctrl+Z) puts it back." if plan.undo else ""))
        self.changed.emit(plan)

    async def _fresh_snapshot(self, session: Session, dialog: StructureDialog) -> Snapshot | None:
        """The schema as it is now, for a dialog whose change failed, when the dialog can go on from it (a
        Modify Table dialog only while its table is still as it was read)."""
        name = dialog.current.name if isinstance(dialog, TableDialog) and dialog.current is not None else None
        try:
            snap, table = await session.browse(lambda c: (snapshot(c), read_table(c, name) if name else None))
        except PulseError:
            return None
        if isinstance(dialog, TableDialog) and table != dialog.current:
            return None
        return snap

    def undo(self) -> None:
        """Undo the open database's last change, an edit or a structure change (Structure ▸ Undo, Edit ▸ Undo)."""
        session = self._writable()
        if session is None:
            return
        why = session.undo_history.refusal()
        if why:
            self.dialogs.show_error("Nothing undone", why)
            return
        spawn(self._undo(session))

    async def _undo(self, session: Session) -> None:
        try:
            entry = await session.undo_history.undo()  # a view showing what it touched reloads by itself
        except PulseError as error:
            if session is self.session:
                self._failed("Cannot undo", error)
            return
        self.message.emit(f"Undone: {entry.title}.")
        self.undone.emit(entry)

    def _failed(self, title: str, error: PulseError) -> None:
        self.dialogs.show_error(title, str(error))
        self.failed.emit(error)

