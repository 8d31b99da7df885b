"""The main window: menus, toolbar, status bar, dock panels; opening files by dialog, argument or drop.

The window drives one `Workspace` (core/workspace.py), which owns the open database and the ingest run: File
▸ Open awaits `workspace.open`, which stops the run and closes the previous file first, in order. The panels
subscribe once to `workspace.session_changed`, so a new file reaches each of them without the window handing
it round, and samples arrive as workspace events for the dashboard and the status bar. Every user-facing
problem (`PulseError`) ends in a dialog through `self.dialogs` or in the status bar.
"""

from __future__ import annotations

import asyncio
import functools
import html
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import apsw
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QRect, QStandardPaths, Qt, QTimer, QUrl, Signal, qVersion
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QScrollArea,
    QTableView,
    QToolButton,
    QWidget,
)

from desktop_app import __version__, logs
from desktop_app.core import series as series_table
from desktop_app.core.database import Database
from desktop_app.core.errors import PulseError
from desktop_app.core.maintenance import CHECKPOINT_MODES
from desktop_app.core.metrics import Sample
from desktop_app.core.session import Session
from desktop_app.core.workspace import Sampled, Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.import_kinds import KINDS as IMPORT_KINDS
from desktop_app.ui.layout_modes import LayoutModes
from desktop_app.ui.maintenance import MaintenanceActions, human_bytes
from desktop_app.ui.settings import AppSettings, Preferences
from desktop_app.ui.theme import apply_theme

if TYPE_CHECKING:  # the panels load in build_panels(): the window's frame can show before they import
    from desktop_app.core.ingest.stats import IngestStats
    from desktop_app.ui.ingest_controller import IngestController
    from desktop_app.ui.panels.console import ConsolePanel
    from desktop_app.ui.panels.dashboard import DashboardPanel
    from desktop_app.ui.panels.dead_letters import DeadLettersPanel
    from desktop_app.ui.panels.health import HealthPanel
    from desktop_app.ui.panels.ingest import IngestPanel
    from desktop_app.ui.panels.numbers import NumbersPanel
    from desktop_app.ui.panels.plot import PlotPanel, PlotSource
    from desktop_app.ui.panels.schema import SchemaPanel
    from desktop_app.ui.panels.space import SpacePanel

APP_TITLE = "SQLite Pulse"
MIN_SAMPLE_INTERVAL = 0.1  # seconds: the Preferences dialog's lower bound
STATUS_MESSAGE_MS = 15_000
DOCKS = (
    ("dashboard", "Dashboard"), ("schema", "Schema"), ("console", "Query console"), ("ingest", "Ingest"),
    ("numbers", "Your numbers"), ("space", "Space"), ("health", "Health"), ("dead_letters", "Dead letters"),
    ("plot", "Plot"),
)
STATUS_MIN_CHARS = 8  # status bar fields keep at least this width, however long their text


def default_data_dir() -> Path:
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(location) if location else Path.home() / ".local" / "share" / "sqlite-pulse"


