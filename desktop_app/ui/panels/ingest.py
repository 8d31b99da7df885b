"""Ingest panel: stream URL, target table, mapping mode, Start/Stop, the demo stream, live counters."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.database import Database
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestStats
from desktop_app.core.ingest.handshake import check_resolvable
from desktop_app.core.ingest.targets import require_server_url
from desktop_app.core.postgres.url import has_password, mask_url
from desktop_app.core.session import Session
from desktop_app.ui import theme
from desktop_app.ui.ingest_controller import DEMO_RATE, IngestController
from desktop_app.ui.panels.handshake import HandshakeBox
from desktop_app.ui.panels.keep import KeepRow
from desktop_app.ui.settings import AppSettings

COUNTERS = (  # (IngestStats field, title): one row per counter, two per line
    ("received", "Received"),
    ("written", "Written"),
    ("dead_letters", "Dead letters"),
    ("unwritten", "Unwritten"),
    ("reconnects", "Reconnects"),
    ("retry_attempts", "Failed attempts"),
    ("gaps", "Gaps"),
    ("missing", "Missing"),
    ("seq_resets", "Seq resets"),
    ("queue_depth", "Queue depth"),
    ("recent_rows_per_s", "Rows/s"),
    ("batches", "Batches"),
)
STATE_COLORS = {  # hues; each is made readable on the panel's background (ui/theme.py)
    "connecting": "#b26a00",
    "connected": "#1e7e34",
    "backoff": "#b26a00",
    "paused": "#a61b1b",
    "stopped": "#555555",
}
ERROR_COLOR = "#a61b1b"


def describe_state(stats: IngestStats | None) -> str:
    """The state line: the run's own words (IngestStats.describe_state, shared with the command line)."""
    return "idle" if stats is None else stats.describe_state()


COUNTER_WIDTH_SAMPLE = "0,000,000"  # a counter's minimum width, whatever it shows (longer values still fit)


def _window_color() -> QColor:
    """The application's window colour: on a theme change the new palette reaches widgets only later."""
    return QGuiApplication.palette().color(QPalette.ColorRole.Window)


