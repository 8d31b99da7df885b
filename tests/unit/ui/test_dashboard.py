from __future__ import annotations

import time
from pathlib import Path

import pytest

from desktop_app.core.activity import Activity, ActivityMeter
from desktop_app.core.database import connect_write
from desktop_app.core.metrics import MetricsSampler, RedFlag
from desktop_app.ui.panels.dashboard import (
    INGEST,
    WAL_CONTENT,
    WAL_FILE,
    WINDOWS,
    DashboardPanel,
    FollowingRange,
    Reading,
)

pytestmark = pytest.mark.gui


def reading(at: float, rows: float = 100.0, *, wal: int = 0, db: int = 1_000_000) -> Reading:
    return Reading(
        taken_at=at,
        ingest_rows_per_s=rows,
        activity=Activity("WAL frames/s", rows / 10),
        wal_file_bytes=wal,
        wal_content_bytes=wal // 2,
        db_bytes=db,
        page_count=db // 4096,
        freelist_count=3,
        freelist_percent=1.5,
    )


@pytest.fixture
def dashboard(qtbot) -> DashboardPanel:
    panel = DashboardPanel(sample_interval=0.25)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_real_samples_reach_the_charts(dashboard: DashboardPanel, db_path: Path, qtbot) -> None:
    meter = ActivityMeter()
    writer = connect_write(db_path)
    with MetricsSampler(db_path) as sampler:
        for index in range(5):
            with writer:
                writer.execute("INSERT INTO readings(device, value) VALUES ('d', ?)", (index,))
            sample = sampler.sample()
            dashboard.add_sample(sample, meter.update(sample, None), ingest_rows_per_s=10.0)
    writer.close()
    assert dashboard.point_count() == 5
    assert not dashboard.placeholder.isVisible()
    qtbot.waitUntil(lambda: dashboard.plotted_points() == 5, timeout=2000)
    assert list(dashboard.curves[INGEST].yData) == [10.0] * 5
    assert "Rows/s written by ingest" in dashboard.throughput_plot.titleLabel.text
    assert "WAL frames/s" in dashboard.tiles["activity"].text()
    assert "10" in dashboard.tiles["ingest"].text()


def test_redraw_timer_runs_only_while_visible_and_not_paused(dashboard: DashboardPanel, qtbot) -> None:
    assert not dashboard._timer.isActive()  # no data yet
    dashboard.add_reading(reading(time.time()))
    assert dashboard._timer.isActive()
    before = dashboard.redraw_count
    qtbot.waitUntil(lambda: dashboard.redraw_count > before + 2, timeout=2000)
    dashboard.set_paused(True)
    assert not dashboard._timer.isActive()
    assert dashboard.pause_button.text() == "Resume"
    assert dashboard.throughput_plot.getViewBox().state["mouseEnabled"] == [True, True]
    dashboard.set_paused(False)
    assert dashboard._timer.isActive()
    dashboard.hide()
    assert not dashboard._timer.isActive()


def test_window_buttons_choose_the_visible_span(dashboard: DashboardPanel) -> None:
    now = time.time()
    for index in range(400):  # 400 s of data at one sample per second
        dashboard.add_reading(reading(now - 400 + index, rows=float(index)))
    for label, seconds in WINDOWS:
        dashboard.window_buttons[seconds].click()
        assert dashboard.window_seconds == seconds, label
        low, high = dashboard.throughput_plot.getViewBox().viewRange()[0]
        # a window longer than the data shows the data across the full width
        assert high - low == pytest.approx(min(seconds, 400), abs=1.0)
        # only the window (plus a small margin) is handed to the curve
        assert dashboard.plotted_points() <= min(400, seconds * 1.05 + 2)


def test_red_flag_banner_shows_and_hides(dashboard: DashboardPanel) -> None:
    dashboard.show_red_flags([RedFlag("freelist_high", "40% of pages are free <b>")])
    assert dashboard.banner.isVisible()
    assert "freelist high" in dashboard.banner.text()
    assert "&lt;b&gt;" in dashboard.banner.text()  # messages are escaped, not rendered
    dashboard.show_red_flags([])
    assert not dashboard.banner.isVisible()


def test_activity_unit_follows_the_journal_mode(dashboard: DashboardPanel) -> None:
    now = time.time()
    dashboard.add_reading(
        Reading(now, 0.0, Activity("commits/s", 3.0), 0, 0, 4096, 1, 0, 0.0)
    )
    dashboard.redraw()
    assert "commits/s" in dashboard.tiles["activity"].text()
    assert dashboard.latest()["activity_per_s"] == 3.0


