"""The Plot panel: two curves of the right data, a date axis, bars of text categories, a PNG, Chart live; the
data prepared off the GUI thread (the newest request wins, a deleted panel lets its build go); the rows
forgotten when the open file changes."""

from __future__ import annotations

import struct
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QTimer

from desktop_app.ui import theme
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.plot import PlotPanel, PlotSource
from tests.unit.ui.conftest import open_in

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot, qloop, scripted: ScriptedDialogs) -> PlotPanel:
    widget = PlotPanel(scripted)
    widget.resize(640, 420)
    qtbot.addWidget(widget)
    return widget


def plot(qtbot, panel: PlotPanel, source: PlotSource, timeout: int = 10_000) -> None:
    """`set_rows` and wait until the chart is drawn (the data is prepared on a worker thread)."""
    with qtbot.waitSignal(panel.plotted, timeout=timeout):
        panel.set_rows(source)


def test_a_number_x_and_two_y_columns_make_two_curves(qtbot, panel: PlotPanel) -> None:
    rows = [(3, 9.5, 30), (1, 1.5, None), (2, 4.5, 20)]
    plot(qtbot, panel, PlotSource("Query result", ["x", "a", "b"], rows, "SELECT x, a, b FROM t"))
    assert panel.x_box.currentText() == "x" and panel.chosen_ys() == ["a", "b"] and panel.kind == "line"
    assert len(panel.items) == 2
    xs_a, ys_a = panel.items[0].getData()
    xs_b, ys_b = panel.items[1].getData()
    assert (list(xs_a), list(ys_a)) == ([1.0, 2.0, 3.0], [1.5, 4.5, 9.5])
    assert (list(xs_b), list(ys_b)) == ([2.0, 3.0], [20.0, 30.0])
    legend = panel.plot_widget.getPlotItem().legend
    assert [label.text for _sample, label in legend.items] == ["a", "b"]
    assert "1 NULL or non-numeric values left out" in panel.note.text()

    with qtbot.waitSignal(panel.plotted, timeout=10_000):
        panel.choose("x", ["b"], "scatter")
    assert len(panel.items) == 1 and panel.items[0].opts["symbol"] == "o"


def test_the_chart_follows_the_theme(qapp, qtbot, panel: PlotPanel) -> None:
    plot(qtbot, panel, PlotSource("Query result", ["x", "y"], [(1, 2), (2, 3)], "SELECT 1"))
    try:
        theme.apply_theme(qapp, "dark")
        assert panel.plot_widget.backgroundBrush().color() == theme.colors().base
        assert theme.colors().dark
    finally:
        theme.apply_theme(qapp, "system")
    assert panel.plot_widget.backgroundBrush().color() == theme.colors().base


def test_iso_dates_get_a_date_axis(qtbot, panel: PlotPanel) -> None:
    rows = [("2024-05-01", 3), ("2024-05-02", 5), ("2024-05-03", 4)]
    plot(qtbot, panel, PlotSource("Query result", ["day", "n"], rows, "SELECT day, n FROM t"))
    axis = panel.plot_widget.getPlotItem().getAxis("bottom")
    assert type(axis).__name__ == "DateAxisItem"
    xs, ys = panel.items[0].getData()
    assert xs[0] == datetime(2024, 5, 1, tzinfo=UTC).timestamp() and list(ys) == [3.0, 5.0, 4.0]
    assert "times in UTC" in panel.note.text()


def test_text_categories_make_a_bar_chart(qtbot, panel: PlotPanel) -> None:
    rows = [("dev0", 10), ("dev1", 7), ("dev2", 12)]
    plot(qtbot, panel, PlotSource("Table readings", ["device", "n"], rows))
    assert panel.kind == "bar"
    bars = panel.items[0]
    assert type(bars).__name__ == "BarGraphItem"
    assert list(bars.opts["x"]) == [0.0, 1.0, 2.0] and list(bars.opts["height"]) == [10.0, 7.0, 12.0]
    axis = panel.plot_widget.getPlotItem().getAxis("bottom")
    assert type(axis).__name__ == "AxisItem"
    assert [label for _x, label in axis._tickLevels[0]] == ["dev0", "dev1", "dev2"]


