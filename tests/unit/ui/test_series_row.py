"""Adding a built-in series is one row: the dashboard, `watch --json` and the metrics endpoint all show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from desktop_app.cli import build_parser
from desktop_app.core import series
from desktop_app.core.activity import Activity
from desktop_app.core.metrics import MetricsSampler
from desktop_app.core.prometheus import FleetMetrics
from desktop_app.core.series import Chart, Metric, Range, Series, Tile
from desktop_app.ui.panels.dashboard import DashboardPanel
from desktop_app.verbs.watch import run_watch

pytestmark = pytest.mark.gui

PAGES_IN_USE = Series(
    "pages_in_use", "pages in use", lambda o: o.sample.page_count - o.sample.freelist_count, unit="pages",
    color="#1e88e5", chart=Chart("pages_in_use", "Pages in use", Range.AROUND), tile=Tile("pages_in_use", "in use"),
    json_key="pages_in_use", metric=Metric("pages_in_use", "Pages holding data (page_count - freelist_count)."),
)


def test_one_added_row_is_a_chart_a_tile_a_json_key_and_a_metric(
    qtbot, monkeypatch: pytest.MonkeyPatch, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(series, "BUILTIN", (*series.BUILTIN, PAGES_IN_USE))
    with MetricsSampler(db_path) as sampler:
        sample = sampler.sample()
    expected = sample.page_count - sample.freelist_count
    assert expected > 0

    panel = DashboardPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    panel.add_sample(sample, Activity("WAL frames/s", 0.0))
    panel.redraw()
    assert panel.latest()["pages_in_use"] == expected
    assert len(panel.plots) == 7 and "Pages in use" in panel.pages_in_use_plot.titleLabel.text
    column = list(panel.latest()).index("pages_in_use")
    assert list(panel.curves[column].yData) == [expected]
    assert panel.pages_in_use_plot.getAxis("bottom").isVisible()  # the lowest chart of its column
    assert f">{expected:,}<" in panel.tiles["pages_in_use"].text() and "in use" in panel.tiles["pages_in_use"].text()
    low, high = panel.y_range("pages_in_use")
    assert low < expected < high

    run_watch(build_parser().parse_args(["watch", str(db_path), "--interval", "0.05", "--seconds", "0.05", "--json"]))
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["pages_in_use"] == expected

    fleet = FleetMetrics()
    fleet.update("pulse", sample)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(fleet)
    families = {family.name: family for family in text_string_to_metric_families(generate_latest(registry).decode())}
    family = families["sqlite_pulse_pages_in_use"]
    assert family.documentation.startswith("Pages holding data") and family.type == "gauge"
    assert [(s.labels, s.value) for s in family.samples] == [({"db": "pulse"}, expected)]
