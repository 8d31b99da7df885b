"""Live charts: write throughput, WAL size, database size, freelist; a red-flag banner; 1 min / 5 min / 1 h.

Samples land in a numpy ring buffer as they arrive (a few per second); a QTimer redraws at 20 Hz while the
panel is visible and not paused, scrolling the shared time axis so the charts move smoothly. pyqtgraph
draws each curve from one PlotDataItem with peak downsampling and clipping to the visible range.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.activity import Activity
from desktop_app.core.metrics import RedFlag, Sample
from desktop_app.ui.ring_buffer import RingBuffer

WINDOWS = (("1 min", 60), ("5 min", 300), ("1 h", 3600))
REDRAW_MS = 50  # 20 Hz
MIN_SPAN_SECONDS = 20.0
BOTTOM_ROW = 2
MB = 1_000_000.0

# Buffer columns.
T, INGEST, ACTIVITY, WAL_FILE, WAL_CONTENT, DB_SIZE, PAGES, FREE_PAGES, FREE_PERCENT = range(9)
COLUMNS = 9

COLORS = {
    "ingest": "#2e9e5b",
    "activity": "#2f6fd6",
    "wal_file": "#9aa0a6",
    "wal_content": "#e37400",
    "db": "#8e44ad",
    "free": "#c0392b",
    "free_percent": "#d35400",
}


@dataclass(frozen=True)
class Reading:
    """What the dashboard plots for one sample."""

    taken_at: float
    ingest_rows_per_s: float
    activity: Activity
    wal_file_bytes: int
    wal_content_bytes: int
    db_bytes: int
    page_count: int
    freelist_count: int
    freelist_percent: float

    @classmethod
    def from_sample(cls, sample: Sample, activity: Activity, ingest_rows_per_s: float | None) -> Reading:
        frame_bytes = sample.page_size + 24
        return cls(
            taken_at=sample.taken_at,
            ingest_rows_per_s=ingest_rows_per_s or 0.0,
            activity=activity,
            wal_file_bytes=sample.wal_bytes,
            # Frames a checkpoint has still to copy (mxFrame - nBackfill): what the WAL really holds.
            wal_content_bytes=sample.wal_pending_frames * frame_bytes,
            # Pages the database has, those still in the WAL included (the file alone lags behind).
            db_bytes=sample.data_bytes or sample.db_bytes,
            page_count=sample.page_count,
            freelist_count=sample.freelist_count,
            freelist_percent=sample.freelist_percent,
        )


class ClockAxis(pg.DateAxisItem):
    """Wall-clock time axis that labels whole seconds as HH:MM:SS (no milliseconds on short spans)."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if spacing < 1:
            return super().tickStrings(values, scale, spacing)
        return [time.strftime("%H:%M:%S", time.localtime(value)) for value in values]


