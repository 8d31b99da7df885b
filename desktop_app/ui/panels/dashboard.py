"""Live charts: write throughput, WAL size, database size, freelist; a red-flag banner; 1 min / 5 min / 1 h.

Which charts, tiles and buffer columns exist, their titles, colours and y-range policy, all come from the
series table (core/series.py); this module names no series itself, so a new row there is a new chart or tile.

The panel's controls and value tiles are plain widgets; the charts (pyqtgraph, numpy: a third of a second
to import) are built on the first redraw after data arrives, so the window shows before they load and an
empty window shows a short note instead of six empty plots with a meaningless time axis. Samples land in a
numpy ring buffer (readings that arrive before it exists wait in a list); a 20 Hz QTimer, while the panel
is visible and not paused, brings one row of two charts up to date per tick (new data, ranges, and a
scroll of the time axis when it would move a pixel), so no tick repaints all six charts at once.

Colours come from the palette (ui/theme.py) and follow theme changes; line widths follow the screen's
device pixel ratio. Rate charts range over every value the window shows: a spike raises the range at once,
stays in range while it is visible, and once it scrolls out of the window the range comes back down over a
few samples.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import series as series_table
from desktop_app.core.activity import Activity
from desktop_app.core.alerts import AlertState
from desktop_app.core.metrics import RedFlag, Sample
from desktop_app.core.query_series import QueryValue
from desktop_app.core.series import Observation, Range, Series
from desktop_app.ui import theme

WINDOWS = (("1 min", 60), ("5 min", 300), ("1 h", 3600))
REDRAW_MS = 50  # 20 Hz: each row of charts every 150 ms
MIN_SPAN_SECONDS = 20.0
TILE_MIN_CHARS = 12
CHART_COLUMNS = 2
T = 0  # buffer column 0 is the time; the table's dashboard rows follow, in order
LINE_WIDTH = 1.5  # logical pixels; times the device pixel ratio
# Attributes that exist once the charts are built; reading one (or any `{chart}_plot`) builds them.
CHART_ATTRIBUTES = frozenset({"graphics", "plots", "curves", "_buffer"})
BAND_MARK, LINE_MARK = "▬", "━"  # how a shared chart's legend draws a band and a line


def dashboard_rows(table: Sequence[Series]) -> list[Series]:
    """The rows the dashboard keeps, in buffer-column order (column 1 onwards)."""
    return [row for row in table if row.on_dashboard]


# Buffer columns of the built-in table, for tests and probes that pick one curve.
_BUILTIN_COLUMNS = {row.name: column for column, row in enumerate(dashboard_rows(series_table.BUILTIN), start=1)}
INGEST = _BUILTIN_COLUMNS["ingest_rows_per_s"]
ACTIVITY = _BUILTIN_COLUMNS["activity_per_s"]
WAL_FILE = _BUILTIN_COLUMNS["wal_file_mb"]
WAL_CONTENT = _BUILTIN_COLUMNS["wal_content_mb"]


class FollowingRange:
    """A chart's upper y bound that follows a spike at once and comes back once the spike has passed.

    `update(high)` takes the maximum of the recent values: above the bound it becomes the bound (plus
    headroom); within [SHRINK_BELOW x bound, bound] nothing changes (hysteresis: no jitter); below, the bound
    shrinks by DECAY per update, so it returns over a few samples instead of jumping.
    """

    HEADROOM = 1.1
    SHRINK_BELOW = 0.6
    DECAY = 0.75

    def __init__(self) -> None:
        self.top = 0.0

    def reset(self) -> None:
        self.top = 0.0

    def update(self, high: float) -> float:
        wanted = max(high * self.HEADROOM, 1.0)
        if wanted > self.top:
            self.top = wanted
        elif wanted < self.top * self.SHRINK_BELOW:
            self.top = max(wanted, self.top * self.DECAY)
        return self.top


@dataclass(frozen=True)
class Reading:
    """One sample's dashboard figures given by hand (tests, probes); the live path is `add_sample`."""

    taken_at: float
    ingest_rows_per_s: float
    activity: Activity
    wal_file_bytes: int
    wal_content_bytes: int
    db_bytes: int
    page_count: int
    freelist_count: int
    freelist_percent: float

    def values(self) -> dict[str, float]:
        """Raw values by built-in series name (rows it does not know read 0)."""
        return {
            "ingest_rows_per_s": self.ingest_rows_per_s,
            "activity_per_s": self.activity.per_second,
            "wal_file_mb": self.wal_file_bytes,
            "wal_content_mb": self.wal_content_bytes,
            "db_mb": self.db_bytes,
            "page_count": self.page_count,
            "freelist_count": self.freelist_count,
            "freelist_percent": self.freelist_percent,
        }