class MainWindow(QMainWindow):
    database_opened = Signal(object)  # Database
    database_closed = Signal()
    open_failed = Signal(object)  # PulseError
    sample_received = Signal(object)  # Sample

    def __init__(
        self,
        settings: AppSettings,
        *,
        dialogs: Dialogs | ScriptedDialogs | None = None,
        data_dir: Path | None = None,
        sample_interval: float | None = None,
        build_panels: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.settings = settings
        self.dialogs = dialogs if dialogs is not None else Dialogs(self)
        self.data_dir = data_dir if data_dir is not None else default_data_dir()
        self.readme_file = readme_path()  # what Help ▸ Read Me (F1) opens
        self.preferences = settings.preferences()
        # An explicit interval (tests, the self-test) wins over the saved preference.
        self.sample_interval = sample_interval if sample_interval is not None else self.preferences.sample_interval
        self.workspace = Workspace(data_dir=self.data_dir, interval=self.sample_interval)
        self.last_sample: Sample | None = None
        self._shown: Session | None = None  # the session the window's own views show
        self._shut_down = False
        self._closing_workspace = False
        self._shown_once = False
        self._applied_fonts = (0, 0)

        self.panels_built = False
        self.maintenance = MaintenanceActions(self.dialogs, self.show_status, self, workspace=self.workspace)

        # The frame: docks (empty until build_panels), actions, menus, toolbar, status bar.
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.layouts = LayoutModes(self)  # Monitor / Browse (ui/layout_modes.py)
        self.layouts.install(self.menus["view"], self.toolbar)
        self._build_status_bar()
        self._update_actions()
        self.resize(1360, 860)
        self._restore_geometry()
        if build_panels:
            self.build_panels()

    @property
    def shut_down(self) -> bool:
        return self._shut_down

    def announce_opening(self, database: Database) -> None:
        """The file is open and its session is on its way to the panels: name it in the title and status."""
        self.setWindowTitle(title_for(database))
        self._set_status("file", f"Opening {database.path.name}…")

    def build_panels(self) -> None:
        """Import and build the panels into the docks (once). The app shows the frame first and calls this
        right after, so the window is on screen while the panels' modules load."""
        if self.panels_built:
            return
        from desktop_app.ui.ingest_controller import IngestController  # noqa: PLC0415 (see TYPE_CHECKING)
        from desktop_app.ui.panels.console import ConsolePanel  # noqa: PLC0415
        from desktop_app.ui.panels.dashboard import DashboardPanel  # noqa: PLC0415
        from desktop_app.ui.panels.dead_letters import DeadLettersPanel  # noqa: PLC0415
        from desktop_app.ui.panels.health import HealthPanel  # noqa: PLC0415
        from desktop_app.ui.panels.ingest import IngestPanel  # noqa: PLC0415
        from desktop_app.ui.panels.numbers import NumbersPanel  # noqa: PLC0415
        from desktop_app.ui.panels.plot import PlotPanel  # noqa: PLC0415
        from desktop_app.ui.panels.schema import SchemaPanel  # noqa: PLC0415
        from desktop_app.ui.panels.space import SpacePanel  # noqa: PLC0415

        self.ingest_controller: IngestController = IngestController(self, workspace=self.workspace, dialogs=self.dialogs)
        # Sized for the fastest interval Preferences offers, so a faster choice later still fills the 1 h chart.
        self.dashboard: DashboardPanel = DashboardPanel(sample_interval=min(self.sample_interval, MIN_SAMPLE_INTERVAL))
        self.schema: SchemaPanel = SchemaPanel(workspace=self.workspace)
        self.console: ConsolePanel = ConsolePanel(self.settings, self.dialogs, workspace=self.workspace)
        self.ingest: IngestPanel = IngestPanel(self.ingest_controller, self.settings)
        self.numbers: NumbersPanel = NumbersPanel(self.settings, self.dialogs, workspace=self.workspace)
        self.space: SpacePanel = SpacePanel(workspace=self.workspace)
        self.health: HealthPanel = HealthPanel(workspace=self.workspace, dialogs=self.dialogs)
        self.dead_letters: DeadLettersPanel = DeadLettersPanel(workspace=self.workspace, dialogs=self.dialogs)
        self.plot: PlotPanel = PlotPanel(self.dialogs)
        self.plot.add_source("Plot the console's result", self.console_rows, "Run a query in the console first.")
        self.plot.add_source("Plot the open table's rows", self.table_rows, "Open a table in the Schema panel first.")
        self._fill_docks()
        self.schema.browser.table_export.dialogs = self.dialogs
        # Structure menu (Create Table…, Modify Table…, Drop…, Undo): the schema panel's structure actions
        self.schema.structure.dialogs = self.dialogs
        self.schema.structure.message.connect(self.show_status)
        self.menus["structure"] = self.schema.structure.menu
        self.menuBar().insertMenu(self.menus["view"].menuAction(), self.schema.structure.menu)
        self.schema.structure.undo_action.changed.connect(self._follow_undo)
        self._follow_undo()
        self.panels_built = True
        self._connect()
        self.apply_preferences(self.preferences, save=False)
        self._restore_dock_state()

    # Construction -----------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        # The panels are all docks (movable, floatable, closable); the central widget is an empty stub.
        stub = QWidget()
        stub.setMaximumSize(0, 0)
        self.setCentralWidget(stub)
        self.docks: dict[str, QDockWidget] = {}
        for key, title in DOCKS:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{key}Dock")
            dock.setWidget(QWidget())  # until build_panels()
            self.docks[key] = dock
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, self.docks["dashboard"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.docks["console"])
        self.splitDockWidget(self.docks["console"], self.docks["ingest"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.docks["console"], self.docks["schema"])
        self.tabifyDockWidget(self.docks["ingest"], self.docks["numbers"])
        self.tabifyDockWidget(self.docks["console"], self.docks["space"])
        self.tabifyDockWidget(self.docks["console"], self.docks["health"])
        self.tabifyDockWidget(self.docks["console"], self.docks["dead_letters"])
        self.tabifyDockWidget(self.docks["ingest"], self.docks["plot"])  # beside the console: a query and its plot
        self.docks["console"].raise_()
        self.docks["ingest"].raise_()

    def _fill_docks(self) -> None:
        for key, _title in DOCKS:
            widget = getattr(self, key)
            if key == "dashboard":
                self.docks[key].setWidget(widget)
                continue
            # Scroll a panel rather than let its minimum height force a window taller than a scaled screen
            # (the grid's bars, the console's editor and the ingest form add up past 500 logical pixels).
            scroller = QScrollArea()
            scroller.setWidgetResizable(True)
            scroller.setFrameShape(QScrollArea.Shape.NoFrame)
            scroller.setWidget(widget)
            self.docks[key].setWidget(scroller)

    def default_layout_sizes(self) -> None:
        """Give the charts most of the height and the ingest panel a narrow column (when nothing was saved)."""
        height, width = self.height(), self.width()
        self.resizeDocks([self.docks["dashboard"], self.docks["console"]], [int(height * 0.57), int(height * 0.38)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["console"], self.docks["ingest"]], [width - 380, 380], Qt.Orientation.Horizontal)

    def _action(
        self, text: str, slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None, tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot() if self.panels_built else None)  # none before
        return action

    def _build_actions(self) -> None:
        style = self.style()
        self.open_action = self._action("&Open…", self.ask_open, QKeySequence.StandardKey.Open, "Open a database")
        self.open_action.setIcon(QIcon.fromTheme("document-open", style.standardIcon(style.StandardPixmap.SP_DialogOpenButton)))
        self.open_read_only_action = self._action(
            "Open &Read-Only…", lambda: self.ask_open(read_only=True), "Ctrl+Shift+O", "Open without taking a write lock"
        )
        self.new_action = self._action("&New Database…", self.ask_new, QKeySequence.StandardKey.New, "Create a WAL database")
        self.close_action = self._action("&Close", self.close_database, QKeySequence.StandardKey.Close, "Close the database")
        self.quit_action = self._action("&Quit", self.close, "Ctrl+Q")
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        # Edit ▸ Undo: the open database's one history (grid edits and structure changes), run by the Structure
        # menu's undo (ui/structure_actions.py); its text and state follow that action.
        self.undo_action = self._action("Nothing to undo", lambda: self.schema.structure.undo(), QKeySequence.StandardKey.Undo)
        self.undo_action.setEnabled(False)

        m = self.maintenance
        self.backup_action = self._action("&Backup…", m.backup, "Ctrl+Shift+B", "Copy the live database (online backup)")
        self.checkpoint_actions = {
            mode: self._action(mode.capitalize(), functools.partial(m.checkpoint, mode), tip=f"wal_checkpoint({mode.upper()})")
            for mode in CHECKPOINT_MODES
        }
        self.vacuum_action = self._action("&VACUUM", m.vacuum, tip="Rebuild the file to reclaim free pages")
        self.vacuum_into_action = self._action("VACUUM &INTO…", m.vacuum_into, tip="Write a compacted copy")
        self.integrity_action = self._action("Integrity &Check", m.integrity_check, tip="PRAGMA integrity_check")
        self.optimize_action = self._action("&Optimize", m.optimize, tip="PRAGMA optimize: refresh planner statistics")
        self.copy_to_postgres_action = self._action(
            "Copy to &PostgreSQL…", self.ask_copy_to_postgres, tip="Copy every table into a PostgreSQL database (resumable)"
        )
        self.refresh_action = self._action(
            "&Refresh", self.refresh, QKeySequence.StandardKey.Refresh, "Re-read the schema and the open table"
        )
        self.preferences_action = self._action(
            "&Preferences…", self.show_preferences, QKeySequence("Ctrl+,"), "Theme, sampling, chart window, font sizes"
        )
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.shortcuts_action = self._action("&Keyboard Shortcuts", self.show_shortcuts, "Ctrl+F1")
        self.readme_action = self._action("&Read Me", self.open_readme, QKeySequence.StandardKey.HelpContents, "Open the README")
        self.about_action = self._action("&About SQLite Pulse", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.database_actions = [
            self.close_action,
            self.refresh_action,
            self.backup_action,
            *self.checkpoint_actions.values(),
            self.vacuum_action,
            self.vacuum_into_action,
            self.integrity_action,
            self.optimize_action,
            self.copy_to_postgres_action,
        ]
        self.write_actions = [*self.checkpoint_actions.values(), self.vacuum_action, self.optimize_action]
        # Settings and checks (ui/panels/pragmas.py, ui/checks.py)
        self.pragmas_action = self._action("P&ragmas…", self.show_pragmas, tip="The file's settings, each explained")
        self.foreign_key_check_action = self._action(
            "&Foreign Key Check", lambda: self.show_check("foreign_keys"), tip="PRAGMA foreign_key_check: rows that refer to no row"
        )
        self.quick_check_action = self._action(
            "&Quick Check", lambda: self.show_check("quick"), tip="PRAGMA quick_check: integrity without index contents"
        )
        self.database_actions += [self.pragmas_action, self.foreign_key_check_action, self.quick_check_action]
        # File ▸ Import ▸ CSV/TSV…, JSON…, SQL script… (ui/import_dialog.py): writes, so only on a read-write open
        self.import_actions = {
            kind: self._action(label, functools.partial(self.ask_import, kind), tip="Import a file into the open database")
            for kind, (label, _filter) in IMPORT_KINDS.items()
        }
        self.database_actions += self.import_actions.values()
        self.write_actions += self.import_actions.values()

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_read_only_action)
        file_menu.addAction(self.new_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction(self.close_action)
        self.import_menu = file_menu.addMenu("&Import")
        self.import_menu.addActions(list(self.import_actions.values()))
        file_menu.addSeparator()
        file_menu.addAction(self.preferences_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)

        tools = bar.addMenu("&Tools")
        tools.addAction(self.backup_action)
        self.checkpoint_menu = tools.addMenu("Check&point")
        for action in self.checkpoint_actions.values():
            self.checkpoint_menu.addAction(action)
        tools.addSeparator()
        tools.addAction(self.vacuum_action)
        tools.addAction(self.vacuum_into_action)
        tools.addSeparator()
        tools.addAction(self.integrity_action)
        tools.addAction(self.quick_check_action)
        tools.addAction(self.foreign_key_check_action)
        tools.addAction(self.optimize_action)
        tools.addAction(self.pragmas_action)
        tools.addSeparator()
        tools.addAction(self.copy_to_postgres_action)

        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction(self.refresh_action)
        view.addAction(self._action("Show &All Panels", self.show_all_panels))

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.readme_action)
        help_menu.addAction(self.shortcuts_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)
        self.menus = {"file": file_menu, "edit": edit_menu, "tools": tools, "view": view, "help": help_menu}

    def _build_toolbar(self) -> None:
        toolbar = self.addToolBar("Maintenance")
        toolbar.setObjectName("maintenanceToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        toolbar.addAction(self.backup_action)
        checkpoint_button = QToolButton()
        checkpoint_button.setText("Checkpoint")
        checkpoint_button.setToolTip("Checkpoint the WAL (click: PASSIVE; menu: other modes)")
        checkpoint_button.setMenu(self.checkpoint_menu)
        checkpoint_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        checkpoint_button.clicked.connect(lambda: self.maintenance.checkpoint("passive"))
        self.checkpoint_button = checkpoint_button
        toolbar.addWidget(checkpoint_button)
        toolbar.addAction(self.vacuum_action)
        toolbar.addAction(self.vacuum_into_action)
        toolbar.addAction(self.integrity_action)
        toolbar.addAction(self.optimize_action)
        self.toolbar = toolbar

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.status_labels: dict[str, QLabel] = {}
        for key, tip in (
            ("file", "Open database"),
            ("journal", "Journal mode"),
            ("size", "Database size (its pages, those still in the WAL included)"),
            ("wal", "WAL file size"),
            ("access", "Read-only or read-write"),
            ("ingest", "Ingest state"),
        ):
            label = QLabel("")
            label.setObjectName(f"status_{key}")
            label.setToolTip(tip)
            label.setContentsMargins(6, 0, 6, 0)
            # An explicit minimum: otherwise each longer value raises the window's minimum width, and the
            # window (and every chart in it) is resized and repainted while values change.
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance("0" * STATUS_MIN_CHARS))
            bar.addPermanentWidget(label)
            self.status_labels[key] = label
        self._update_status_labels()

    def _connect(self) -> None:
        from desktop_app.ui.panels.ingest import describe_state  # noqa: PLC0415 (loaded by build_panels)

        # The panels follow the workspace's open file by themselves; the window's own views after them.
        self.workspace.session_changed.connect(self._on_session_changed)
        self.workspace.sample.connect(self._on_sample)
        self.workspace.error.connect(lambda error: self.show_status(f"⚠ {error}"))
        self.ingest.demo_requested.connect(self.start_demo)
        self.ingest_controller.started.connect(self._on_ingest_started)
        self.ingest_controller.stats_changed.connect(lambda stats: self._set_status("ingest", f"ingest: {describe_state(stats)}"))
        self.ingest_controller.stopped.connect(self._on_ingest_stopped)
        self.console.database_changed_by_query.connect(self.schema.refresh)
        self.schema.sql_to_console.connect(self._sql_to_console)
        self.console.chart_requested.connect(self.chart_query)
        self.menuBar().insertMenu(self.menus["tools"].menuAction(), self.console.file_menu)  # tabs, .sql files
        self.plot.chart_live_requested.connect(self.chart_query)
        self.console.plot_button.clicked.connect(lambda: self.show_plot(self.console_rows(), "Run a query first."))
        self.numbers.series_changed.connect(lambda series: self.dashboard.set_series(series_table.with_queries(series)))
        self.numbers.alerts_changed.connect(self.dashboard.show_alerts)
        self.dashboard.welcome.dismissed.connect(lambda: self.settings.set_welcome_dismissed(True))

    def chart_query(self, sql: str) -> None:
        """The console's statement as a new series of the user's (its editor checks it first)."""
        self.docks["numbers"].show()
        self.docks["numbers"].raise_()
        self.numbers.open_editor(sql=sql)

    # Plot: the rows a grid holds, drawn in the Plot dock -------------------------------------------------
    def console_rows(self) -> PlotSource | None:
        """The active console tab's result: every row received (up to the display limit), with its SQL."""
        from desktop_app.ui.panels.plot import PlotSource  # noqa: PLC0415 (loaded by build_panels)

        shown = self.console.current_result()
        if shown is None:
            return None
        rows = list(self.console.result_model.received_rows())
        cut = ", cut at the display limit" if shown.truncated else ""
        return PlotSource(f"Query result ({len(rows):,} rows{cut})", shown.columns, rows, shown.sql)

    def table_rows(self) -> PlotSource | None:
        """The data view's rows as loaded (the page or pages shown), to plot."""
        from desktop_app.ui.panels.plot import PlotSource  # noqa: PLC0415 (loaded by build_panels)

        model = self.schema.browser.model
        if model is None or not model.columns:
            return None
        return PlotSource(f"Table {model.table} (the {model.rowCount():,} rows loaded)", model.columns, list(model.rows()))

    def show_plot(self, source: PlotSource | None, empty: str) -> None:
        self.plot.show_source(source, empty)
        self.docks["plot"].show()
        self.docks["plot"].raise_()

    def _sql_to_console(self, sql: str) -> None:
        """The data grid's sort and filter as a SELECT in the console editor, ready to change and run."""
        self.console.editor.setPlainText(sql)
        self.docks["console"].show()
        self.docks["console"].raise_()

    def _restore_geometry(self) -> None:
        geometry = self.settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._default_sizes_pending = False
        self.fit_to_screen()

    def _restore_dock_state(self) -> None:
        """The docks' saved arrangement (with the panels in them), else the default sizes."""
        state = self.settings.window_state()
        if state is not None:
            self.restoreState(state)
            self.fit_to_screen()
        elif self.isVisible():
            QTimer.singleShot(0, self.default_layout_sizes)
        else:
            self._default_sizes_pending = True  # sized on the first show, when the window has its size

    def fit_to_screen(self) -> None:
        """Keep the whole window on the available part of its screen (a saved geometry may come from a larger
        screen or a smaller scale factor; the default size may not fit a scaled screen)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or self.isMaximized() or self.isFullScreen():
            return
        fitted = fit_rect(self.frameGeometry(), self.geometry(), screen.availableGeometry())
        if fitted.size() != self.size():
            self.resize(fitted.size())
        if fitted.topLeft() != self.geometry().topLeft():
            self.move(fitted.topLeft() - (self.geometry().topLeft() - self.frameGeometry().topLeft()))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.fit_to_screen()  # now the frame (title bar) is known too
            if self._default_sizes_pending:
                self._default_sizes_pending = False
                QTimer.singleShot(0, self.default_layout_sizes)
            self.layouts.window_shown()

    # Opening and closing ----------------------------------------------------------------------------------
    def ask_open(self, *, read_only: bool = False) -> None:
        title = "Open Database Read-Only" if read_only else "Open Database"
        self.dialogs.ask_open_path(title, lambda path: self.open_path(path, read_only=read_only))

    def ask_new(self) -> None:
        self.dialogs.ask_save_path("New Database", self.create_path, suggested="new.db")

    @property
    def session(self) -> Session | None:
        return self.workspace.session

    @property
    def database(self) -> Database | None:
        return self.session.database if self.session is not None else None

    def open_path(
        self, path: Path | str, *, read_only: bool = False, opening: asyncio.Future[Session] | None = None
    ) -> asyncio.Task:
        """Open `path` in the workspace (off the GUI thread); `database_opened` or an error dialog follows.
        Returns the task (tests and the self-test may await it). `opening`: the same open, already started
        (the app starts it before the panels are built)."""
        return spawn(self._open(Path(path), read_only=read_only, create=False, opening=opening))

    def create_path(self, path: Path | str) -> asyncio.Task:
        return spawn(self._open(Path(path), read_only=False, create=True))

    async def _open(
        self, path: Path, *, read_only: bool, create: bool, opening: asyncio.Future[Session] | None = None
    ) -> Session | None:
        self.show_status(f"Opening {path.name}…")
        try:
            return await self.workspace.open(path, read_only=read_only, create=create, opening=opening)
        except PulseError as error:
            self._open_failed(path, error)
            return None

    def _open_failed(self, path: Path, error: PulseError) -> None:
        if not path.exists():
            self.settings.remove_recent_file(path)
        self.show_status(f"Could not open {path.name}.")
        self.dialogs.show_error(f"Cannot open {path.name}", str(error))
        self.open_failed.emit(error)

    def _on_session_changed(self, session: Session | None) -> None:
        """The window's own views (title, dashboard, status, actions) follow the workspace's open file."""
        previous, self._shown = self._shown, session
        if previous is not None:
            self.layouts.detach()
        self.last_sample = None
        self.dashboard.clear()
        self.plot.forget()  # its rows (and Chart live's query) were the previous file's
        self.dashboard.welcome.hide()  # the demo's note goes with the demo's file (show_welcome follows)
        if session is None:
            self.setWindowTitle(APP_TITLE)
        else:
            database = session.database
            assert database is not None  # the workspace announces open sessions only
            self.settings.add_recent_file(database.path)
            self.setWindowTitle(title_for(database))
            if session.last_sample is not None and session.last_activity is not None:  # set together
                self._on_sample(Sampled(session.last_sample, session.last_activity))
            self.layouts.attach(session)
            self.show_status(f"Opened {database.path}")
        self._update_actions()
        self._update_status_labels()
        if session is not None:
            self.database_opened.emit(session.database)
        elif previous is not None:
            self.database_closed.emit()

    def _follow_undo(self) -> None:
        """Edit ▸ Undo shows what Structure ▸ Undo would undo (the same history), and whether it can."""
        source = self.schema.structure.undo_action
        text = source.text().replace("&", "")
        self.undo_action.setText("Nothing to undo" if text == "Undo" else text)  # no file, or read-only
        self.undo_action.setEnabled(source.isEnabled())
        self.undo_action.setToolTip(source.toolTip())
        self.undo_action.setStatusTip(source.toolTip())

    def close_database(self) -> asyncio.Task:
        """Close the open file (and stop the ingest): every view empties at once, the rest ends off the GUI."""
        return spawn(self.workspace.close())

    def show_pragmas(self) -> QDialog:
        """Tools ▸ Pragmas…: a non-modal window on the open file's settings."""
        from desktop_app.ui.panels.pragmas import PragmasDialog  # noqa: PLC0415 (only when asked for)

        dialog = PragmasDialog(self.workspace, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_check(self, kind: str) -> QDialog:
        """Tools ▸ Foreign Key Check / Quick Check: a non-modal window running the check; a foreign key line
        opens its row in the data grid."""
        from desktop_app.ui.checks import ChecksDialog  # noqa: PLC0415 (only when asked for)

        dialog = ChecksDialog(self.workspace, kind, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open_row.connect(self.open_row)
        dialog.show()
        dialog.run()
        return dialog

    def open_row(self, table: str, rowid: int) -> None:
        """`table` in the data grid, at the row `rowid`, selected."""
        self.docks["schema"].show()
        self.docks["schema"].raise_()
        self.schema.browser.open_row(table, (rowid,))

    def ask_import(self, kind: str) -> None:
        """File ▸ Import ▸ `kind`: pick a file, then the import dialog (preview, types, progress, Cancel)."""
        if self.session is not None:
            from desktop_app.ui.import_dialog import open_import  # noqa: PLC0415 (the importer loads when asked)

            open_import(self.session, kind, self.dialogs, self, on_imported=self.refresh)

    def ask_copy_to_postgres(self) -> QDialog | None:
        """Tools ▸ Copy to PostgreSQL…: a non-modal dialog that copies the open file from one snapshot."""
        if self.database is None:
            return None
        from desktop_app.ui.copy_to_postgres import CopyToPostgresDialog  # psycopg loads only when asked

        dialog = CopyToPostgresDialog(self.database.path, self)
        dialog.open()
        return dialog

    def refresh(self) -> None:
        """Re-read the schema and reload the open table or view (F5)."""
        self.schema.refresh()

    # Demo -------------------------------------------------------------------------------------------------
    def demo_database_path(self) -> Path:
        return self.workspace.demo_database_path()

    def start_demo(self, rate: int | None = 2000) -> asyncio.Task:
        """Stream the demo server into a fresh demo database of its own (never into the user's open file),
        which the workspace opens once the previous run has stopped and the open file has closed."""
        table = self.ingest.table_edit.text().strip() or "readings"
        return spawn(self._start_demo(table, rate or None))

    async def _start_demo(self, table: str, rate: int | None) -> None:
        if await self.ingest_controller.start_demo(table=table, rate=rate) and self.session is not None:
            self.show_welcome(self.session.path, table, rate)

    def welcome_text(self, path: Path, table: str, rate: int | None) -> str:
        speed = f"{rate:,} readings a second" if rate else "as fast as it can"
        return (
            "<b>Welcome to SQLite Pulse.</b> The demo runs a built-in WebSocket server on this computer that streams "
            f"synthetic sensor readings (temperature, humidity, pressure, battery) {speed}; the Ingest panel writes them "
            f"in batches into the table <b>{html.escape(table)}</b> of <code>{html.escape(str(path))}</code>, a WAL "
            "database made fresh for each demo. The charts show those writes, the WAL growing and being checkpointed, "
            "and the file's size. Stop it in the Ingest panel; open your own database with File ▸ Open."
        )

    def show_welcome(self, path: Path, table: str, rate: int | None) -> bool:
        """The first-run note on the demo: shown the first time only, until dismissed."""
        if self.settings.welcome_dismissed():
            return False
        self.settings.set_welcome_dismissed(True)  # once: a second demo starts without it
        self.dashboard.welcome.show_text(self.welcome_text(path, table, rate))
        return True

    def _on_ingest_started(self, _config: object) -> None:
        self.layouts.writing_started()
        self._set_status("ingest", "ingest: connecting")
        QTimer.singleShot(1500, self.schema.refresh)  # the session creates its table on the first batch

    def _on_ingest_stopped(self, stats: IngestStats | None) -> None:
        self._set_status("ingest", "ingest: stopped" if stats is not None else "")
        self.schema.refresh()
        if stats is not None:
            self.show_status(f"Ingest stopped: {stats.written:,} rows written, {stats.dead_letters:,} dead letters.")

    # Session events -------------------------------------------------------------------------------------
    def _on_sample(self, sampled: Sampled) -> None:
        self.last_sample = sampled.sample
        session = self.workspace.session
        queries = session.query_values if session is not None else None
        self.dashboard.add_sample(sampled.sample, sampled.activity, self.ingest_controller.rows_per_second(), queries)
        self._update_status_labels()
        self.sample_received.emit(sampled.sample)

    # Status -----------------------------------------------------------------------------------------------
    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_MESSAGE_MS)

    def _set_status(self, key: str, text: str) -> None:
        label = self.status_labels[key]
        if label.text() != text:
            label.setText(text)

    def _update_status_labels(self) -> None:
        database, sample = self.database, self.last_sample
        if database is None:
            for key in self.status_labels:
                if key != "ingest":
                    self._set_status(key, "")
            self._set_status("file", "No database open — File ▸ Open…, or drop a .db file here")
            return
        self._set_status("file", database.path.name)
        self.status_labels["file"].setToolTip(str(database.path))
        self._set_status("access", "read-only" if database.read_only else "read-write")
        if sample is not None:
            self._set_status("journal", f"journal: {sample.journal_mode.upper()}")
            self._set_status("size", f"size: {human_bytes(sample.data_bytes or sample.db_bytes)}")
            self._set_status("wal", f"WAL: {human_bytes(sample.wal_bytes)}" if sample.journal_mode == "wal" else "no WAL")

    def _update_actions(self) -> None:
        database = self.database
        has_database = database is not None
        writable = database is not None and not database.read_only
        for action in self.database_actions:
            action.setEnabled(has_database)
        for action in self.write_actions:
            action.setEnabled(writable)
        self.checkpoint_menu.setEnabled(writable)
        self.checkpoint_button.setEnabled(writable)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p) if self.panels_built else None)
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self.settings.clear_recent_files)
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def show_all_panels(self) -> None:
        for dock in self.docks.values():
            dock.show()

    def about_text(self) -> str:
        return (
            f"SQLite Pulse {__version__}\n\n"
            "Watch a SQLite database live, ask it questions with EXPLAIN, and ingest WebSocket streams into it.\n\n"
            f"SQLite {apsw.sqlite_lib_version()} (apsw {apsw.apsw_version()})\n"
            f"Qt {qVersion()} (PySide6 {pyside_version})\n"
            f"Python {sys.version.split()[0]}\n\n"
            f"Settings: {self.settings.file_name}\n"
            f"Demo database: {self.demo_database_path()}\n"
            f"Log file: {logs.current_log_file() or 'none (stderr only)'}\n"
            "Help ▸ Read Me opens the manual; Help ▸ Keyboard Shortcuts lists the keys."
        )

    def show_about(self) -> None:
        self.dialogs.show_info("About SQLite Pulse", self.about_text())

    def shortcut_list(self) -> list[tuple[str, str]]:
        """(what, keys) for every keyboard shortcut of the window and its panels."""
        found: dict[str, str] = {}
        for action in self.findChildren(QAction):
            keys = ", ".join(key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts())
            text = action.text().replace("&", "").rstrip("…").strip()
            text = "Undo (the last edit or structure change)" if action is self.undo_action else text
            text = "Close the database" if action is self.close_action else text  # not the console's Close Tab
            if keys and text and text not in found:
                found[text] = keys
        return sorted(found.items(), key=lambda item: item[0].lower())

    def show_shortcuts(self) -> QDialog:
        """Help ▸ Keyboard Shortcuts: keys and actions in two aligned columns (a non-modal table)."""
        from desktop_app.ui.shortcuts import ShortcutsDialog  # noqa: PLC0415 (only when asked for)

        self.shortcuts_dialog = ShortcutsDialog(self.shortcut_list(), self)
        self.shortcuts_dialog.show()
        return self.shortcuts_dialog

    def open_readme(self) -> bool:
        """Open the README shipped with the app in the desktop's viewer for Markdown (or text); when it cannot,
        say why in a dialog and the status bar (F1 never does nothing)."""
        path = self.readme_file
        if not path.is_file():
            why = f"The README is missing from this installation: it should be at {path}."
            self.show_status(f"Cannot open the README: {why}")
            self.dialogs.show_error("No README", f"{why} It is README.md in the project's source.")
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            why = f"no application on this desktop opens {path.name}."
            self.show_status(f"Cannot open the README: {why}")
            self.dialogs.show_error("Cannot open the README", f"Cannot open the README: {why} It is a plain text file: {path}")
            return False
        return True

    # Preferences ------------------------------------------------------------------------------------------
    def show_preferences(self) -> None:
        from desktop_app.ui.preferences import PreferencesDialog  # only when asked for

        dialog = PreferencesDialog(self.preferences, self.apply_preferences, self)
        self.preferences_dialog = dialog
        dialog.setModal(True)
        dialog.show()

    def apply_preferences(self, preferences: Preferences, *, save: bool = True) -> None:
        """Apply `preferences` to the running window at once and (with `save`) store them."""
        self.preferences = preferences
        app = cast(QApplication | None, QApplication.instance())  # the stub says QCoreApplication
        if app is not None:
            apply_theme(app, preferences.theme)
        if save:  # at start-up an explicit interval (tests, the self-test) stays
            self.sample_interval = preferences.sample_interval
            self.workspace.set_interval(preferences.sample_interval)
        if preferences.chart_window != self.dashboard.window_seconds:
            self.dashboard.set_window(preferences.chart_window)
        fonts = (preferences.editor_font_size, preferences.grid_font_size)
        if fonts != self._applied_fonts:  # a fresh window already has the desktop's fonts (0, 0)
            self._applied_fonts = fonts
            self.console.set_font_sizes(*fonts)
            grid_font = QFont(self.font())
            if preferences.grid_font_size > 0:
                grid_font.setPointSize(preferences.grid_font_size)
            for view in self.findChildren(QTableView):  # the data grid too, whichever panel holds it
                view.setFont(grid_font)
        if save:
            self.settings.set_preferences(preferences)

    # Drag and drop ----------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if self.panels_built and dropped_path(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        path = dropped_path(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_path(path)

    # Shutdown ---------------------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        busy = self.panels_built and (self.ingest_controller.running or self.session is not None)
        if busy and not self._closing_workspace:
            # Close once the worker has flushed and the file is closed (each step bounded by its deadline),
            # painting meanwhile: quitting first would end the worker through its parent's death, which gives
            # up on what it had not yet written, and would close the file blocking the GUI thread.
            self._closing_workspace = True
            event.ignore()
            spawn(self._close_after_workspace())
            return
        self.shutdown()
        super().closeEvent(event)

    async def _close_after_workspace(self) -> None:
        if self.ingest_controller.running:
            self.show_status("Stopping the ingest before closing…")
        try:
            await self.workspace.aclose()
        finally:
            self.close()

    def shutdown(self) -> None:
        """Stop everything this window started: ingest (flushed), demo server, the session, the pool."""
        if self._shut_down:
            return
        self._shut_down = True
        if not self.panels_built:  # closed while starting: nothing was started, and the docks are empty
            self.settings.sync()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.workspace.shutdown_now()  # blocking: at exit there may be no loop left to await a close
        self.settings.sync()


def title_for(database: Database) -> str:
    return f"{database.path.name}{' (read-only)' if database.read_only else ''} — {APP_TITLE}"


def readme_path() -> Path:
    """README.md beside the package: the source tree and the bundle share this layout."""
    return Path(__file__).resolve().parent.parent.parent / "README.md"


def fit_rect(frame: QRect, client: QRect, available: QRect) -> QRect:
    """The client rectangle, shrunk and moved so that its frame lies inside `available`."""
    left, top = client.left() - frame.left(), client.top() - frame.top()
    extra_w, extra_h = frame.width() - client.width(), frame.height() - client.height()
    width = min(client.width(), available.width() - extra_w)
    height = min(client.height(), available.height() - extra_h)
    x = min(max(frame.left(), available.left()), available.right() + 1 - (width + extra_w))
    y = min(max(frame.top(), available.top()), available.bottom() + 1 - (height + extra_h))
    return QRect(x + left, y + top, width, height)


def dropped_path(event: QDragEnterEvent | QDropEvent) -> Path | None:
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            return Path(url.toLocalFile())
    return None
