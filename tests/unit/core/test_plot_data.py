"""Rows become points: numeric columns picked, x as numbers / ISO times / categories, NULLs out, downsampling."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from desktop_app.core import plot_data
from desktop_app.core.plot_data import ROW_NUMBER, PlotError


def test_numeric_columns_and_x_kinds() -> None:
    columns = ["day", "name", "count", "ratio"]
    rows = [("2024-01-01", "a", 1, None), ("2024-01-02", "b", "2", 0.5), ("2024-01-03", None, 3, 1.5)]
    assert plot_data.numeric_columns(columns, rows) == ["count", "ratio"]
    assert plot_data.x_kind([r[0] for r in rows]) == "time"
    assert plot_data.x_kind([r[1] for r in rows]) == "category"
    assert plot_data.x_kind([r[2] for r in rows]) == "number"
    assert plot_data.x_kind([None, None]) == "category"
    assert plot_data.numeric_columns(["blob", "huge"], [(b"12", 10**400)]) == []  # a BLOB is not a number
    numbers = plot_data.as_numbers([1, None, "2.5", "x", float("inf")])
    assert numbers[[0, 2]].tolist() == [1.0, 2.5] and np.isnan(numbers[[1, 3, 4]]).all()


def test_iso_dates_and_times_become_epoch_seconds_in_utc() -> None:
    assert plot_data.epoch_seconds("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    assert plot_data.epoch_seconds("2024-03-01 12:00:00") == datetime(2024, 3, 1, 12, tzinfo=UTC).timestamp()
    assert plot_data.epoch_seconds("2024-03-01T12:00:00+02:00") == datetime(2024, 3, 1, 10, tzinfo=UTC).timestamp()
    assert plot_data.epoch_seconds("12:30:05") == 12 * 3600 + 30 * 60 + 5
    assert plot_data.epoch_seconds("yesterday") is None and plot_data.epoch_seconds(5) is None


def test_two_series_against_a_number_x_sorted_with_nulls_left_out() -> None:
    rows = [(3, 30.0, 300), (1, 10.0, None), (2, None, 200), (None, 5.0, 5)]
    data = plot_data.build(["x", "a", "b"], rows, "x", ["a", "b"])
    assert data.x_kind == "number"
    a, b = data.curves
    assert (a.name, a.x.tolist(), a.y.tolist()) == ("a", [1.0, 3.0], [10.0, 30.0])
    assert (b.name, b.x.tolist(), b.y.tolist()) == ("b", [2.0, 3.0], [200.0, 300.0])
    assert data.skipped == 4 and "4 NULL or non-numeric values left out" in data.note()


def test_text_categories_are_placed_in_order_and_repeats_summed() -> None:
    rows = [("b", 2), ("a", 1), ("b", 5), (None, 9)]
    data = plot_data.build(["device", "n"], rows, "device", ["n"])
    assert data.x_kind == "category" and data.categories == ["b", "a"]
    assert data.curves[0].x.tolist() == [0.0, 1.0] and data.curves[0].y.tolist() == [7.0, 1.0]
    assert data.summed and "summed" in data.note()


def test_row_numbers_as_x_and_bad_choices_are_refused() -> None:
    data = plot_data.build(["v"], [(5,), (6,)], ROW_NUMBER, ["v"])
    assert data.x_kind == "row" and data.curves[0].x.tolist() == [1.0, 2.0]
    with pytest.raises(PlotError, match="at least one column"):
        plot_data.build(["v"], [(5,)], ROW_NUMBER, [])
    with pytest.raises(PlotError, match="No column named w"):
        plot_data.build(["v"], [(5,)], ROW_NUMBER, ["w"])


def test_a_huge_result_is_downsampled_keeping_its_peaks() -> None:
    rows = [(i, 1.0) for i in range(200_000)]
    rows[123_457] = (123_457, 99.0)
    data = plot_data.build(["x", "y"], rows, "x", ["y"], max_points=1_000)
    curve = data.curves[0]
    assert len(curve.y) <= 1_000 and curve.total == 200_000
    assert curve.y.max() == 99.0 and 123_457.0 in curve.x.tolist()
    assert np.all(np.diff(curve.x) > 0)
    assert data.note().startswith(f"{len(curve.y):,} of 200,000 points")


def test_live_chart_needs_one_number_or_label_number() -> None:
    assert plot_data.live_chart_problem(["n"], [(1,)]) is None
    assert plot_data.live_chart_problem(["device", "n"], [("a", 1)]) is None
    problem = plot_data.live_chart_problem(["x", "a", "b"], [(1, 2, 3)])
    assert problem is not None and "3 columns (x, a, b)" in problem
    assert plot_data.live_chart_problem(["a", "b"], [(1, "text")]) is not None


def test_prepare_picks_the_first_plot_a_worker_thread_can_build() -> None:
    first = plot_data.prepare(["x", "a", "label"], [(2, 4.0, "p"), (1, 1.5, "q")])
    assert (first.numeric, first.x, first.ys, first.kind, first.problem) == (["x", "a"], "x", ["a"], "line", None)
    assert first.data is not None and first.data.curves[0].y.tolist() == [1.5, 4.0]
    bars = plot_data.prepare(["device", "n"], [("a", 1), ("b", 2)])
    assert (bars.x, bars.ys, bars.kind) == ("device", ["n"], "bar") and bars.data is not None
    alone = plot_data.prepare(["n"], [(5,), (6,)])
    assert (alone.x, alone.ys, alone.kind) == (ROW_NUMBER, ["n"], "line")
    nothing = plot_data.prepare(["name"], [("a",)])
    assert nothing.data is None and nothing.problem is not None and "at least one column" in nothing.problem