def test_clear_empties_the_charts(dashboard: DashboardPanel) -> None:
    dashboard.add_reading(reading(time.time()))
    dashboard.redraw()
    dashboard.clear()
    assert dashboard.point_count() == 0
    assert dashboard.plotted_points() == 0
    assert dashboard.placeholder.isVisible()


def test_following_range_rises_with_a_spike_and_comes_back() -> None:
    following = FollowingRange()
    assert following.update(10.0) == pytest.approx(11.0)
    assert following.update(9.0) == pytest.approx(11.0)  # small dips do not move it (hysteresis)
    assert following.update(1000.0) == pytest.approx(1100.0)  # at once
    tops = [following.update(10.0) for _ in range(20)]
    assert tops == sorted(tops, reverse=True)  # comes down step by step, never jumps back up
    assert 11.0 <= tops[-1] <= 11.0 / FollowingRange.SHRINK_BELOW  # back within the hysteresis band
    assert len([top for top in tops if top > 100]) <= 10  # within a few seconds of samples


def test_rate_charts_range_over_the_whole_visible_window(dashboard: DashboardPanel) -> None:
    now = time.time()

    def add(at: float, rows_per_s: float) -> None:
        dashboard.add_reading(reading(at, rows_per_s))  # activity gets a tenth of it
        dashboard.redraw()

    add(now - 15, 5000.0)  # one burst, then 15 s of calm at 4 samples a second: all inside the 1 min window
    for step in range(1, 61):
        add(now - 15 + step * 0.25, 50.0)
    for chart, burst in (("throughput", 5000.0), ("activity", 500.0)):
        low, high = dashboard.y_range(chart)
        assert low == 0.0 and high >= burst, f"{chart}: the burst 15 s ago is clipped at {high:.0f}"

    dashboard.clear()
    add(now - 90, 5000.0)  # outside the 1 min window: the range follows what is visible, not the buffer
    for step in range(40):
        add(now - 10 + step * 0.25, 50.0)
    assert dashboard.window_seconds == 60 and 50.0 < dashboard.y_range("throughput")[1] < 100.0


def test_an_empty_dashboard_shows_a_note_and_no_time_axis(qtbot) -> None:
    panel = DashboardPanel()
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.placeholder.isVisible()
    assert not panel.charts_built  # no plots (and no pyqtgraph) until data arrives
    panel.add_reading(reading(time.time()))
    qtbot.waitUntil(lambda: panel.charts_built and panel.graphics.isVisible(), timeout=2000)
    assert not panel.placeholder.isVisible()
    panel.clear()
    assert panel.placeholder.isVisible() and not panel.graphics.isVisible()


def test_wal_chart_names_both_lines_above_the_curves_and_draws_the_file_beneath(dashboard: DashboardPanel) -> None:
    dashboard.add_reading(reading(time.time(), wal=4_000_000))
    dashboard.redraw()
    title = dashboard.wal_plot.titleLabel.text
    assert "file on disk" in title and "not yet checkpointed" in title
    assert dashboard.wal_plot.legend is None  # nothing drawn over the curves
    file_curve, frames_curve = dashboard.curves[WAL_FILE], dashboard.curves[WAL_CONTENT]
    assert file_curve.opts["fillLevel"] == 0 and file_curve.opts["fillBrush"] is not None  # a band under the line
    assert file_curve.opts["pen"].color() != frames_curve.opts["pen"].color()


def test_the_timer_redraws_one_row_of_charts_per_tick_and_all_catch_up(dashboard: DashboardPanel) -> None:
    """Each tick brings one row of two charts up to date (repainting all six at once stalled the window for
    12-20 ms); a new reading reaches every chart within three ticks, and redraw() does all at once."""
    now = time.time()
    for index in range(4):
        dashboard.add_reading(reading(now - 4 + index, rows=10.0))
    dashboard.redraw()
    dashboard.add_reading(reading(now, rows=99.0))
    points = {column: curve.yData.size for column, curve in dashboard.curves.items()}
    assert set(points.values()) == {4}
    dashboard._redraw_next_row()
    assert float(dashboard.curves[INGEST].yData[-1]) == 99.0  # the first row: throughput and activity
    assert dashboard.curves[WAL_FILE].yData.size == 4  # not yet
    dashboard._redraw_next_row()
    dashboard._redraw_next_row()
    assert all(curve.yData.size == 5 for curve in dashboard.curves.values())


def test_a_hand_made_reading_names_only_series_the_table_keeps() -> None:
    """`Reading` is the by-hand path (tests, probes): a renamed row must not leave it drawing zeros."""
    from desktop_app.core.series import BUILTIN
    from desktop_app.ui.panels.dashboard import dashboard_rows

    assert set(reading(0.0).values()) == {row.name for row in dashboard_rows(BUILTIN)}
