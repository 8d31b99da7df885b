"""The main window: menus, toolbar, status bar, dock panels; opening files by dialog, argument or drop.

It wires the core to the panels: a sampler thread feeds the dashboard and the status bar, the schema and
console panels get the open `Database`, maintenance actions and the ingest controller run off the GUI
thread. Every user-facing problem (`PulseError`) ends in a dialog through `self.dialogs`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import apsw
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QStandardPaths, Qt, QTimer, Signal, qVersion
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea, QToolButton, QWidget

from desktop_app import __version__
from desktop_app.core.database import Database, create_database, open_database
from desktop_app.core.errors import PulseError
from desktop_app.core.maintenance import CHECKPOINT_MODES
from desktop_app.core.metrics import Sample
from desktop_app.ui.activity import Activity
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.ingest_controller import IngestController
from desktop_app.ui.maintenance import MaintenanceActions, human_bytes
from desktop_app.ui.panels.console import ConsolePanel
from desktop_app.ui.panels.dashboard import DashboardPanel
from desktop_app.ui.panels.ingest import IngestPanel, describe_state
from desktop_app.ui.panels.schema import SchemaPanel
from desktop_app.ui.sampling import DEFAULT_INTERVAL, SamplerThread
from desktop_app.ui.settings import AppSettings
from desktop_app.ui.workers import GuiPoster, TaskRunner

APP_TITLE = "SQLite Pulse"
SCHEMA_REFRESH_SECONDS = 2.0
STATUS_MESSAGE_MS = 15_000


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
        sample_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.settings = settings
        self.dialogs = dialogs if dialogs is not None else Dialogs(self)
        self.data_dir = data_dir if data_dir is not None else default_data_dir()
        self.sample_interval = sample_interval
        self.database: Database | None = None
        self.last_sample: Sample | None = None
        self._sampler: SamplerThread | None = None
        self._open_token = 0
        self._last_schema_refresh = 0.0
        self._shut_down = False

        self.poster = GuiPoster(self)
        self.tasks = TaskRunner(self.poster)
        self.ingest_controller = IngestController(self, data_dir=self.data_dir, dialogs=self.dialogs)
        self.maintenance = MaintenanceActions(self.tasks, self.poster, self.dialogs, self.show_status, self)

        self.dashboard = DashboardPanel(sample_interval=sample_interval)
        self.schema = SchemaPanel(self.poster)
        self.console = ConsolePanel(self.settings, self.poster, self.tasks, self.dialogs)
        self.ingest = IngestPanel(self.ingest_controller, self.settings)

        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        self._update_actions()
        self.resize(1360, 860)
        self._restore_window()

    # Construction -----------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        # The panels are all docks (movable, floatable, closable); the central widget is an empty stub.
        stub = QWidget()
        stub.setMaximumSize(0, 0)
        self.setCentralWidget(stub)
        self.docks: dict[str, QDockWidget] = {}
        for key, title, widget in (
            ("dashboard", "Dashboard", self.dashboard),
            ("schema", "Schema", self.schema),
            ("console", "Query console", self.console),
            ("ingest", "Ingest", self.ingest),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"{key}Dock")
            if key == "ingest":  # a tall form: scroll it rather than force a tall window
                scroller = QScrollArea()
                scroller.setWidgetResizable(True)
                scroller.setFrameShape(QScrollArea.Shape.NoFrame)
                scroller.setWidget(widget)
                dock.setWidget(scroller)
            else:
                dock.setWidget(widget)
            self.docks[key] = dock
        self.addDockWidget(Qt.DockWidgetArea.TopDockWidgetArea, self.docks["dashboard"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.docks["console"])
        self.splitDockWidget(self.docks["console"], self.docks["ingest"], Qt.Orientation.Horizontal)
        self.tabifyDockWidget(self.docks["console"], self.docks["schema"])
        self.docks["console"].raise_()

    def default_layout_sizes(self) -> None:
        """Give the charts most of the height and the ingest panel a narrow column (when nothing was saved)."""
        height, width = self.height(), self.width()
        self.resizeDocks([self.docks["dashboard"], self.docks["console"]], [int(height * 0.57), int(height * 0.38)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["console"], self.docks["ingest"]], [width - 380, 380], Qt.Orientation.Horizontal)

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
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

        m = self.maintenance
        self.backup_action = self._action("&Backup…", m.backup, "Ctrl+Shift+B", "Copy the live database (online backup)")
        self.checkpoint_actions = {
            mode: self._action(mode.capitalize(), lambda mode=mode: m.checkpoint(mode), tip=f"wal_checkpoint({mode.upper()})")
            for mode in CHECKPOINT_MODES
        }
        self.vacuum_action = self._action("&VACUUM", m.vacuum, tip="Rebuild the file to reclaim free pages")
        self.vacuum_into_action = self._action("VACUUM &INTO…", m.vacuum_into, tip="Write a compacted copy")
        self.integrity_action = self._action("Integrity &Check", m.integrity_check, tip="PRAGMA integrity_check")
        self.optimize_action = self._action("&Optimize", m.optimize, tip="PRAGMA optimize: refresh planner statistics")
        self.about_action = self._action("&About SQLite Pulse", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.database_actions = [
            self.close_action,
            self.backup_action,
            *self.checkpoint_actions.values(),
            self.vacuum_action,
            self.vacuum_into_action,
            self.integrity_action,
            self.optimize_action,
        ]
        self.write_actions = [*self.checkpoint_actions.values(), self.vacuum_action, self.optimize_action]

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
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

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
        tools.addAction(self.optimize_action)

        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction(self._action("Show &All Panels", self.show_all_panels))

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        self.menus = {"file": file_menu, "tools": tools, "view": view, "help": help_menu}

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
            ("size", "Database file size"),
            ("wal", "WAL file size"),
            ("access", "Read-only or read-write"),
            ("ingest", "Ingest state"),
        ):
            label = QLabel("")
            label.setObjectName(f"status_{key}")
            label.setToolTip(tip)
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
            self.status_labels[key] = label
        self._update_status_labels()

    def _connect(self) -> None:
        self.ingest.demo_requested.connect(self.start_demo)
        self.ingest_controller.demo_database_ready.connect(self.open_path)
        self.ingest_controller.started.connect(self._on_ingest_started)
        self.ingest_controller.stats_changed.connect(lambda stats: self._set_status("ingest", f"ingest: {describe_state(stats)}"))
        self.ingest_controller.stopped.connect(self._on_ingest_stopped)
        self.ingest_controller.failed.connect(lambda error: self.show_status(f"Ingest: {error}"))
        self.console.database_changed_by_query.connect(self.schema.refresh)
        self.maintenance.finished.connect(lambda _action, _result: self.schema.refresh())

    def _restore_window(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        else:
            QTimer.singleShot(0, self.default_layout_sizes)  # once the window has its real size

    # Opening and closing ----------------------------------------------------------------------------------
    def ask_open(self, *, read_only: bool = False) -> None:
        title = "Open Database Read-Only" if read_only else "Open Database"
        self.dialogs.ask_open_path(title, lambda path: self.open_path(path, read_only=read_only))

    def ask_new(self) -> None:
        self.dialogs.ask_save_path("New Database", self.create_path, suggested="new.db")

    def open_path(self, path: Path | str, *, read_only: bool = False) -> None:
        """Validate and open `path` off the GUI thread; `database_opened` or an error dialog follows."""
        path = Path(path)
        self._open_token += 1
        token = self._open_token
        self.show_status(f"Opening {path.name}…")
        self.tasks.run(
            lambda: open_database(path, read_only=read_only),
            lambda database: self._opened(token, database),
            lambda error: self._open_failed(token, path, error),
        )

    def create_path(self, path: Path | str) -> None:
        path = Path(path)
        self._open_token += 1
        token = self._open_token
        self.tasks.run(
            lambda: create_database(path),
            lambda database: self._opened(token, database),
            lambda error: self._open_failed(token, path, error),
        )

    def _opened(self, token: int, database: Database) -> None:
        if token != self._open_token or self._shut_down:
            return
        self.attach(database)

    def _open_failed(self, token: int, path: Path, error: PulseError) -> None:
        if token != self._open_token:
            return
        if not path.exists():
            self.settings.remove_recent_file(path)
        self.show_status(f"Could not open {path.name}.")
        self.dialogs.show_error(f"Cannot open {path.name}", str(error))
        self.open_failed.emit(error)

    def attach(self, database: Database) -> None:
        """Show `database` in every panel (closing the one shown before)."""
        self.close_database()
        self.database = database
        self.settings.add_recent_file(database.path)
        self.setWindowTitle(f"{database.path.name}{' (read-only)' if database.read_only else ''} — {APP_TITLE}")
        self.dashboard.clear()
        self.schema.set_database(database)
        self.console.set_database(database)
        self.ingest.set_database(database)
        self.maintenance.database = database
        self._sampler = SamplerThread(
            database.path,
            self.poster.wrap(self._on_sample),
            self.poster.wrap(self._on_sampler_error),
            interval=self.sample_interval,
        )
        self._sampler.start()
        self._update_actions()
        self._update_status_labels()
        self.show_status(f"Opened {database.path}")
        self.database_opened.emit(database)

    def close_database(self) -> None:
        if self.database is None:
            return
        if self.ingest_controller.running:
            self.ingest_controller.shutdown()
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        self.schema.set_database(None)
        self.console.set_database(None)
        self.ingest.set_database(None)
        self.maintenance.database = None
        self.database = None
        self.last_sample = None
        self.setWindowTitle(APP_TITLE)
        self._update_actions()
        self._update_status_labels()
        self.database_closed.emit()

    # Demo -------------------------------------------------------------------------------------------------
    def demo_database_path(self) -> Path:
        return self.ingest_controller.demo_database_path()

    def start_demo(self, rate: int | None = 2000) -> None:
        """Stream the demo server into a fresh demo database of its own (never into the user's open file);
        the window shows that database once it exists."""
        table = self.ingest.table_edit.text().strip() or "readings"
        self.close_database()
        try:
            self.ingest_controller.start_demo(table=table, rate=rate)
        except PulseError as error:
            self.dialogs.show_error("Cannot start the demo", str(error))

    def _on_ingest_started(self, _config) -> None:
        if self._sampler is not None:
            self._sampler.note_own_writes()
        self._set_status("ingest", "ingest: connecting")
        QTimer.singleShot(1500, self.schema.refresh)  # the session creates its table on the first batch

    def _on_ingest_stopped(self, stats) -> None:
        self._set_status("ingest", "ingest: stopped" if stats is not None else "")
        self.schema.refresh()
        if stats is not None:
            self.show_status(f"Ingest stopped: {stats.written:,} rows written, {stats.dead_letters:,} dead letters.")

    # Samples ----------------------------------------------------------------------------------------------
    def _on_sample(self, sample: Sample, activity: Activity) -> None:
        if self._sampler is None:
            return  # a late sample from a closed database
        self.last_sample = sample
        self.dashboard.add_sample(sample, activity, self.ingest_controller.rows_per_second())
        self._update_status_labels()
        now = time.monotonic()
        if sample.external_write and now - self._last_schema_refresh > SCHEMA_REFRESH_SECONDS:
            self._last_schema_refresh = now
            self.schema.refresh()
            self.schema.look_for_new_rows()
        self.sample_received.emit(sample)

    def _on_sampler_error(self, error: PulseError) -> None:
        self.show_status(f"⚠ {error}")

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
            self._set_status("size", f"size: {human_bytes(sample.db_bytes)}")
            self._set_status("wal", f"WAL: {human_bytes(sample.wal_bytes)}" if sample.journal_mode == "wal" else "no WAL")

    def _update_actions(self) -> None:
        has_database = self.database is not None
        writable = has_database and not self.database.read_only
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
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
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
            f"Python {sys.version.split()[0]}"
        )

    def show_about(self) -> None:
        self.dialogs.show_info("About SQLite Pulse", self.about_text())

    # Drag and drop ----------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if dropped_path(event) is not None:
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
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop everything this window started: ingest (flushed), demo server, sampler, query threads, pool."""
        if self._shut_down:
            return
        self._shut_down = True
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.ingest_controller.shutdown()
        self.close_database()
        self.maintenance.cancel_backup()
        self.tasks.shutdown()
        self.settings.sync()


def dropped_path(event: QDragEnterEvent | QDropEvent) -> Path | None:
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            return Path(url.toLocalFile())
    return None
