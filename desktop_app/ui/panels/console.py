"""Query console: tabs of SQL (each its own editor, results, plan and bytecode), run, cancel, files, saved queries.

The panel holds what the tabs share: the open session, the buttons (they act on the current tab), Allow
writes, the history, the completion catalog and the Query menu (tabs; .sql files and Execute SQL File… in
console_files.py; queries saved by name in console_saved.py). One tab's work is `console_tab.QueryTab`.
The open tabs are kept per database in the app's settings (never in the database file) and come back
when the file is opened again.

The completion catalog (tables, their columns, functions) is read on the session's browse thread when the
file opens and whenever its schema changes; the editor completes from it without asking the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTableView,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.completion import Catalog, read_catalog
from desktop_app.core.errors import PulseError
from desktop_app.core.query import PlanNode, QueryResult, SchemaObject
from desktop_app.core.saved_queries import ConsoleState
from desktop_app.core.session import Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui import theme
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.models.result_model import ResultModel
from desktop_app.ui.panels import follow_workspace
from desktop_app.ui.panels.console_files import ConsoleFiles, console_shortcut
from desktop_app.ui.panels.console_saved import SavedQueriesMenu
from desktop_app.ui.panels.console_tab import (
    PLACEHOLDER_SQL,
    TAB_BYTECODE,
    TAB_PLAN,
    TAB_RESULTS,
    QueryTab,
    ShownResult,
    count_nodes,
)
from desktop_app.ui.settings import AppSettings
from desktop_app.ui.sql_editor import SqlEditor

__all__ = ["PLACEHOLDER_SQL", "TAB_BYTECODE", "TAB_PLAN", "TAB_RESULTS", "ConsolePanel", "count_nodes"]

SAVE_STATE_AFTER_MS = 1000  # typing is kept in the settings a second after it pauses


class ConsolePanel(QWidget):
    query_finished = Signal(object)  # QueryResult
    query_failed = Signal(object)  # PulseError
    plan_ready = Signal(object)  # list[PlanNode]
    bytecode_ready = Signal(object)  # ResultPage
    database_changed_by_query = Signal()
    chart_requested = Signal(str)  # the statement, to become a query series
    exported = Signal(object)  # Path
    catalog_loaded = Signal(object)  # Catalog

    def __init__(
        self,
        settings: AppSettings,
        dialogs: Dialogs | ScriptedDialogs,
        parent: QWidget | None = None,
        *,
        workspace: Workspace | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("console")
        self._settings = settings
        self.dialogs = dialogs
        self._session: Session | None = None
        self.catalog = Catalog()
        self._catalog_task: asyncio.Task | None = None
        self._restoring = False

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the statement, or the selected text (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Interrupt the running statement")
        self.plan_button = QPushButton("Query plan")
        self.plan_button.setToolTip("EXPLAIN QUERY PLAN: how SQLite will find the rows (full scans in red)")
        self.bytecode_button = QPushButton("Bytecode")
        self.bytecode_button.setToolTip("EXPLAIN: the virtual machine program of the statement")
        self.chart_button = QPushButton("Chart this query…")
        self.chart_button.setObjectName("chartQuery")
        self.chart_button.setToolTip("Sample the statement live: a chart and a tile on the dashboard, with an alert if you like")
        self.chart_button.clicked.connect(lambda: self.chart_requested.emit(self.statement_text().strip()))
        self.plot_button = QPushButton("Plot…")  # the window shows the result in its Plot panel
        self.plot_button.setObjectName("plotResult")
        self.plot_button.setToolTip("Draw the result's rows as a line, scatter or bar chart")
        self.allow_writes = QCheckBox("Allow writes")
        self.allow_writes.setToolTip("Statements that change the database only run when this is on")
        self.history = QComboBox()
        self.history.setObjectName("queryHistory")
        self.history.setMinimumContentsLength(16)
        self.history.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.history.setToolTip("Statements run before (kept across sessions)")

        self.run_action = console_shortcut(self, QAction("Run", self), "Ctrl+Return", "Ctrl+Enter")
        self.run_action.triggered.connect(lambda: self.run())
        self.cancel_action = QAction("Cancel query", self)
        # Escape anywhere in the window cancels: the action is enabled only while a statement runs, so
        # Escape keeps its other meanings the rest of the time.
        self.cancel_action.setShortcuts([QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+.")])
        self.cancel_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel)
        self.addAction(self.cancel_action)

        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button.clicked.connect(self.cancel)
        self.plan_button.clicked.connect(lambda: self.explain_plan())
        self.bytecode_button.clicked.connect(lambda: self.explain_bytecode())
        self.history.activated.connect(self._recall_history)

        self.query_tabs = QTabWidget()
        self.query_tabs.setObjectName("queryTabs")
        self.query_tabs.setTabsClosable(True)
        self.query_tabs.setMovable(True)
        self.query_tabs.setDocumentMode(True)
        self.query_tabs.tabCloseRequested.connect(lambda index: self.close_tab(index))
        self.query_tabs.tabBarDoubleClicked.connect(self._ask_rename_tab)
        self.query_tabs.currentChanged.connect(self._current_changed)
        self.query_tabs.tabBar().tabMoved.connect(lambda *_: self._state_changed())

        self.files = ConsoleFiles(self, dialogs, self)
        self.files.database_changed.connect(self.database_changed_by_query)
        self.saved_menu = SavedQueriesMenu(
            settings, dialogs, database=lambda: self._session.path if self._session is not None else None,
            current=lambda: (self.tab.name, self.statement_text().strip()),
            open_query=lambda query: self.new_tab(query.sql, title=query.name),
            say=self._say, parent=self,
        )
        self._build_menus()
        new_tab_button = QToolButton()
        new_tab_button.setText("+")
        new_tab_button.setToolTip("New query tab (Ctrl+T)")
        new_tab_button.clicked.connect(lambda: self.new_tab())
        # Files, saved queries and history sit beside the tabs, so the buttons' row fits a console that has
        # half the window's width.
        corner = QWidget()
        corner_layout = QHBoxLayout(corner)
        corner_layout.setContentsMargins(0, 0, 0, 0)
        corner_layout.addWidget(self.file_button)
        corner_layout.addWidget(self.saved_button)
        corner_layout.addWidget(QLabel("History:"))
        corner_layout.addWidget(self.history, 1)
        corner_layout.addWidget(new_tab_button)
        self.query_tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.run_button, self.cancel_button, self.plan_button, self.bytecode_button, self.chart_button,
            self.plot_button, self.allow_writes,
        ):
            buttons.addWidget(widget)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(buttons)
        layout.addWidget(self.query_tabs, 1)
        layout.addWidget(self.files.script_bar)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_STATE_AFTER_MS)
        self._save_timer.timeout.connect(self.save_state)

        self.new_tab()
        self._load_history()
        self._update_buttons()
        theme.notifier().changed.connect(self.apply_theme)
        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            follow_workspace(self, workspace, self.set_session, self._let_go)

    def _build_menus(self) -> None:
        self.new_tab_action = console_shortcut(self, QAction("New Tab", self), "Ctrl+T")
        self.new_tab_action.triggered.connect(lambda: self.new_tab())
        # Ctrl+W and Ctrl+Space are the editor's own keys (sql_editor.py: the window's Ctrl+W closes the
        # database elsewhere); these actions show them in the menu and the shortcut list.
        self.close_tab_action = self._menu_only("Close Tab", "Ctrl+W", lambda: self.close_tab())
        self.complete_action = self._menu_only("Complete Name", "Ctrl+Space", lambda: self.editor.show_completions())
        files = self.files
        self.file_menu = QMenu("&Query", self)
        for action in (self.new_tab_action, self.close_tab_action, self.complete_action, None, files.open_action,
                       files.save_action, files.save_as_action, None, files.execute_action,
                       files.one_transaction_action, None):
            if action is None:
                self.file_menu.addSeparator()
            else:
                self.file_menu.addAction(action)
        self.file_menu.addMenu(self.saved_menu)
        self.file_button = self._menu_button("Query", "queryMenuButton", self.file_menu)
        self.saved_button = self._menu_button("Saved", "savedQueriesButton", self.saved_menu)

    def _menu_only(self, text: str, key: str, slot: Callable[[], object]) -> QAction:
        """An action whose key the focused editor handles itself: shown, never taken from the window."""
        action = QAction(text, self)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # only while its menu has the focus
        action.triggered.connect(lambda _checked=False: slot())
        return action

    @staticmethod
    def _menu_button(text: str, name: str, menu: QMenu) -> QToolButton:
        button = QToolButton()
        button.setObjectName(name)
        button.setText(text)
        button.setMenu(menu)
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        return button

    # The current tab, and what the console has always offered of it ---------------------------------------
    @property
    def tab(self) -> QueryTab:
        widget = self.query_tabs.currentWidget()
        assert isinstance(widget, QueryTab)
        return widget

    def all_tabs(self) -> list[QueryTab]:
        return [widget for index in range(self.query_tabs.count()) if isinstance(widget := self.query_tabs.widget(index), QueryTab)]

    @property
    def editor(self) -> SqlEditor:
        return self.tab.editor

    @property
    def result_model(self) -> ResultModel:
        return self.tab.result_model

    @property
    def result_view(self) -> QTableView:
        return self.tab.result_view

    @property
    def bytecode_model(self) -> ResultModel:
        return self.tab.bytecode_model

    @property
    def plan_tree(self) -> QTreeWidget:
        return self.tab.plan_tree

    @property
    def tabs(self) -> QTabWidget:
        """The current query tab's Results / Query plan / Bytecode tabs."""
        return self.tab.tabs

    @property
    def status_label(self) -> QLabel:
        return self.tab.status_label

    @property
    def error_label(self) -> QLabel:
        return self.tab.error_label

    @property
    def export_csv_button(self) -> QPushButton:
        return self.tab.export_csv_button

    @property
    def export_json_button(self) -> QPushButton:
        return self.tab.export_json_button

    @property
    def export_ndjson_button(self) -> QPushButton:
        return self.tab.export_ndjson_button

    @property
    def last_result(self) -> QueryResult | None:
        return self.tab.last_result

    @property
    def last_error(self) -> PulseError | None:
        return self.tab.last_error

    @property
    def last_plan(self) -> list[PlanNode]:
        return self.tab.last_plan

    @property
    def full_scan_colors(self) -> tuple[QColor, QColor]:
        return self.tab.full_scan_colors

    @property
    def busy(self) -> bool:
        return self.tab.busy

    @property
    def session(self) -> Session | None:
        return self._session

    def _say(self, text: str) -> None:
        self.tab.status_label.setText(text)

    def current_result(self) -> ShownResult | None:
        """The active tab's result (columns and the rows its grid holds), or None before a run."""
        return self.tab.current_result()

    def statement_text(self) -> str:
        return self.tab.statement_text()

    def run(self, sql: str | None = None) -> asyncio.Task | None:
        return self.tab.run(sql)

    def explain_plan(self, sql: str | None = None) -> asyncio.Task | None:
        return self.tab.explain_plan(sql)

    def explain_bytecode(self, sql: str | None = None) -> asyncio.Task | None:
        return self.tab.explain_bytecode(sql)

    def cancel(self) -> None:
        self.tab.cancel()

    def export(self, fmt: str) -> None:
        self.tab.export(fmt)

    def apply_theme(self) -> None:
        for tab in self.all_tabs():
            tab.apply_theme()

    def set_font_sizes(self, editor_points: int, grid_points: int) -> None:
        self._font_sizes = (editor_points, grid_points)
        for tab in self.all_tabs():
            tab.set_font_sizes(editor_points, grid_points)

    # Tabs -------------------------------------------------------------------------------------------------
    def new_tab(self, text: str | None = None, *, title: str | None = None) -> QueryTab:
        """A new tab (with `text`, else an example statement), made current."""
        tab = QueryTab(
            title or self._free_name(), self.dialogs, lambda: self.catalog, self._remember,
            self.allow_writes.isChecked,
        )
        for signal, relay in (
            (tab.query_finished, self.query_finished), (tab.query_failed, self.query_failed),
            (tab.plan_ready, self.plan_ready), (tab.bytecode_ready, self.bytecode_ready),
            (tab.database_changed_by_query, self.database_changed_by_query), (tab.exported, self.exported),
        ):
            signal.connect(relay)
        tab.busy_changed.connect(lambda _busy: self._update_buttons())
        tab.title_changed.connect(lambda: self._retitle(tab))
        tab.editor.close_requested.connect(lambda: self.close_tab(self.query_tabs.indexOf(tab)))
        tab.editor.run_requested.connect(lambda: self.run())
        if text is not None:
            tab.editor.setPlainText(text)
        if hasattr(self, "_font_sizes"):
            tab.set_font_sizes(*self._font_sizes)
        tab.set_session(self._session)
        index = self.query_tabs.addTab(tab, tab.title())
        self.query_tabs.setCurrentIndex(index)
        tab.editor.setFocus()
        self._state_changed()
        return tab

    def _free_name(self) -> str:
        names = {tab.name for tab in self.all_tabs()}
        number = 1
        while f"Query {number}" in names:
            number += 1
        return f"Query {number}"

    def close_tab(self, index: int | None = None) -> None:
        """Close a tab (the current one by default); a file-backed tab with unsaved changes asks first.
        The last tab is never closed: it is emptied."""
        index = self.query_tabs.currentIndex() if index is None else index
        widget = self.query_tabs.widget(index)
        if not isinstance(widget, QueryTab):
            return
        if widget.modified:
            self.dialogs.confirm(
                "Close tab",
                f"{widget.file.name if widget.file else widget.name} has changes that are not saved. Close it anyway?",
                lambda: self._drop_tab(widget),
                accept_label="Close without saving",
            )
        else:
            self._drop_tab(widget)

    def _drop_tab(self, tab: QueryTab) -> None:
        index = self.query_tabs.indexOf(tab)
        if index < 0:
            return
        if self.query_tabs.count() == 1:
            self.new_tab()
        tab.set_session(None)  # cancels its statement and export
        self.query_tabs.removeTab(index)
        tab.deleteLater()
        self._state_changed()

    def rename_tab(self, index: int, name: str) -> None:
        widget = self.query_tabs.widget(index)
        if isinstance(widget, QueryTab) and name.strip():
            widget.name = name.strip()
            self._retitle(widget)

    def _ask_rename_tab(self, index: int) -> None:
        widget = self.query_tabs.widget(index)
        if isinstance(widget, QueryTab):
            self.dialogs.ask_text("Rename tab", "Name:", lambda name: self.rename_tab(self.query_tabs.indexOf(widget), name), text=widget.name)

    def _retitle(self, tab: QueryTab) -> None:
        index = self.query_tabs.indexOf(tab)
        if index >= 0:
            self.query_tabs.setTabText(index, tab.title())
            self.query_tabs.setTabToolTip(index, str(tab.file) if tab.file else tab.name)
        self._state_changed()

    def _current_changed(self, _index: int) -> None:
        self._update_buttons()
        self._state_changed()

    # Kept per database in the settings ---------------------------------------------------------------------
    def state(self) -> ConsoleState:
        return ConsoleState(tuple(tab.state() for tab in self.all_tabs()), max(0, self.query_tabs.currentIndex()))

    def _state_changed(self) -> None:
        if not self._restoring and self._session is not None:
            self._save_timer.start()

    def save_state(self) -> None:
        """Keep the open tabs and their text for this database (the app's settings, not the file)."""
        self._save_timer.stop()
        if self._session is not None and not self._restoring:
            self._settings.set_console_state_for(self._session.path, self.state().to_dict())

    def _restore_state(self, path: Path) -> None:
        state = ConsoleState.from_dict(self._settings.console_state_for(path))
        if state is None:
            return
        self._restoring = True
        try:
            for tab in self.all_tabs():
                tab.set_session(None)
                self.query_tabs.removeTab(self.query_tabs.indexOf(tab))
                tab.deleteLater()
            for tab_state in state.tabs:
                self.new_tab().restore(tab_state)
            self.query_tabs.setCurrentIndex(state.current)
        finally:
            self._restoring = False

    # Session ----------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Work on `session` (None: nothing open). Each tab drops its results; the tabs kept for the file
        come back; the completion catalog is read again."""
        previous = self._session
        if previous is not None:
            self.save_state()
            previous.events.schema_changed.disconnect(self._on_schema)
        self._session = session
        self.files.script_bar.cancel()
        if self._catalog_task is not None:
            self._catalog_task.cancel()
        self.catalog = Catalog()
        if session is not None and (previous is None or previous.path != session.path):
            self._restore_state(session.path)
        for tab in self.all_tabs():
            tab.set_session(session)
        self.allow_writes.setChecked(False)
        self.allow_writes.setEnabled(session is not None and not session.read_only)
        self.allow_writes.setToolTip(
            "This database is open read-only" if session is not None and session.read_only
            else "Statements that change the database only run when this is on"
        )
        if session is not None:
            session.events.schema_changed.connect(self._on_schema)
            self._on_schema(list(session.schema))
        self._update_buttons()

    def _let_go(self) -> None:
        """The panel is being deleted: stop listening to the session (no widget is touched)."""
        if self._catalog_task is not None:
            self._catalog_task.cancel()
        if self._session is not None:
            self._session.events.schema_changed.disconnect(self._on_schema)
            self._session = None

    def _on_schema(self, _objects: list[SchemaObject]) -> None:
        session = self._session
        if session is None:
            return
        if self._catalog_task is not None:
            self._catalog_task.cancel()
        self._catalog_task = spawn(self._load_catalog(session))

    async def _load_catalog(self, session: Session) -> None:
        try:
            catalog = await session.browse(read_catalog)
        except PulseError:  # closed meanwhile, or locked: completion offers keywords until the next change
            return
        if session is self._session:
            self.catalog = catalog
            self.catalog_loaded.emit(catalog)

    # Buttons ----------------------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        if self.query_tabs.count() == 0:
            return
        busy = self.tab.busy
        ready = self._session is not None and not busy
        for widget in (self.run_button, self.plan_button, self.bytecode_button):
            widget.setEnabled(ready)
        self.chart_button.setEnabled(self._session is not None)
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy)
        self.saved_menu.save_action.setEnabled(self._session is not None)
        self.files.update_actions()

    # History ----------------------------------------------------------------------------------------------
    def _load_history(self) -> None:
        self.history.clear()
        for sql in reversed(self._settings.query_history()):
            first_line = " ".join(sql.split())
            self.history.addItem(first_line[:120], sql)

    def _remember(self, sql: str) -> None:
        self._settings.add_query(sql)
        self._load_history()

    def _recall_history(self, index: int) -> None:
        sql = self.history.itemData(index)
        if sql:
            self.editor.setPlainText(sql)
            self.editor.setFocus()
