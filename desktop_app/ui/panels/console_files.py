"""The console's .sql files: Open, Save, Save As… for a tab, and Execute SQL File… with its progress line.

Files are read and written on a worker thread (core/sql_files.py; never the open database or its side
files). Execute SQL File… runs the file on the session's one write connection (`Session.run_sql_file`,
which reads it as it goes), in one transaction unless *Execute in One Transaction* is off; the first error
names its line and the message says whether anything the file did was kept.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from desktop_app.core.errors import DatabaseReadOnly, PulseError
from desktop_app.core.session import Session
from desktop_app.core.sql_files import read_sql_file, write_sql_file
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.panels.console_tab import QueryTab
from desktop_app.ui.script_bar import ScriptBar

if TYPE_CHECKING:
    from desktop_app.core.sql_script import ScriptResult

SQL_FILTER = "SQL files (*.sql);;All files (*)"


def console_shortcut(widget: QWidget, action: QAction, *keys: str) -> QAction:
    """`action` on `keys` anywhere inside `widget` (the console), not elsewhere in the window."""
    action.setShortcuts([QKeySequence(key) for key in keys])
    action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    widget.addAction(action)
    return action


class Console(Protocol):
    """What the files need of the console: its session, its current tab, a new tab."""

    @property
    def session(self) -> Session | None: ...

    @property
    def tab(self) -> QueryTab: ...

    def new_tab(self, text: str | None = None, *, title: str | None = None) -> QueryTab: ...


class ConsoleFiles(QObject):
    file_opened = Signal(object)  # Path
    file_saved = Signal(object)  # Path
    script_finished = Signal(object)  # ScriptResult
    script_failed = Signal(object)  # PulseError
    database_changed = Signal()  # a script ran: its changes are the app's own, so nothing else says so

    def __init__(self, console: Console, dialogs: Dialogs | ScriptedDialogs, parent: QWidget) -> None:
        """`parent`: the console's widget (Save and Save As… keys work inside it)."""
        super().__init__(parent)
        self._console = console
        self._dialogs = dialogs
        self.open_action = QAction("Open SQL File…", self)
        self.open_action.triggered.connect(self.ask_open)
        self.save_action = console_shortcut(parent, QAction("Save", self), "Ctrl+S")
        self.save_action.triggered.connect(lambda: self.save())
        self.save_as_action = console_shortcut(parent, QAction("Save As…", self), "Ctrl+Shift+S")
        self.save_as_action.triggered.connect(lambda: self.save_as())
        self.execute_action = QAction("Execute SQL File…", self)
        self.execute_action.triggered.connect(self.ask_execute)
        self.one_transaction_action = QAction("Execute in One Transaction", self)
        self.one_transaction_action.setCheckable(True)
        self.one_transaction_action.setChecked(True)
        self.one_transaction_action.setToolTip(
            "On: a failing statement leaves the database as it was. Off: the file runs as written, what it commits stays"
        )
        self.script_bar = ScriptBar()
        self.script_bar.finished.connect(self._script_finished)
        self.script_bar.failed.connect(self._script_failed)

    def _session(self) -> Session | None:
        return self._console.session

    def _database(self) -> Path | None:
        session = self._session()
        return session.path if session is not None else None

    def update_actions(self) -> None:
        """Execute SQL File… only on a file open read-write, one file at a time."""
        session = self._session()
        writable = session is not None and not session.read_only
        self.execute_action.setEnabled(writable and not self.script_bar.running)
        self.execute_action.setToolTip(
            "Run a .sql file statement by statement on the open database" if writable or session is None
            else "This database is open read-only: reopen it read-write to run a script"
        )

    # Open, Save, Save As… ------------------------------------------------------------------------------------
    def ask_open(self) -> None:
        self._dialogs.ask_open_path("Open SQL file", lambda path: self.open(path), file_filter=SQL_FILTER)

    def open(self, path: Path) -> asyncio.Task:
        """Open `path` in a new tab (read on a worker thread)."""
        database = self._database()

        async def load() -> None:
            try:
                text = await asyncio.to_thread(read_sql_file, path, database=database)
            except PulseError as error:
                self._console.tab.show_error(str(error))
                return
            self._console.new_tab().attach_file(path, text)
            self.file_opened.emit(path)

        return spawn(load())

    def save(self, tab: QueryTab | None = None) -> asyncio.Task | None:
        """Save the tab (the current one) to its file; Save As… when it has none."""
        tab = tab or self._console.tab
        if tab.file is None:
            self.save_as(tab)
            return None
        return self._write(tab, tab.file)

    def save_as(self, tab: QueryTab | None = None) -> None:
        target = tab or self._console.tab
        suggested = target.file.name if target.file else f"{target.name}.sql"
        self._dialogs.ask_save_path(
            "Save SQL file", lambda path: self._write(target, path), suggested=suggested, file_filter=SQL_FILTER
        )

    def _write(self, tab: QueryTab, path: Path) -> asyncio.Task:
        text, database = tab.editor.toPlainText(), self._database()

        async def write() -> None:
            try:
                await asyncio.to_thread(write_sql_file, path, text, database=database)
            except PulseError as error:
                tab.show_error(str(error))
                return
            tab.attach_file(path, text)
            tab.status_label.setText(f"Saved {path}.")
            self.file_saved.emit(path)

        return spawn(write())

    # Execute SQL File… -------------------------------------------------------------------------------------
    def ask_execute(self) -> None:
        self._dialogs.ask_open_path("Execute SQL file", lambda path: self.execute(path), file_filter=SQL_FILTER)

    def execute(self, path: Path, *, confirm: bool = True) -> None:
        """Run the .sql file at `path` on the session's one write connection, with a progress bar and Stop."""
        session = self._session()
        if session is None:
            self._console.tab.show_error("Open a database first.")
            return
        if session.read_only:
            error = DatabaseReadOnly(f"{session.path.name} is open read-only, so a script cannot change it: reopen it read-write.")
            self._show_failure(str(error), error)
            return
        one_transaction = self.one_transaction_action.isChecked()

        def start() -> None:
            if session is self._session():
                self.script_bar.start(session, path, one_transaction=one_transaction)
                self.update_actions()

        if not confirm:
            start()
            return
        how = (
            "It runs in one transaction: if a statement fails, nothing of the file is kept."
            if one_transaction else "It runs as written: what it commits before a failing statement stays."
        )
        self._dialogs.confirm(
            "Execute SQL file", f"Run every statement of {path.name} on {session.path.name}? {how}", start,
            accept_label="Run",
        )

    def _script_finished(self, result: ScriptResult) -> None:
        self.update_actions()
        self._console.tab.status_label.setText(self.script_bar.describe_result(result))
        self.database_changed.emit()
        self.script_finished.emit(result)

    def _script_failed(self, error: PulseError) -> None:
        self.update_actions()
        self.database_changed.emit()  # run as written, part of it may have stayed
        self._show_failure(self.script_bar.describe_failure(error), error)

    def _show_failure(self, text: str, error: PulseError) -> None:
        self._console.tab.show_error(text)
        self.script_failed.emit(error)