class IngestPanel(QWidget):
    demo_requested = Signal(int)  # messages per second, 0 = as fast as possible

    def __init__(self, controller: IngestController, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ingest")
        self.controller = controller
        self._settings = settings
        self._database: Database | None = None

        self.url_edit = QLineEdit(settings.stream_url())
        self.url_edit.setObjectName("streamUrl")
        self.url_edit.setPlaceholderText("ws://host:port/path")
        self.table_edit = QLineEdit(settings.ingest_table())
        self.table_edit.setObjectName("targetTable")
        # Where the rows go: the open SQLite database, or a PostgreSQL database (core/postgres). The password
        # never sits in the URL or on screen: the password field (echo off) goes to the ingest child's
        # PGPASSWORD; ~/.pgpass works as well.
        self.target_combo = QComboBox()
        self.target_combo.setObjectName("ingestTarget")
        self.target_combo.addItem("SQLite file (the open database)", "sqlite")
        self.target_combo.addItem("PostgreSQL URL", "postgres")
        self.pg_url_edit = QLineEdit()
        self.pg_url_edit.setObjectName("postgresUrl")
        self.pg_url_edit.setPlaceholderText("postgresql://user@host:5432/dbname?sslmode=require")
        self.pg_password_edit = QLineEdit()
        self.pg_password_edit.setObjectName("postgresPassword")
        self.pg_password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.pg_password_edit.setPlaceholderText("optional: PGPASSWORD or ~/.pgpass also work")
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("JSON fields → columns", False)
        self.mode_combo.addItem("Raw (whole message in one column)", True)
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.demo_button = QPushButton("Start demo stream")
        self.demo_button.setToolTip(
            "Launch the built-in sensor stream server and ingest it into a demo database of its own"
        )
        self.demo_rate = QSpinBox()
        self.demo_rate.setRange(0, 200_000)
        self.demo_rate.setSingleStep(500)
        self.demo_rate.setValue(DEMO_RATE)
        self.demo_rate.setSuffix(" msg/s")
        self.demo_rate.setSpecialValueText("unthrottled")
        self.demo_rate.setToolTip("Demo stream rate (0 = as fast as possible)")
        self.handshake = HandshakeBox(settings.ingest_subscribe(), settings.ingest_subprotocols())

        form = QFormLayout()
        form.addRow("Stream URL", self.url_edit)
        form.addRow("Target", self.target_combo)
        form.addRow("PostgreSQL URL", self.pg_url_edit)
        form.addRow("Password", self.pg_password_edit)
        self._postgres_rows = [self.pg_url_edit, self.pg_password_edit]
        self._form = form
        form.addRow("Table", self.table_edit)
        form.addRow("Mapping", self.mode_combo)
        self.keep = KeepRow()  # retention: the writer deletes the oldest rows as it inserts
        form.addRow("Keep", self.keep)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        demo_row = QHBoxLayout()
        demo_row.addWidget(self.demo_button)
        demo_row.addWidget(self.demo_rate)
        demo_row.addStretch(1)

        # Labels that change while streaming must not change the panel's size: a wider label would widen the
        # dock, shrink the charts beside it and repaint all of them (a 15-25 ms stall, several times a second).
        self._state = "idle"
        self.state_label = QLabel("idle")
        self.state_label.setObjectName("ingestState")
        self.state_label.setWordWrap(True)
        self.state_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.error_label = QLabel("")
        self.error_label.setObjectName("ingestError")
        self.error_label.setWordWrap(True)
        self.counter_labels: dict[str, QLabel] = {}
        counters = QGroupBox("Live counters")
        grid = QGridLayout(counters)
        grid.setVerticalSpacing(2)
        grid.setHorizontalSpacing(12)
        grid.setContentsMargins(8, 4, 8, 4)
        for index, (key, title) in enumerate(COUNTERS):
            value = QLabel("–")
            value.setObjectName(f"counter_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bold = value.font()  # a font, not a style sheet: a styled label keeps its first palette's colours
            bold.setBold(True)
            value.setFont(bold)
            value.setMinimumWidth(QFontMetrics(bold).horizontalAdvance(COUNTER_WIDTH_SAMPLE))
            self.counter_labels[key] = value
            grid.addWidget(QLabel(title), index // 2, (index % 2) * 2)
            grid.addWidget(value, index // 2, (index % 2) * 2 + 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addWidget(self.handshake)
        layout.addLayout(buttons)
        layout.addLayout(demo_row)
        state_row = QHBoxLayout()
        state_row.addWidget(QLabel("State:"))
        state_row.addWidget(self.state_label, 1)
        layout.addLayout(state_row)
        layout.addWidget(counters)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

        self.target_combo.currentIndexChanged.connect(lambda _index: self._update_buttons())
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.demo_button.clicked.connect(lambda: self.demo_requested.emit(self.demo_rate.value()))
        controller.stats_changed.connect(self.show_stats)
        controller.started.connect(self._on_started)
        controller.stopped.connect(lambda _stats: self._update_buttons())
        controller.failed.connect(self.show_error)
        controller.demo_starting.connect(self._on_demo_starting)
        self.handshake.failed.connect(self.show_error)
        controller.workspace.session_changed.connect(self._on_session_changed)
        self._update_buttons()
        self.apply_theme()
        theme.notifier().changed.connect(self.apply_theme)

    def set_database(self, database: Database | None) -> None:
        self._database = database
        self._update_buttons()

    def _on_session_changed(self, session: Session | None) -> None:
        # The workspace stopped the previous run before opening this file: its counts belong to the old one.
        if session is not None and not self.controller.running:
            self.clear()
        self.set_database(session.database if session is not None else None)

    def clear(self) -> None:
        """Idle, no counts, no error: how the panel looks before any run."""
        for label in self.counter_labels.values():
            label.setText("–")
        self.state_label.setText("idle")
        self._state = "idle"
        self._color_state()
        self.error_label.setText("")

    def config(self) -> IngestConfig:
        target = self._target()
        url = self.url_edit.text().strip()
        if not url.startswith(("ws://", "wss://")):
            raise PulseError(f"{url or 'The URL'} is not a WebSocket URL (ws://… or wss://…).")
        table = self.table_edit.text().strip() or "readings"
        handshake = self.handshake
        return IngestConfig(url=url, db_path=target, table=table, raw=bool(self.mode_combo.currentData()),
                            subscribe=handshake.subscribe(), headers=handshake.headers(),
                            subprotocols=handshake.subprotocols(), **self.keep.options())

    def _postgres(self) -> bool:
        return self.target_combo.currentData() == "postgres"

    def _target(self) -> Path | str:
        if not self._postgres():
            if self._database is None or self._database.read_only:
                raise PulseError("Open a database read-write to ingest into it.")
            return Path(self._database.path)
        url = self.pg_url_edit.text().strip()
        require_server_url(url, "Enter a PostgreSQL URL: postgresql://user@host:5432/dbname")
        if has_password(url):
            self.pg_url_edit.setText(mask_url(url))
            raise PulseError("Put the password in the Password field (or PGPASSWORD, ~/.pgpass), not in the URL.")
        return url

    def start(self) -> None:
        try:
            config = self.config()
            # The ingest child inherits this environment: a missing ${NAME} or @FILE is said here, before it starts.
            check_resolvable(config.headers, config.subscribe)
            self._settings.set_stream_url(config.url)
            self._settings.set_ingest_table(config.table)
            self._settings.set_ingest_handshake(self.handshake.subscribe_edit.text().strip(),
                                                self.handshake.subprotocol_edit.text().strip())
            password = (self.pg_password_edit.text() or None) if self._postgres() else None
            self.controller.ask_and_start(config, password=password)  # asks first when it would create tables
        except PulseError as exc:
            self.show_error(exc)

    def stop(self) -> None:
        self.controller.stop()
        self.state_label.setText("stopping…")
        self.stop_button.setEnabled(False)

    def apply_theme(self) -> None:
        """State and error colours from the palette: each hue made readable on this scheme's background."""
        background = _window_color()
        error = theme.readable(ERROR_COLOR, background)
        self.error_label.setStyleSheet(f"color: {error.name()};")
        self._color_state()

    def _color_state(self) -> None:
        background = _window_color()
        hue = STATE_COLORS.get(self._state, "#555555")
        self.state_label.setStyleSheet(f"color: {theme.readable(hue, background).name()}; font-weight: bold;")

    def show_stats(self, stats: IngestStats) -> None:
        for key, label in self.counter_labels.items():
            value = getattr(stats, key)
            label.setText(f"{value:,.0f}" if isinstance(value, float) else f"{value:,}")
        self.state_label.setText(describe_state(stats))
        self._state = stats.state
        self._color_state()
        all_dead = stats.all_dead_letters_warning()  # the words `ingest` prints on the terminal
        if stats.last_error:
            self.error_label.setText(f"Last error: {stats.last_error}")
        elif all_dead:
            self.error_label.setText(f"{all_dead} Choose a new table name, or the raw mapping.")
        elif stats.state == "connected" and stats.written:  # recovered: the old problem is gone
            self.error_label.setText("")

    def show_error(self, error: PulseError) -> None:
        self.error_label.setText(str(error))
        self._update_buttons()

    def _on_started(self, config: IngestConfig) -> None:
        self.error_label.setText("")
        self.state_label.setText("connecting")
        if self.controller.demo_url:  # the URL field keeps the user's URL; the demo's is shown beside it
            self.state_label.setText(f"connecting to the demo stream at {config.url}")
        self.table_edit.setText(config.table)
        self._update_buttons()

    def _on_demo_starting(self) -> None:
        self.error_label.setText("")
        self.state_label.setText("starting the demo stream server…")
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.controller.running
        postgres = self._postgres()
        for widget in self._postgres_rows:
            widget.setVisible(postgres)
            self._form.labelForField(widget).setVisible(postgres)
        writable = postgres or (self._database is not None and not self._database.read_only)
        self.start_button.setEnabled(writable and not running)
        self.start_button.setToolTip("" if writable else "Open a database read-write to ingest into it")
        self.stop_button.setEnabled(running)
        self.demo_button.setEnabled(not running and (self._database is None or writable))
        for control in (self.url_edit, self.table_edit, self.mode_combo, self.target_combo, *self._postgres_rows):
            control.setEnabled(not running)
        self.handshake.set_running(running)
        self.keep.set_running(running)
