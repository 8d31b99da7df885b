"""The series table: rows read their values, clashes are refused, `watch --json` records come from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop_app.core import series
from desktop_app.core.activity import Activity
from desktop_app.core.metrics import MetricsSampler, Sample
from desktop_app.core.series import BUILTIN, Chart, Metric, Observation, Range, Series, Tile


@pytest.fixture
def sample(db_path: Path) -> Sample:
    with MetricsSampler(db_path) as sampler:
        return sampler.sample()


def row(name: str) -> Series:
    return next(row for row in BUILTIN if row.name == name)


def test_rows_read_a_sample_field_or_a_function(sample: Sample) -> None:
    observation = Observation(sample, Activity("commits/s", 4.0), 12.5)
    assert row("wal_file_mb").read(observation) == sample.wal_bytes  # raw bytes: JSON and metrics keep units
    assert row("db_mb").read(observation) == sample.data_bytes
    pending = dataclasses.replace(sample, wal_pending_frames=3, page_size=4096)
    assert row("wal_content_mb").read(Observation(pending)) == 3 * (4096 + 24)  # frame header included
    assert row("activity_per_s").read(observation) == 4.0
    assert row("activity_per_s").unit_of(observation) == "commits/s"
    assert row("ingest_rows_per_s").read(observation) == 12.5
    assert row("ingest_rows_per_s").read(Observation(sample)) == 0.0  # `watch` has no ingest rate


def test_json_record_is_the_sample_with_each_rows_key(sample: Sample) -> None:
    record = series.json_record(BUILTIN, sample)
    assert record == sample.to_dict()  # built-in keys are the sample's own fields, values and types alike
    extra = Series("pages_in_use", "pages in use", lambda o: o.sample.page_count - o.sample.freelist_count,
                   json_key="pages_in_use")
    record = series.json_record((*BUILTIN, extra), sample)
    assert list(record)[-1] == "pages_in_use"
    assert record["pages_in_use"] == sample.page_count - sample.freelist_count


def test_a_shared_chart_groups_its_rows_in_table_order() -> None:
    grouped = series.charts(BUILTIN)
    assert [chart.key for chart, _rows in grouped] == ["throughput", "activity", "wal", "db", "freelist",
                                                      "freelist_percent"]
    wal_rows = dict((chart.key, rows) for chart, rows in grouped)["wal"]
    assert [r.name for r in wal_rows] == ["wal_file_mb", "wal_content_mb"]
    assert grouped[2][0].range is Range.FROM_ZERO


@pytest.mark.parametrize(
    ("extra", "clash"),
    [
        (Series("db_mb", "again", "db_bytes"), "series name 'db_mb'"),
        (Series("x", "x", "db_bytes", tile=Tile("wal", "again")), "tile 'wal'"),
        (Series("x", "x", "db_bytes", json_key="wal_bytes"), "JSON key 'wal_bytes'"),
        (Series("x", "x", "db_bytes", metric=Metric("db_bytes", "again")), "metric 'db_bytes'"),
        (Series("x", "x", "db_bytes", chart=Chart("wal", "Another WAL")), "chart 'wal'"),
        (Series("x", "x", "db_bytes", tile=Tile("x", "x", detail="{data_bytes} B")), r"tile 'x' shows \['data_bytes'\]"),
    ],
)
def test_a_row_that_clashes_with_another_is_refused(extra: Series, clash: str) -> None:
    with pytest.raises(ValueError, match=clash):
        series.check((*BUILTIN, extra))