def test_png_export_writes_a_valid_png(qtbot, panel: PlotPanel, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    plot(qtbot, panel, PlotSource("Query result", ["x", "y"], [(1, 2), (2, 3)], "SELECT 1"))
    target = tmp_path / "chart.png"
    scripted.paths = deque([target])
    panel.export_button.click()
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width > 0 and height > 0
    assert str(target) in panel.message.text()


def test_chart_live_takes_a_label_number_query_and_explains_otherwise(qtbot, panel: PlotPanel) -> None:
    plot(qtbot, panel, PlotSource("Query result", ["x", "a", "b"], [(1, 2, 3)], "SELECT x, a, b FROM t"))
    assert not panel.chart_live()
    assert "3 columns (x, a, b)" in panel.message.text()
    plot(qtbot, panel, PlotSource("Table t", ["device", "n"], [("a", 1)]))
    assert not panel.chart_live() and "table's rows" in panel.message.text()
    sql = "SELECT device, count(*) FROM readings GROUP BY device"
    plot(qtbot, panel, PlotSource("Query result", ["device", "count(*)"], [("a", 1)], sql))
    with qtbot.waitSignal(panel.chart_live_requested, timeout=1000) as blocker:
        panel.live_button.click()
    assert blocker.args == [sql]


def test_the_window_plots_the_open_tables_rows_and_charts_a_query_live(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    table_button = window.plot.source_buttons["Plot the open table's rows"]
    table_button.click()
    assert "Open a table" in window.plot.message.text()  # nothing open in the data view yet

    grid = window.schema.browser
    grid.open_table("readings")
    qtbot.waitUntil(lambda: grid.model is not None and grid.model.rowCount() > 0 and not grid.model.fetching, timeout=5000)
    with qtbot.waitSignal(window.plot.plotted, timeout=10_000):
        table_button.click()
    assert window.docks["plot"].toggleViewAction() in window.menus["view"].actions()
    assert window.plot.source is not None and window.plot.source.sql is None
    assert window.plot.x_box.currentText() == "id" and window.plot.chosen_ys() == ["value"]
    xs, ys = window.plot.items[0].getData()
    assert len(xs) == grid.model.rowCount() and ys[1] == 0.5  # the fixture's value is id's predecessor * 0.5

    console_button = window.plot.source_buttons["Plot the console's result"]
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i, i * i AS sq FROM n"
    with qtbot.waitSignal(window.console.query_finished, timeout=10_000):
        window.console.run(many)
    qtbot.waitUntil(lambda: not window.console.busy, timeout=10_000)
    with qtbot.waitSignal(window.plot.plotted, timeout=10_000):
        console_button.click()
    assert window.plot.source.sql == many and window.plot.chosen_ys() == ["sq"]
    assert window.plot.source.title == "Query result (2,000 rows)"  # all received, not only those scrolled to
    assert window.plot.data.total == 2000

    sql = "SELECT device, count(*) FROM readings GROUP BY device"
    with qtbot.waitSignal(window.console.query_finished, timeout=10_000):
        window.console.run(sql)
    qtbot.waitUntil(lambda: not window.console.busy, timeout=10_000)
    with qtbot.waitSignal(window.plot.plotted, timeout=10_000):
        window.console.plot_button.click()  # the console's own Plot… button: the Plot dock comes forward
    assert not window.docks["plot"].isHidden()
    assert window.plot.kind == "bar" and window.plot.data.categories == [f"dev{i}" for i in range(7)]
    window.plot.live_button.click()
    editor = window.numbers.editor
    assert editor is not None and editor.sql.toPlainText() == sql
    editor.reject()


def iso_rows(count: int) -> list[tuple]:
    """`count` rows of (ISO date-time one second apart, a number), as SQLite's datetime() writes them."""
    start = datetime(2024, 1, 1)
    return [((start + timedelta(seconds=i)).isoformat(" "), float(i % 97)) for i in range(count)]


def test_the_gui_stays_responsive_while_a_large_time_plot_is_prepared(qtbot, panel: PlotPanel) -> None:
    plot(qtbot, panel, PlotSource("Warm-up", ["t", "n"], iso_rows(3)))  # pyqtgraph and numpy imported first
    source = PlotSource("Query result (200,000 rows)", ["t", "n"], iso_rows(200_000), "SELECT t, n FROM r")
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    started = time.perf_counter()
    with qtbot.waitSignal(panel.plotted, timeout=60_000):
        panel.set_rows(source)
        assert panel.note.text() == "Preparing the plot…" and panel.building
    took = time.perf_counter() - started
    timer.stop()
    worst = max(b - a for a, b in zip([started, *ticks], ticks, strict=False))
    print(f"200,000 ISO times: prepared and drawn in {took * 1000:.0f} ms; worst gap between 10 ms ticks {worst * 1000:.0f} ms")
    assert panel.data is not None and panel.data.x_kind == "time" and panel.data.total == 200_000
    assert worst < 0.1, f"the GUI thread stalled {worst * 1000:.0f} ms"
    assert took > 2 * worst, f"the build ({took * 1000:.0f} ms) was too quick to show the GUI thread was free"


def test_a_newer_request_wins_over_one_still_being_prepared(qtbot, panel: PlotPanel) -> None:
    panel.set_rows(PlotSource("Old", ["t", "n"], iso_rows(50_000)))
    with qtbot.waitSignal(panel.plotted, timeout=30_000):
        panel.set_rows(PlotSource("New", ["x", "y"], [(1, 10), (2, 20)]))
    qtbot.waitUntil(lambda: not panel._tasks, timeout=30_000)  # the old build ended too: it drew nothing
    assert panel.title.text() == "New" and panel.x_box.currentText() == "x"
    xs, ys = panel.items[0].getData()
    assert (list(xs), list(ys)) == ([1.0, 2.0], [10.0, 20.0]) and panel.data is not None and panel.data.total == 2


def test_a_panel_deleted_while_it_prepares_lets_the_work_go(qtbot, qloop, scripted: ScriptedDialogs) -> None:
    doomed = PlotPanel(scripted)
    task = doomed.set_rows(PlotSource("Big", ["t", "n"], iso_rows(50_000)))
    shiboken6.delete(doomed)
    qtbot.waitUntil(task.done, timeout=30_000)
    assert task.cancelled()  # nothing touched the deleted widgets (an error would reach the excepthook)


def test_forget_clears_the_chart_and_says_to_plot_again(qtbot, panel: PlotPanel) -> None:
    plot(qtbot, panel, PlotSource("Query result", ["device", "n"], [("a", 1)], "SELECT device, n FROM t"))
    panel.forget()
    assert panel.source is None and panel.data is None and panel.items == []
    assert "The file changed: plot again" in panel.title.text() and panel.x_box.count() == 0
    assert not panel.live_button.isEnabled() and not panel.chart_live()
    task = panel.set_rows(PlotSource("Big", ["t", "n"], iso_rows(20_000)))
    panel.forget()  # a plot forgotten while it is prepared is never drawn, whenever its build ends
    plot(qtbot, panel, PlotSource("Again", ["x", "y"], [(1, 2)]))
    qtbot.waitUntil(task.done, timeout=30_000)
    assert panel.title.text() == "Again" and panel.data is not None and panel.data.total == 1


def test_the_window_forgets_the_plot_when_another_file_opens(qtbot, window, db_path: Path, delete_mode_db: Path) -> None:
    open_in(qtbot, window, db_path)
    sql = "SELECT device, count(*) FROM readings GROUP BY device"
    with qtbot.waitSignal(window.console.query_finished, timeout=10_000):
        window.console.run(sql)
    qtbot.waitUntil(lambda: not window.console.busy, timeout=10_000)
    with qtbot.waitSignal(window.plot.plotted, timeout=10_000):
        window.console.plot_button.click()
    assert window.plot.live_button.isEnabled()
    open_in(qtbot, window, delete_mode_db)
    assert window.plot.source is None and window.plot.items == []
    assert "The file changed: plot again" in window.plot.title.text()
    assert not window.plot.live_button.isEnabled()
