"""The console's Saved Queries menu: Save Query As… and the queries kept by name for the open database.

A saved query opens in a tab of its own; Rename and Delete ask first. The queries live in the app's
settings keyed by the database's path (core/saved_queries.py), never in the database file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from desktop_app.core.saved_queries import SavedQuery, renamed, with_query, without_query
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.settings import AppSettings


class SavedQueriesMenu(QMenu):
    def __init__(
        self,
        settings: AppSettings,
        dialogs: Dialogs | ScriptedDialogs,
        *,
        database: Callable[[], Path | None],
        current: Callable[[], tuple[str, str]],
        open_query: Callable[[SavedQuery], object],
        say: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        """`database()`: the open file (None: nothing open); `current()`: the current tab's (name, statement);
        `open_query(query)` opens it in a tab; `say(text)` tells the user what happened."""
        super().__init__("&Saved Queries", parent)
        self._settings = settings
        self._dialogs = dialogs
        self._database = database
        self._current = current
        self._open_query = open_query
        self._say = say
        self.save_action = QAction("Save Query As…", self)
        self.save_action.triggered.connect(self.ask_save)
        self._submenus: list[QMenu] = []
        self.aboutToShow.connect(self.refill)
        self.refill()

    def queries(self) -> list[SavedQuery]:
        path = self._database()
        return self._settings.saved_queries_for(path) if path is not None else []

    def _keep(self, queries: list[SavedQuery]) -> None:
        path = self._database()
        if path is not None:
            self._settings.set_saved_queries_for(path, queries)

    def ask_save(self) -> None:
        if self._database() is None:
            self._say("Open a database first: saved queries are kept per database.")
            return
        name, sql = self._current()
        self._dialogs.ask_text("Save query as", "Name:", lambda chosen: self.save(chosen, sql), text=name)

    def save(self, name: str, sql: str) -> None:
        """Keep `sql` under `name` for this database (replacing a query of that name)."""
        if self._database() is None or not name.strip() or not sql.strip():
            return
        self._keep(with_query(self.queries(), SavedQuery(name.strip(), sql)))
        self._say(f"Saved as “{name.strip()}”.")

    def open(self, name: str) -> None:
        query = next((item for item in self.queries() if item.name == name), None)
        if query is not None:
            self._open_query(query)

    def rename(self, old: str, new: str) -> None:
        if new.strip():
            self._keep(renamed(self.queries(), old, new.strip()))

    def delete(self, name: str) -> None:
        self._keep(without_query(self.queries(), name))

    def refill(self) -> None:
        """Save Query As…, then the saved queries (click: open in a tab), then Rename and Delete."""
        for action in self.actions():  # not clear(): it would delete save_action, the menu's own child
            self.removeAction(action)
            if action is not self.save_action:
                action.deleteLater()
        for submenu in self._submenus:
            submenu.deleteLater()
        self._submenus = []
        self.addAction(self.save_action)
        self.save_action.setEnabled(self._database() is not None)
        queries = self.queries()
        if not queries:
            return
        self.addSeparator()
        rename_menu = QMenu("Rename", self)
        delete_menu = QMenu("Delete", self)
        self._submenus = [rename_menu, delete_menu]
        for query in queries:
            name = query.name
            self.addAction(name).triggered.connect(lambda _=False, name=name: self.open(name))
            rename_menu.addAction(name).triggered.connect(lambda _=False, name=name: self._ask_rename(name))
            delete_menu.addAction(name).triggered.connect(lambda _=False, name=name: self._ask_delete(name))
        self.addSeparator()
        self.addMenu(rename_menu)
        self.addMenu(delete_menu)

    def _ask_rename(self, name: str) -> None:
        self._dialogs.ask_text("Rename saved query", "Name:", lambda new: self.rename(name, new), text=name)

    def _ask_delete(self, name: str) -> None:
        self._dialogs.confirm(
            "Delete saved query", f"Delete the saved query “{name}”?", lambda: self.delete(name), accept_label="Delete"
        )