def _clock_axis(pg: Any, **kwargs: Any) -> Any:
    """A wall-clock time axis labelling whole seconds as HH:MM:SS (pyqtgraph is imported lazily)."""

    class ClockAxis(pg.DateAxisItem):
        def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
            if spacing < 1:
                return super().tickStrings(values, scale, spacing)
            return [time.strftime("%H:%M:%S", time.localtime(value)) for value in values]

    return ClockAxis(**kwargs)


class WelcomeNote(QFrame):
    """A short first-run note above the charts, with a button that dismisses it."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeNote")
        self.text = QLabel()
        self.text.setObjectName("welcomeText")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("welcomeDismiss")
        self.close_button.setText("Got it")
        self.close_button.setToolTip("Hide this note (it does not come back)")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 6, 6)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_text(self, text: str) -> None:
        self.text.setText(text)
        self.show()

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()

    def apply_colors(self, colors: theme.Colors) -> None:
        self.setStyleSheet(
            f"QFrame#welcomeNote {{ background: {colors.notice_background.name()}; border-radius: 4px; }}"
            f" QLabel#welcomeText {{ color: {colors.notice_text.name()}; }}"
        )


class DashboardPanel(QWidget):
    window_changed = Signal(int)
    paused_changed = Signal(bool)

    def __init__(
        self, parent: QWidget | None = None, *, sample_interval: float = 0.25, series: Sequence[Series] | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("dashboard")
        self._configure(series_table.BUILTIN if series is None else series_table.check(series))
        self._capacity = int(max(seconds for _label, seconds in WINDOWS) / sample_interval) + 64
        self._pending: list[list[float]] = []  # readings that arrived before the charts were built
        self._charts_built = False
        self._folded = False  # the Browse layout folds the charts away, leaving the tiles
        self._window_seconds = 60
        self._paused = False
        self._dirty_rows: set[int] = set()  # chart rows whose curves and ranges wait for new data
        self._titles_dirty = False
        self._next_row = 0
        self.redraw_count = 0
        self._flags: list[tuple[str, str]] = []  # the banner's lines: the database's red flags…
        self._alerts: list[tuple[str, str]] = []  # …then the user's firing alerts

        self.banner = QLabel()
        self.banner.setObjectName("redFlagBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.hide()
        self.welcome = WelcomeNote()

        self.placeholder = QLabel(
            "No data yet. Open a database (File ▸ Open…, or drop a file here), or press Start demo stream\n"
            "in the Ingest panel, to see its writes, WAL and size live."
        )
        self.placeholder.setObjectName("dashboardEmpty")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

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
        controls.addWidget(self.summary)

        # The latest values, as text outside the plots (changing plot titles would re-layout the charts).
        self.tiles: dict[str, QLabel] = {}
        self._tile_rows: dict[str, Series] = {}
        tiles = self._tiles_layout = QHBoxLayout()
        tiles.setContentsMargins(0, 0, 0, 0)
        self._build_tiles()

        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self._layout.addLayout(controls)
        self._layout.addWidget(self.welcome)
        self._layout.addLayout(tiles)
        self._layout.addWidget(self.banner)
        self._layout.addWidget(self.placeholder, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw_next_row)
        self.colors = theme.colors()
        theme.notifier().changed.connect(self.apply_theme)
        self.apply_theme()
        self._set_titles(None)

    def _configure(self, table: Sequence[Series]) -> None:
        """Take `table`'s dashboard rows as the buffer's columns, its charts and their range policies."""
        self._rows = dashboard_rows(table)  # buffer columns 1..n
        self._charts = series_table.charts(self._rows)
        self._grid_rows = max(1, math.ceil(len(self._charts) / CHART_COLUMNS))
        self._units = {row.name: row.unit for row in self._rows}  # `unit_of` rows update theirs per sample
        self._captions: dict[str, str | None] = {}  # `caption_of` rows: their tile's caption now
        self._scrolled_at = [0.0] * self._grid_rows
        self._ranges = {chart.key: FollowingRange() for chart, _rows in self._charts if chart.range is Range.FOLLOW}

    def _build_tiles(self) -> None:
        for tile in self.tiles.values():
            self._tiles_layout.removeWidget(tile)
            tile.deleteLater()
        self.tiles.clear()
        self._tile_rows.clear()
        for row in self._rows:
            if row.tile is None:
                continue
            key = row.tile.key
            self._tile_rows[key] = row
            tile = QLabel()
            tile.setObjectName(f"tile_{key}")
            tile.setTextFormat(Qt.TextFormat.RichText)
            tile.setProperty("caption", row.tile.caption)
            tile.setProperty("series", row.tile.color or _color_key(row))
            # An explicit minimum width, so a longer value never widens the window (see the status bar).
            tile.setMinimumWidth(tile.fontMetrics().horizontalAdvance("0" * TILE_MIN_CHARS))
            self.tiles[key] = tile
            self._tiles_layout.addWidget(tile)  # no stretch: a tile gets its text's width when the row has room

    @property
    def rows(self) -> list[Series]:
        """The rows drawn now, in buffer-column order."""
        return list(self._rows)

    def set_series(self, table: Sequence[Series]) -> None:
        """Draw `table` from now on (the user added, changed or removed a query series): the charts and tiles
        are rebuilt, and the history of every row that stays is kept."""
        table = series_table.check(table)
        if [row.name for row in dashboard_rows(table)] == [row.name for row in self._rows] and \
                [row.chart for row in dashboard_rows(table)] == [row.chart for row in self._rows]:
            self._rows = dashboard_rows(table)  # same columns and charts: new functions, nothing to rebuild
            return
        old_names = [row.name for row in self._rows]
        if self._charts_built:
            history = self._buffer.since(-math.inf)
            held = [list(map(float, column)) for column in history]
            self._layout.removeWidget(self.graphics)
            self.graphics.deleteLater()
            for attribute in ("graphics", "plots", "curves", "_buffer"):
                self.__dict__.pop(attribute, None)
            self._charts_built = False
        else:
            held = [list(column) for column in zip(*self._pending, strict=True)] if self._pending else []
        self._configure(table)
        self._pending = []
        if held:
            columns = {name: held[index] for index, name in enumerate(old_names, start=1)}
            zeros = [0.0] * len(held[T])
            new_columns = [held[T]] + [columns.get(row.name, zeros) for row in self._rows]
            self._pending = [list(row) for row in zip(*new_columns, strict=True)]
        self._build_tiles()
        self.apply_theme()
        self._mark_dirty()
        if self._pending:
            self._show_charts(True)
            if self.isVisible():
                self.ensure_charts()
        self._update_timer()

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: the chart parts, which exist once built.
        chart_part = name in CHART_ATTRIBUTES or name.endswith("_plot")
        if chart_part and not self.__dict__.get("_charts_built", True):
            self.ensure_charts()
            return getattr(self, name)
        plots = self.__dict__.get("_plots_by_key", {})
        if name.endswith("_plot") and name.removesuffix("_plot") in plots:  # `wal_plot`: the chart keyed "wal"
            return plots[name.removesuffix("_plot")]
        raise AttributeError(name)

    # Plot construction ------------------------------------------------------------------------------------
    @property
    def charts_built(self) -> bool:
        return self._charts_built

    def ensure_charts(self) -> None:
        """Import pyqtgraph and build the charts (once); readings held so far move into the ring buffer."""
        if self._charts_built:
            return
        self._charts_built = True
        import pyqtgraph as pg  # noqa: PLC0415 (deferred: the window shows before this import)

        from desktop_app.ui.ring_buffer import RingBuffer  # noqa: PLC0415 (numpy)

        self._pg = pg
        self._buffer = RingBuffer(self._capacity, 1 + len(self._rows))
        for row in self._pending:
            self._buffer.append(row)
        self._pending = []
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.graphics.setMinimumHeight(150)
        # Two charts to a row, in table order; each chart's rows share its plot.
        count = len(self._charts)
        self._plots_by_key = {}  # by dict, not setattr: a chart's key must never shadow a method
        for index, (chart, _rows) in enumerate(self._charts):
            at = (index // CHART_COLUMNS, index % CHART_COLUMNS)
            self._plots_by_key[chart.key] = self._add_plot(*at, time_axis=index + CHART_COLUMNS >= count)
        self.plots = list(self._plots_by_key.values())
        # No setXLink: pyqtgraph aligns linked views by screen position, which skews side-by-side plots.
        # No in-plot legend: a shared chart's title names its lines in their colours, above the curves.
        columns = {row.name: column for column, row in enumerate(self._rows, start=1)}
        self.curves = {}
        self._plot_columns = {}
        for plot, (_chart, rows) in zip(self.plots, self._charts, strict=True):
            self._plot_columns[plot] = [columns[series.name] for series in rows]
            for series in rows:
                self.curves[columns[series.name]] = self._add_curve(plot)
        self._layout.addWidget(self.graphics, 1)
        self.graphics.setVisible(self.point_count() > 0 and not self._folded)
        self._apply_mouse_mode()
        self._style_charts()
        self._chart_rows = [self.plots[row : row + CHART_COLUMNS] for row in range(0, count, CHART_COLUMNS)]
        self._plot_charts = {plot: chart for plot, (chart, _rows) in zip(self.plots, self._charts, strict=True)}
        self._mark_dirty()

    def _add_plot(self, row: int, col: int, *, time_axis: bool) -> Any:
        plot = self.graphics.addPlot(row=row, col=col, axisItems={"bottom": _clock_axis(self._pg, orientation="bottom")})
        # No grid, and the time axis only under the lowest chart of each column: software rendering repaints
        # every axis and grid line on each scroll, and these cut a redraw from ~20 ms to ~5 ms.
        if not time_axis:
            plot.hideAxis("bottom")
        for side in ("top", "bottom", "left", "right"):
            # No unit label on any axis: without this each range change re-renders an empty label's HTML.
            plot.getAxis(side).enableAutoSIPrefix(False)
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
    def _add_curve(plot: Any) -> Any:
        curve = plot.plot(skipFiniteCheck=True)
        curve.setClipToView(True)
        curve.setDownsampling(auto=True, method="peak")
        return curve

    # Theme ------------------------------------------------------------------------------------------------
    def line_width(self) -> float:
        """Chart pen width in device pixels: cosmetic pens ignore the scale, so scale them ourselves."""
        return LINE_WIDTH * max(1.0, self.devicePixelRatioF())

    def apply_theme(self) -> None:
        """Re-read the palette's colours: tiles, banner, notes and (when built) the charts."""
        colors = self.colors = theme.colors()  # the application palette: set before the widgets see it
        self.banner.setStyleSheet(
            f"QLabel#redFlagBanner {{ background: {colors.danger_background.name()}; color: {colors.danger_text.name()};"
            f" border: 1px solid {colors.danger_text.name()}; border-radius: 4px; padding: 6px; }}"
        )
        self.welcome.apply_colors(colors)
        muted = colors.muted.name()
        self.placeholder.setStyleSheet(f"color: {muted}; padding: 4px;")
        self.summary.setStyleSheet(f"color: {muted};")
        for tile in self.tiles.values():
            accent = self._line_color(tile.property("series")).name()
            value_color = colors.tile_values.get(tile.property("series")) or theme.readable(colors.text, colors.tile_background)
            tile.setStyleSheet(
                f"QLabel {{ border-left: 4px solid {accent}; background: {colors.tile_background.name()};"
                f" color: {value_color.name()}; padding: 3px 8px; }}"
            )
            tile.setProperty("rendered", "")  # forces _set_tile to rebuild the caption colour
        self._retitle_tiles()
        if self._charts_built:
            self._style_charts()

    def _style_charts(self) -> None:
        pg, colors = self._pg, self.colors
        self.graphics.setBackground(colors.base)
        axis_pen = pg.mkPen(colors.axis, width=1)
        for plot in self.plots:
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(axis_pen)
                axis.setTextPen(pg.mkPen(colors.muted))
        width = self.line_width()
        for column, curve in self.curves.items():
            row = self._rows[column - 1]
            color = self._line_color(_color_key(row))
            if row.style == "band":
                # Drawn first and three times as wide, translucent, over a band down to zero: where the frames
                # line lies on it, the file's line still shows on both sides, and after a checkpoint the band
                # shows the file's size while the frames line drops.
                halo = QColor(color)
                halo.setAlpha(150)
                band = QColor(color)
                band.setAlpha(45)
                curve.setPen(pg.mkPen(halo, width=width * 3))
                curve.setFillLevel(0)
                curve.setBrush(pg.mkBrush(band))
            else:
                curve.setPen(pg.mkPen(color, width=width))
        muted = colors.muted.name()
        for plot, (chart, rows) in zip(self.plots, self._charts, strict=True):
            title = html.escape(chart.title, quote=False)
            if len(rows) > 1:
                title += ": " + " &nbsp;".join(
                    f"<span style='color:{self._line_color(_color_key(row)).name()}'>"
                    f"{BAND_MARK if row.style == 'band' else LINE_MARK} {html.escape(row.title, quote=False)}</span>"
                    for row in rows
                )
            plot.setTitle(f"<span style='font-size:9pt; color:{muted}'>{title}</span>")

    def _line_color(self, key: str) -> QColor:
        """A palette series colour, or a row's own colour made readable on the chart background."""
        if key in self.colors.series:
            return self.colors.series[key]
        if QColor.isValidColorName(key):
            return theme.readable(key, self.colors.base, theme.LINE_CONTRAST)
        return self.colors.muted

    def event(self, event: QEvent) -> bool:
        # Moved to a screen with another scale (Qt 6.6+): pens follow the new device pixel ratio.
        if event.type() == QEvent.Type.DevicePixelRatioChange and self.__dict__.get("_charts_built"):
            self._style_charts()
        return super().event(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "tiles"):
            self.apply_theme()

    # Data in ----------------------------------------------------------------------------------------------
    def add_sample(
        self, sample: Sample, activity: Activity, ingest_rows_per_s: float | None = None,
        queries: Mapping[str, QueryValue] | None = None,
    ) -> None:
        observation = Observation(sample, activity, ingest_rows_per_s, queries or {})
        units = {row.name: row.unit_of(observation) for row in self._rows if row.unit_of is not None}
        self._captions = {row.name: row.caption_of(observation) for row in self._rows if row.caption_of is not None}
        self._add(sample.taken_at, {row.name: row.read(observation) for row in self._rows}, units)
        self.show_red_flags(sample.red_flags)

    def add_reading(self, reading: Reading) -> None:
        self._add(reading.taken_at, reading.values(), {"activity_per_s": reading.activity.unit})

    def _add(self, taken_at: float, values: dict[str, Any], units: dict[str, str | None]) -> None:
        """One buffer row from raw values by series name (a missing or None value draws at 0)."""
        row = [taken_at] + [float(values.get(series.name) or 0.0) / series.scale for series in self._rows]
        if self._charts_built:
            self._buffer.append(row)
        else:
            self._pending.append(row)  # the first redraw builds the charts and takes these
        self._units.update({name: unit for name, unit in units.items() if unit and name in self._units})
        self._mark_dirty()
        if self.placeholder.isVisible() or not self._charts_built:
            self._show_charts(True)
        self._update_timer()

    def _show_charts(self, shown: bool) -> None:
        self.placeholder.setVisible(not shown)
        if self._charts_built:
            self.graphics.setVisible(shown and not self._folded)

    def set_folded(self, folded: bool) -> None:
        """Fold the charts away (tiles stay) or bring them back, without building them just for that: building
        imports pyqtgraph, which must not delay a file's window."""
        self._folded = folded
        if self._charts_built:
            self.graphics.setVisible(not folded)

    def show_red_flags(self, flags: list[RedFlag]) -> None:
        self._flags = [(flag.code.replace("_", " "), flag.message) for flag in flags]
        self._show_banner()

    def show_alerts(self, firing: list[AlertState]) -> None:
        """The user's alerts that fire now, in the banner after the database's own red flags."""
        self._alerts = [(f"alert {state.rule.text}", state.message) for state in firing]
        self._show_banner()

    def _show_banner(self) -> None:
        lines = [*self._flags, *self._alerts]
        if not lines:
            self.banner.hide()
            return
        text = "<br>".join(f"<b>⚠ {html.escape(title)}</b>: {html.escape(message)}" for title, message in lines)
        if text != self.banner.text():
            self.banner.setText(text)
        self.banner.show()

    def clear(self) -> None:
        self._pending = []
        for following in self._ranges.values():
            following.reset()
        if self._charts_built:
            self._buffer.clear()
            for curve in self.curves.values():
                curve.setData([], [])
        self._flags, self._alerts = [], []
        self.banner.hide()
        self._show_charts(False)
        self._set_titles(None)
        self._update_timer()

    def point_count(self) -> int:
        """Samples held (what the charts can show)."""
        return len(self._buffer) if self._charts_built else len(self._pending)

    def _last_row(self) -> Any:
        if not self._charts_built:
            return self._pending[-1] if self._pending else None
        return self._buffer.last()

    def latest(self) -> dict[str, float] | None:
        """The newest plotted values by name (None before the first sample)."""
        last = self._last_row()
        if last is None:
            return None
        names = ("time", *(row.name for row in self._rows))
        return dict(zip(names, (float(value) for value in last), strict=True))

    def plotted_points(self) -> int:
        """Points handed to the first chart at the last redraw (before pyqtgraph downsamples them)."""
        if not self._charts_built or not self.curves:
            return 0
        x = next(iter(self.curves.values())).xData
        return 0 if x is None else len(x)

    def y_range(self, plot_name: str) -> tuple[float, float]:
        """The visible y range of a chart, by its key in the series table ('throughput', 'wal', 'db'...)."""
        self.ensure_charts()
        low, high = self._plots_by_key[plot_name].getViewBox().viewRange()[1]
        return float(low), float(high)

    # Controls ---------------------------------------------------------------------------------------------
    @property
    def window_seconds(self) -> int:
        return self._window_seconds

    def set_window(self, seconds: int) -> None:
        if seconds not in self.window_buttons:
            seconds = min(self.window_buttons, key=lambda option: abs(option - seconds))
        self._window_seconds = seconds
        self.window_buttons[seconds].setChecked(True)
        self._mark_dirty()
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
            self._mark_dirty()  # the next redraws restore the ranges the user may have zoomed
        self._update_timer()
        self.paused_changed.emit(paused)

    def _apply_mouse_mode(self) -> None:
        if not self._charts_built:
            return
        for plot in self.plots:
            plot.setMouseEnabled(x=self._paused, y=self._paused)

    def _update_timer(self) -> None:
        should_run = self.isVisible() and not self._paused and self.point_count() > 0
        if should_run and not self._timer.isActive():
            self._timer.start()
        elif not should_run and self._timer.isActive():
            self._timer.stop()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._mark_dirty()
        if self._charts_built:
            self._style_charts()  # the screen (and its pixel ratio) may have changed
        self._update_timer()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self._update_timer()

    # Drawing ----------------------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Bring every chart up to date now (the timer does one row of charts per tick)."""
        self._redraw_rows(range(self._grid_rows))

    def _redraw_next_row(self) -> None:
        """The timer's tick. Repainting all six charts at once keeps the event loop busy for 12-20 ms (software
        rendering), long enough to stutter the window under load; one row per tick is about a third of that."""
        row = self._next_row
        self._next_row = (row + 1) % self._grid_rows
        self._redraw_rows((row,))

    def _redraw_rows(self, rows: Any) -> None:
        if not self.point_count():
            return
        self.ensure_charts()
        now = time.time()
        start = now - self._window_seconds
        first = self._buffer.first_key()
        if first is not None and first > start:  # less data than the window: fill the width, then scroll
            start = min(first, now - MIN_SPAN_SECONDS)
        dirty = [row for row in rows if row in self._dirty_rows]
        if dirty:
            data = self._buffer.since(start - self._window_seconds * 0.05)
            x = data[T]
            for row in dirty:
                for plot in self._chart_rows[row]:
                    for column in self._plot_columns[plot]:
                        self.curves[column].setData(x, data[column])
                    self._set_y_range(plot, data, start)
                self._dirty_rows.discard(row)
            if self._titles_dirty:
                self._set_titles(self._buffer.last())
                self._titles_dirty = False
        if self._paused:
            return
        # Scrolling repaints the row's charts (axes included): do it only when the curves would move a pixel.
        seconds_per_pixel = (now - start) / max(1.0, self.plots[0].getViewBox().width()) if self.plots else 1.0
        scrolled = False
        for row in rows:
            if row not in dirty and now - self._scrolled_at[row] < seconds_per_pixel:
                continue
            self._scrolled_at[row] = now
            for plot in self._chart_rows[row]:
                plot.setXRange(start, now, padding=0)
            scrolled = True
        if scrolled:
            self.redraw_count += 1

    def _mark_dirty(self) -> None:
        self._dirty_rows = set(range(self._grid_rows))
        self._titles_dirty = True

    def _set_y_range(self, plot: Any, data: Any, start: float) -> None:
        """Rates and freelist from zero, ranged over every value visible from `start` (a spike anywhere in the
        window stays on the chart; the range comes back once it has scrolled out); sizes around the window's
        values, so slow growth stays visible."""
        chart = self._plot_charts[plot]
        columns = self._plot_columns[plot]
        if chart.range is Range.FOLLOW:
            values = data[columns[0], data[T] >= start]
            if not values.size:
                values = data[columns[0], -1:]
            high = float(values.max()) if values.size else 0.0
            plot.setYRange(0.0, self._ranges[chart.key].update(high), padding=0)
            return
        from_zero = chart.range is Range.FROM_ZERO
        values = data[list(columns)]
        high = float(values.max()) if values.size else 0.0
        low = 0.0 if from_zero or not values.size else float(values.min())
        span = high - low
        pad = span * 0.1 if span > 0 else max(abs(high) * 0.05, 1.0)
        plot.setYRange(max(0.0, low - (0 if from_zero else pad)), high + pad, padding=0)

    def _set_tile(self, key: str, value: str, caption: str | None = None) -> None:
        tile = self.tiles[key]
        caption = caption or tile.property("caption")
        muted = self.colors.muted.name()
        text = f"<span style='font-size:13pt; font-weight:600'>{value}</span> <span style='color:{muted}'>{caption}</span>"
        if tile.text() != text:
            tile.setText(text)

    def _retitle_tiles(self) -> None:
        self._set_titles(self._last_row() if hasattr(self, "_pending") else None)

    def _set_titles(self, last: Any) -> None:
        """The tiles above the charts show the newest values."""
        if last is None:
            for key in self.tiles:
                self._set_tile(key, "–")
            self.summary.setText("")
            return
        values = dict(zip((row.name for row in self._rows), last[1:], strict=True))
        for key, row in self._tile_rows.items():
            detail = row.tile.detail if row.tile else None
            caption = detail.format_map({**values, "unit": self._units[row.name]}) if detail else None
            caption = self._captions.get(row.name) or caption
            self._set_tile(key, row.fmt.format(values[row.name]), caption)
        updated = time.strftime("%H:%M:%S", time.localtime(last[T]))
        self.summary.setText(f"{self.point_count():,} samples · updated {updated}")


def _color_key(row: Series) -> str:
    return row.color or row.name
