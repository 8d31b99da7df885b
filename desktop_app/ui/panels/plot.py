"""Plot: the rows of a query result (or of the open table's page) as a line, scatter or bar chart.

The rows are those the grid holds when Plot is asked for: a snapshot, drawn once, not re-run. Which points
to draw is core/plot_data.py's business (x as numbers, ISO times or categories, NULLs out, downsampling),
and it runs on a worker thread (100,000 ISO times take a good part of a second to read): the panel says
"Preparing the plot…", a newer request drops the result of an older one (a generation count), and a panel
deleted meanwhile cancels its wait. Only the drawing, with pyqtgraph (imported on the first plot, not with
the window), is on the GUI thread. The panel also saves the chart as a PNG, hands a query of the right
shape to the live series editor ("Chart live…"), and forgets its rows when the open file changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui import theme
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs

if TYPE_CHECKING:  # core/plot_data.py loads numpy: on the first plot's worker thread, not with the window
    from desktop_app.core.plot_data import PlotData, Prepared

KINDS = (("Line", "line"), ("Scatter", "scatter"), ("Bar", "bar"))
PNG_FILTER = "PNG images (*.png)"
MAX_CATEGORY_LABELS = 40  # past this, every n-th category is labelled so the labels do not overlap
PREPARING = "Preparing the plot…"
FORGOTTEN = "The file changed: plot again (the rows plotted were those of the file open before)."


@dataclass(frozen=True)
class PlotSource:
    """Rows to plot: a snapshot of a grid. `sql` is the statement behind them (None for a table's page)."""

    title: str
    columns: list[str]
    rows: list[tuple]
    sql: str | None = None


def _prepare(columns: list[str], rows: list[tuple]) -> Prepared:
    """A worker thread's part of a first plot (numpy is imported here, off the GUI thread, the first time)."""
    from desktop_app.core import plot_data  # noqa: PLC0415

    return plot_data.prepare(columns, rows)


def _build(columns: list[str], rows: list[tuple], x: str, ys: list[str]) -> PlotData | str:
    """A worker thread's part of a redraw: the curves, or why there are none."""
    from desktop_app.core import plot_data  # noqa: PLC0415

    try:
        return plot_data.build(columns, rows, x, ys)
    except plot_data.PlotError as error:
        return str(error)


class PlotPanel(QWidget):
    chart_live_requested = Signal(str)  # a query of the live series' shape: the window opens the editor
    plotted = Signal()  # the chart shows the latest request: drawn, or emptied with the reason in the note

    def __init__(self, dialogs: Dialogs | ScriptedDialogs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plot")
        self.dialogs = dialogs
        self.source: PlotSource | None = None
        self.data: PlotData | None = None
        self.items: list[Any] = []  # what was drawn, one per curve (PlotDataItem or BarGraphItem)
        self.plot_widget: Any = None  # pyqtgraph.PlotWidget, made on the first plot
        self._pg: Any = None
        self.source_buttons: dict[str, QPushButton] = {}
        self.building = False  # the data of the latest request is being prepared on a worker thread
        self._generation = 0  # one more with each request: a result of an older one is dropped
        tasks: set[asyncio.Task] = set()
        self._tasks = tasks

        def let_go(*_args: object) -> None:  # runs while Qt destroys the panel: touches no widget
            for task in list(tasks):
                task.cancel()

        self.destroyed.connect(let_go)

        self.title = QLabel("Nothing plotted yet: Plot a query result in the console, or a table's rows here.")
        self.title.setObjectName("plotTitle")
        self.title.setWordWrap(True)
        self.source_bar = QHBoxLayout()
        self.source_bar.setContentsMargins(0, 0, 0, 0)
        self.x_box = QComboBox()
        self.x_box.setObjectName("plotX")
        self.x_box.setToolTip("The x axis: a column (numbers, ISO dates and times, or text categories) or the row number")
        self.y_list = QListWidget()
        self.y_list.setObjectName("plotY")
        self.y_list.setToolTip("The columns to draw, one curve each (only columns of numbers are offered)")
        self.y_list.setMaximumWidth(160)
        self.kind_box = QComboBox()
        self.kind_box.setObjectName("plotKind")
        for text, kind in KINDS:
            self.kind_box.addItem(text, kind)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setObjectName("plotExport")
        self.export_button.clicked.connect(self.ask_export)
        self.live_button = QPushButton("Chart live…")
        self.live_button.setObjectName("plotLive")
        self.live_button.setToolTip("Sample the query again and again on the dashboard (a number, or rows of label, number)")
        self.live_button.clicked.connect(self.chart_live)
        self.note = QLabel("")
        self.note.setObjectName("plotNote")
        self.message = QLabel("")
        self.message.setObjectName("plotMessage")
        self.message.setWordWrap(True)

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(QLabel("x:"))
        controls.addWidget(self.x_box, 1)
        controls.addWidget(self.kind_box)
        controls.addWidget(self.export_button)
        controls.addWidget(self.live_button)
        self.chart_area = QWidget()
        self.chart_layout = QVBoxLayout(self.chart_area)
        self.chart_layout.setContentsMargins(0, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.y_list)
        splitter.addWidget(self.chart_area)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([150, 600])  # the chart takes the width the column list does not need
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addLayout(self.source_bar)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.message)

        self.x_box.currentIndexChanged.connect(lambda _index: self.redraw())
        self.kind_box.currentIndexChanged.connect(lambda _index: self._redraw_kind())
        self.y_list.itemChanged.connect(lambda _item: self.redraw())
        theme.notifier().changed.connect(self.apply_theme)
        self._update_buttons()

    def add_source(self, text: str, provider: Callable[[], PlotSource | None], empty: str) -> QPushButton:
        """A button that plots what `provider` gives (`empty` is said when it gives nothing)."""
        button = QPushButton(text)
        button.clicked.connect(lambda: self.show_source(provider(), empty))
        self.source_bar.addWidget(button)
        self.source_buttons[text] = button
        return button

    def show_source(self, source: PlotSource | None, empty: str = "Nothing to plot.") -> None:
        if source is None or not source.columns:
            self.message.setText(empty)
            return
        self.set_rows(source)

    # Choosing --------------------------------------------------------------------------------------------
    def set_rows(self, source: PlotSource) -> asyncio.Task:
        """Plot `source`: x is its first column and y its other columns of numbers (else y is the first column
        against the row number); a text x starts as a bar chart. The columns are offered once the worker
        thread has read them (`plotted` is emitted when the chart is drawn)."""
        self.source = source
        self._clear_choices()  # the previous result's columns must not be picked for these rows meanwhile
        self.title.setText(source.title)  # it says how many rows (and whether they were cut)
        self.message.setText("")
        self._update_buttons()
        return self._start(lambda: _prepare(source.columns, source.rows), self._show_prepared)

    def _show_prepared(self, prepared: Prepared) -> None:
        from desktop_app.core.plot_data import ROW_NUMBER  # noqa: PLC0415 (loaded by the worker already)

        assert self.source is not None  # a request is dropped when the source goes
        for widget in (self.x_box, self.kind_box, self.y_list):
            widget.blockSignals(True)
        self.x_box.addItems([ROW_NUMBER, *self.source.columns])
        self.x_box.setCurrentText(prepared.x)
        for name in prepared.numeric:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in prepared.ys else Qt.CheckState.Unchecked)
            self.y_list.addItem(item)
        self.kind_box.setCurrentIndex(self.kind_box.findData(prepared.kind))
        for widget in (self.x_box, self.kind_box, self.y_list):
            widget.blockSignals(False)
        self._show_data(prepared.data if prepared.data is not None else str(prepared.problem))

    def _clear_choices(self) -> None:
        for widget in (self.x_box, self.y_list):
            widget.blockSignals(True)
            widget.clear()
            widget.blockSignals(False)

    def forget(self) -> None:
        """The open file changed: the rows plotted (and their query) belong to the file before, so the chart,
        its columns and its source go, and a plot being prepared is dropped."""
        if self.source is None:
            return
        self._generation += 1
        self.building = False
        self.source = None
        self.data = None
        self._clear()
        self._clear_choices()
        self.title.setText(FORGOTTEN)
        self.note.setText("")
        self.message.setText("")
        self._update_buttons()

    def choose(self, x: str, ys: Sequence[str], kind: str = "line") -> None:
        """Pick the axes and the kind as a user would (one redraw)."""
        for widget in (self.x_box, self.kind_box, self.y_list):
            widget.blockSignals(True)
        self.x_box.setCurrentText(x)
        self.kind_box.setCurrentIndex(self.kind_box.findData(kind))
        for index in range(self.y_list.count()):
            item = self.y_list.item(index)
            item.setCheckState(Qt.CheckState.Checked if item.text() in ys else Qt.CheckState.Unchecked)
        for widget in (self.x_box, self.kind_box, self.y_list):
            widget.blockSignals(False)
        self.redraw()

    def chosen_ys(self) -> list[str]:
        items = (self.y_list.item(index) for index in range(self.y_list.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    @property
    def kind(self) -> str:
        return str(self.kind_box.currentData())

    # Drawing ---------------------------------------------------------------------------------------------
    def redraw(self) -> asyncio.Task | None:
        """Build the curves of the chosen columns on a worker thread, then draw them."""
        source = self.source
        if source is None:
            return None
        x, ys = self.x_box.currentText(), self.chosen_ys()
        return self._start(lambda: _build(source.columns, source.rows, x, ys), self._show_data)

    def _start(self, work: Callable[[], Any], show: Callable[[Any], None]) -> asyncio.Task:
        """Run `work` on a worker thread and `show` its result here, unless a newer request came meanwhile."""
        self._generation += 1
        generation = self._generation
        self.building = True
        self.note.setText(PREPARING)

        async def run() -> None:
            result = await asyncio.to_thread(work)
            if generation != self._generation:  # superseded (or forgotten): a newer request draws
                return
            self.building = False
            show(result)
            self.plotted.emit()

        task = spawn(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _show_data(self, data: PlotData | str) -> None:
        if isinstance(data, str):
            self.data = None
            self._clear()
            self.note.setText(data)
            return
        self.data = data
        self._draw(data)
        self.note.setText(data.note())

    def _redraw_kind(self) -> None:
        """Line, scatter or bar: the same curves drawn again (a plot being prepared is drawn as chosen)."""
        if self.data is not None and not self.building:
            self._draw(self.data)
            self.plotted.emit()

    def apply_theme(self) -> None:
        """The chart's background, axes and lines follow the light or dark palette."""
        if self.data is not None:
            self._draw(self.data)

    def _ensure_plot(self) -> Any:
        if self.plot_widget is None:
            import pyqtgraph as pg  # noqa: PLC0415 (deferred: the window shows before this import)

            self._pg = pg
            self.plot_widget = pg.PlotWidget()
            self.plot_widget.setObjectName("plotChart")
            self.plot_widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            self.plot_widget.setMinimumHeight(160)
            self.plot_widget.getPlotItem().addLegend()
            self.chart_layout.addWidget(self.plot_widget)
        return self.plot_widget.getPlotItem()

    def _clear(self) -> None:
        if self.plot_widget is not None:
            self.plot_widget.getPlotItem().clear()
        self.items = []

    def _draw(self, data: PlotData) -> None:
        from desktop_app.core import plot_data  # noqa: PLC0415 (numpy: see TYPE_CHECKING)

        plot = self._ensure_plot()
        pg, colors = self._pg, theme.colors()
        self._clear()
        plot.setAxisItems({"bottom": self._x_axis(data)})
        plot.setLabel("bottom", data.x_name)
        plot.setLabel("left", ", ".join(curve.name for curve in data.curves))
        self.plot_widget.setBackground(colors.base)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setPen(pg.mkPen(colors.axis))
            axis.setTextPen(pg.mkPen(colors.muted))
        palette = list(colors.series.values())
        count = len(data.curves)
        width = plot_data.bar_width(data.curves[0].x) / count if data.curves and len(data.curves[0].x) else 0.8
        for index, curve in enumerate(data.curves):
            color = palette[index % len(palette)]
            if self.kind == "bar":
                offset = (index - (count - 1) / 2) * width
                item = pg.BarGraphItem(x=curve.x + offset, height=curve.y, width=width, brush=color, pen=None, name=curve.name)
                plot.addItem(item)
            elif self.kind == "scatter":
                item = plot.plot(curve.x, curve.y, pen=None, symbol="o", symbolSize=5, symbolPen=None, symbolBrush=color, name=curve.name)
            else:
                item = plot.plot(curve.x, curve.y, pen=pg.mkPen(color, width=2), name=curve.name)
            self.items.append(item)
        plot.enableAutoRange()

    def _x_axis(self, data: PlotData) -> Any:
        pg = self._pg
        if data.x_kind == "time":
            return pg.DateAxisItem(orientation="bottom", utcOffset=0)  # the times were read as UTC
        axis = pg.AxisItem("bottom")
        if data.x_kind == "category":
            step = max(1, -(-len(data.categories) // MAX_CATEGORY_LABELS))
            axis.setTicks([[(float(i), label) for i, label in enumerate(data.categories) if i % step == 0]])
        return axis

    # Actions ---------------------------------------------------------------------------------------------
    def ask_export(self) -> None:
        if self.data is None or self.plot_widget is None:
            self.message.setText("Plot something first: there is no chart to save.")
            return
        self.dialogs.ask_save_path("Export plot as PNG", self.export_png, suggested="plot.png", file_filter=PNG_FILTER)

    def export_png(self, path: Path) -> bool:
        """Save the chart as it is on screen (a PNG whatever the name's ending)."""
        if self.plot_widget is None:
            return False
        if not self.plot_widget.grab().save(str(path), "PNG"):
            self.message.setText(f"Could not write {path}: check the folder exists and is writable.")
            return False
        self.message.setText(f"Saved the plot to {path}")
        return True

    def chart_live(self) -> bool:
        """Hand the query to the live series editor, or say why this result cannot be a live series."""
        source = self.source
        if source is None:
            self.message.setText("Plot a query result first.")
            return False
        if source.sql is None:
            self.message.setText(
                "Chart live samples a query: this plot shows a table's rows. Write the query in the console "
                "(one number, or rows of label, number) and chart it from there."
            )
            return False
        from desktop_app.core.plot_data import live_chart_problem  # noqa: PLC0415 (numpy: see TYPE_CHECKING)

        problem = live_chart_problem(source.columns, source.rows)
        if problem is not None:
            self.message.setText(problem)
            return False
        self.chart_live_requested.emit(source.sql)
        return True

    def _update_buttons(self) -> None:
        has_rows = self.source is not None
        self.export_button.setEnabled(has_rows)
        self.live_button.setEnabled(has_rows)