class DashboardPanel(QWidget):
    window_changed = Signal(int)
    paused_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None, *, sample_interval: float = 0.25) -> None:
        super().__init__(parent)
        self.setObjectName("dashboard")
        capacity = int(max(seconds for _label, seconds in WINDOWS) / sample_interval) + 64
        self._buffer = RingBuffer(capacity, COLUMNS)
        self._window_seconds = 60
        self._paused = False
        self._dirty = False
        self._activity_unit = "WAL frames/s"
        self._scrolled_at = 0.0
        self.redraw_count = 0

        self.banner = QLabel()
        self.banner.setObjectName("redFlagBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setStyleSheet(
            "QLabel#redFlagBanner { background: #fdecea; color: #8a1c1c; border: 1px solid #f5c2c0;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.banner.hide()

        self.placeholder = QLabel("Open a database (File ▸ Open…) or start the demo stream to see live charts.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #666; padding: 4px;")

        self.window_buttons: dict[int, QToolButton] = {}
        self._window_group = QButtonGroup(self)
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("Window:"))
        for label, seconds in WINDOWS:
            button = QToolButton()
            button.setText(label)
            button.setCheckable(True)
            button.setChecked(seconds == self._window_seconds)
            button.clicked.connect(lambda _checked=False, s=seconds: self.set_window(s))
            self._window_group.addButton(button)
            self.window_buttons[seconds] = button
            controls.addWidget(button)
        self.pause_button = QToolButton()
        self.pause_button.setText("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the charts to inspect them (pan and zoom with the mouse)")
        self.pause_button.toggled.connect(self.set_paused)
        controls.addSpacing(12)
        controls.addWidget(self.pause_button)
        controls.addStretch(1)
        self.summary = QLabel()
        self.summary.setObjectName("dashboardSummary")
        self.summary.setStyleSheet("color: #666;")
        controls.addWidget(self.summary)

        # The latest values, as text outside the plots (changing plot titles would re-layout the charts).
        self.tiles: dict[str, QLabel] = {}
        tiles = QHBoxLayout()
        tiles.setContentsMargins(0, 0, 0, 0)
        for key, caption, color in (
            ("ingest", "rows/s ingest", COLORS["ingest"]),
            ("activity", "WAL frames/s", COLORS["activity"]),
            ("wal", "WAL", COLORS["wal_content"]),
            ("db", "database", COLORS["db"]),
            ("freelist", "freelist", COLORS["free"]),
        ):
            tile = QLabel()
            tile.setObjectName(f"tile_{key}")
            tile.setTextFormat(Qt.TextFormat.RichText)
            tile.setStyleSheet(
                f"QLabel {{ border-left: 4px solid {color}; background: #f6f7f9; padding: 3px 8px; }}"
            )
            tile.setProperty("caption", caption)
            self.tiles[key] = tile
            tiles.addWidget(tile, 1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.graphics.setMinimumHeight(150)
        self.throughput_plot = self._add_plot(0, 0, "Rows/s written by ingest")
        self.activity_plot = self._add_plot(0, 1, "Write activity, all writers (per second)")
        self.wal_plot = self._add_plot(1, 0, "WAL size (MB)")
        self.db_plot = self._add_plot(1, 1, "Database size (MB)")
        self.freelist_plot = self._add_plot(2, 0, "Freelist pages")
        self.freelist_percent_plot = self._add_plot(2, 1, "Freelist (% of pages)")
        self.plots = [
            self.throughput_plot,
            self.activity_plot,
            self.wal_plot,
            self.db_plot,
            self.freelist_plot,
            self.freelist_percent_plot,
        ]
        # No setXLink: pyqtgraph aligns linked views by screen position, which skews side-by-side plots.

        self.wal_plot.addLegend(offset=(8, 4), labelTextSize="8pt")
        self.curves = {
            INGEST: self._add_curve(self.throughput_plot, COLORS["ingest"], None),
            ACTIVITY: self._add_curve(self.activity_plot, COLORS["activity"], None),
            WAL_FILE: self._add_curve(self.wal_plot, COLORS["wal_file"], "file on disk"),
            WAL_CONTENT: self._add_curve(self.wal_plot, COLORS["wal_content"], "not yet checkpointed"),
            DB_SIZE: self._add_curve(self.db_plot, COLORS["db"], None),
            FREE_PAGES: self._add_curve(self.freelist_plot, COLORS["free"], None),
            FREE_PERCENT: self._add_curve(self.freelist_percent_plot, COLORS["free_percent"], None),
        }
        self._set_titles(None)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(controls)
        layout.addLayout(tiles)
        layout.addWidget(self.banner)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.graphics, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self._apply_mouse_mode()

    # Plot construction ------------------------------------------------------------------------------------
    def _add_plot(self, row: int, col: int, title: str) -> pg.PlotItem:
        plot = self.graphics.addPlot(row=row, col=col, axisItems={"bottom": ClockAxis(orientation="bottom")})
        plot.setTitle(f"<span style='font-size:9pt; color:#555'>{title}</span>")
        # No grid, and the time axis only under the bottom row: software rendering repaints every axis and
        # grid line on each scroll, and these cut a redraw from ~20 ms to ~5 ms.
        if row < BOTTOM_ROW:
            plot.hideAxis("bottom")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.getAxis("left").setWidth(56)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        # Ranges are set by redraw(): pyqtgraph's auto-range would re-range after every scroll and paint twice.
        plot.disableAutoRange()
        plot.setLimits(yMin=0)
        return plot

    @staticmethod
    def _add_curve(plot: pg.PlotItem, color: str, name: str | None) -> pg.PlotDataItem:
        curve = plot.plot(pen=pg.mkPen(color, width=1), name=name, skipFiniteCheck=True)
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        return curve

    # Data in ----------------------------------------------------------------------------------------------
    def add_sample(self, sample: Sample, activity: Activity, ingest_rows_per_s: float | None = None) -> None:
        self.add_reading(Reading.from_sample(sample, activity, ingest_rows_per_s))
        self.show_red_flags(sample.red_flags)

    def add_reading(self, reading: Reading) -> None:
        self._buffer.append(
            [
                reading.taken_at,
                reading.ingest_rows_per_s,
                reading.activity.per_second,
                reading.wal_file_bytes / MB,
                reading.wal_content_bytes / MB,
                reading.db_bytes / MB,
                reading.page_count,
                reading.freelist_count,
                reading.freelist_percent,
            ]
        )
        self._activity_unit = reading.activity.unit
        self._dirty = True
        if self.placeholder.isVisible():
            self.placeholder.hide()
        self._update_timer()

    def show_red_flags(self, flags: list[RedFlag]) -> None:
        if not flags:
            self.banner.hide()
            return
        text = "<br>".join(f"<b>⚠ {html.escape(flag.code.replace('_', ' '))}</b>: {html.escape(flag.message)}" for flag in flags)
        if text != self.banner.text():
            self.banner.setText(text)
        self.banner.show()

    def clear(self) -> None:
        self._buffer.clear()
        self.banner.hide()
        self.placeholder.show()
        for curve in self.curves.values():
            curve.setData([], [])
        self._set_titles(None)
        self._update_timer()

    def point_count(self) -> int:
        """Samples held (what the charts can show)."""
        return len(self._buffer)

    def latest(self) -> dict[str, float] | None:
        """The newest plotted values by name (None before the first sample)."""
        last = self._buffer.last()
        if last is None:
            return None
        names = ("time", "ingest_rows_per_s", "activity_per_s", "wal_file_mb", "wal_content_mb", "db_mb",
                 "page_count", "freelist_count", "freelist_percent")
        return dict(zip(names, (float(value) for value in last), strict=True))

    def plotted_points(self) -> int:
        """Points handed to the throughput chart at the last redraw (before pyqtgraph downsamples them)."""
        x = self.curves[ACTIVITY].xData
        return 0 if x is None else len(x)

    # Controls ---------------------------------------------------------------------------------------------
    @property
    def window_seconds(self) -> int:
        return self._window_seconds

    def set_window(self, seconds: int) -> None:
        self._window_seconds = seconds
        self.window_buttons[seconds].setChecked(True)
        self._dirty = True
        if self._paused:
            self.set_paused(False)
        self.redraw()
        self.window_changed.emit(seconds)

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self._apply_mouse_mode()
        if not paused:
            self._dirty = True  # the next redraw restores the ranges the user may have zoomed
        self._update_timer()
        self.paused_changed.emit(paused)

    def _apply_mouse_mode(self) -> None:
        for plot in self.plots:
            plot.setMouseEnabled(x=self._paused, y=self._paused)

    def _update_timer(self) -> None:
        should_run = self.isVisible() and not self._paused and len(self._buffer) > 0
        if should_run and not self._timer.isActive():
            self._timer.start()
        elif not should_run and self._timer.isActive():
            self._timer.stop()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._dirty = True
        self._update_timer()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self._update_timer()

    # Drawing ----------------------------------------------------------------------------------------------
    def redraw(self) -> None:
        if not len(self._buffer):
            return
        now = time.time()
        start = now - self._window_seconds
        first = self._buffer.first_key()
        if first is not None and first > start:  # less data than the window: fill the width, then scroll
            start = min(first, now - MIN_SPAN_SECONDS)
        changed = self._dirty
        if changed:
            data = self._buffer.since(start - self._window_seconds * 0.05)
            x = data[T]
            for column, curve in self.curves.items():
                curve.setData(x, data[column])
            self._set_y_ranges(data)
            self._set_titles(self._buffer.last())
            self._dirty = False
        if self._paused:
            return
        # Scrolling repaints every chart (axes included): do it only when the curves would move a pixel.
        seconds_per_pixel = (now - start) / max(1.0, self.throughput_plot.getViewBox().width())
        if not changed and now - self._scrolled_at < seconds_per_pixel:
            return
        self._scrolled_at = now
        for plot in self.plots:
            plot.setXRange(start, now, padding=0)
        self.redraw_count += 1

    def _set_y_ranges(self, data) -> None:
        """Rates and freelist from zero; sizes around their values, so slow growth stays visible."""
        for plot, columns, from_zero in (
            (self.throughput_plot, (INGEST,), True),
            (self.activity_plot, (ACTIVITY,), True),
            (self.wal_plot, (WAL_FILE, WAL_CONTENT), True),
            (self.db_plot, (DB_SIZE,), False),
            (self.freelist_plot, (FREE_PAGES,), True),
            (self.freelist_percent_plot, (FREE_PERCENT,), True),
        ):
            values = data[list(columns)]
            high = float(values.max()) if values.size else 0.0
            low = 0.0 if from_zero or not values.size else float(values.min())
            span = high - low
            pad = span * 0.1 if span > 0 else max(abs(high) * 0.05, 1.0)
            plot.setYRange(max(0.0, low - (0 if from_zero else pad)), high + pad, padding=0)

    def _set_tile(self, key: str, value: str, caption: str | None = None) -> None:
        tile = self.tiles[key]
        caption = caption or tile.property("caption")
        text = f"<span style='font-size:13pt; font-weight:600'>{value}</span> <span style='color:#666'>{caption}</span>"
        if tile.text() != text:
            tile.setText(text)

    def _set_titles(self, last) -> None:
        """The tiles above the charts show the newest values."""
        if last is None:
            for key in self.tiles:
                self._set_tile(key, "–")
            self.summary.setText("")
            return
        self._set_tile("ingest", f"{last[INGEST]:,.0f}")
        self._set_tile("activity", f"{last[ACTIVITY]:,.0f}", self._activity_unit)
        self._set_tile("wal", f"{last[WAL_FILE]:,.2f} MB", f"WAL · {last[WAL_CONTENT]:,.2f} MB to checkpoint")
        self._set_tile("db", f"{last[DB_SIZE]:,.2f} MB", f"database · {int(last[PAGES]):,} pages")
        self._set_tile("freelist", f"{last[FREE_PERCENT]:.1f} %", f"free · {int(last[FREE_PAGES]):,} pages")
        updated = time.strftime("%H:%M:%S", time.localtime(last[T]))
        self.summary.setText(f"{len(self._buffer):,} samples · updated {updated}")
