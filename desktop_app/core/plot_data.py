"""A result's rows as points to draw: which columns are numbers, x as numbers, times or categories, NULLs out.

Pure (no Qt, no I/O), so the plot panel only draws what `build` returns. x is a number column as it is, ISO
dates and times as epoch seconds (naive ones read as UTC, as SQLite's `datetime()` writes them), or text as
categories placed at 0, 1, 2 … (a repeated label's values are summed, as a bar chart of a GROUP BY shows
them). A row whose x or y is NULL or not a number is left out of that curve and counted. A curve longer than
`max_points` is peak-downsampled (each bucket keeps its lowest and highest point) so spikes still show; the
note says how many points are drawn of how many.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Literal

import numpy as np

from desktop_app.core.errors import PulseError

XKind = Literal["number", "time", "category", "row"]
ROW_NUMBER = "(row number)"  # the x choice that numbers the rows 1, 2, 3 …
MAX_POINTS = 10_000  # per curve: more is not visible on a screen, and costs every repaint


class PlotError(PulseError):
    """The chosen columns cannot be plotted (no y column, an unknown name)."""


@dataclass(frozen=True)
class Curve:
    name: str
    x: np.ndarray  # float64, sorted by x for number and time axes
    y: np.ndarray  # float64
    total: int  # points before downsampling


@dataclass(frozen=True)
class PlotData:
    x_name: str
    x_kind: XKind
    curves: list[Curve]
    categories: list[str] = field(default_factory=list)  # the label at x = 0, 1, 2 … (category x only)
    skipped: int = 0  # values left out: NULL or not a number (x or y)
    summed: bool = False  # a category appeared more than once and its values were added up

    @property
    def shown(self) -> int:
        return sum(len(curve.y) for curve in self.curves)

    @property
    def total(self) -> int:
        return sum(curve.total for curve in self.curves)

    def note(self) -> str:
        """What the plot shows of the rows, in a line under it."""
        parts = [f"{self.shown:,} points" if self.shown == self.total else f"{self.shown:,} of {self.total:,} points (downsampled, peaks kept)"]
        if self.skipped:
            parts.append(f"{self.skipped:,} NULL or non-numeric values left out")
        if self.summed:
            parts.append(f"values of a repeated {self.x_name} summed")
        if self.x_kind == "time":
            parts.append("times in UTC")
        return " · ".join(parts)


def number(value: object) -> float | None:
    """`value` as a finite float: an INTEGER, a REAL, or text that reads as a number; else None."""
    if isinstance(value, bool | int | float | str):
        try:
            result = float(value)
        except (ValueError, OverflowError):
            return None
        return result if math.isfinite(result) else None
    return None


def as_numbers(values: Sequence[object]) -> np.ndarray:
    """`values` as float64, NaN where one is NULL or not a finite number (numpy converts a column at C speed;
    a column with text that is not a number, or a BLOB, goes value by value)."""
    array: np.ndarray | None = None
    if not any(isinstance(value, bytes) for value in values):
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            array = None
    if array is None:
        array = np.array([_or_nan(number(value)) for value in values], dtype=np.float64)
    array[~np.isfinite(array)] = np.nan
    return array


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def epoch_seconds(value: object) -> float | None:
    """An ISO date, date-time or time of day as seconds since 1970-01-01 UTC (a time alone: of that day)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        if ":" in text and "-" not in text[:8]:  # 12:30, 12:30:05.5: a time of day
            moment = datetime.combine(date(1970, 1, 1), time.fromisoformat(text))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _present(values: Sequence[object]) -> np.ndarray:
    return np.fromiter((value is not None for value in values), dtype=bool, count=len(values))


def numeric_columns(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns whose values are all numbers or NULL, with at least one number: what a y axis can show."""
    found = []
    for index, name in enumerate(columns):
        values = [row[index] for row in rows]
        present = _present(values)
        if present.any() and not np.isnan(as_numbers(values)[present]).any():
            found.append(name)
    return found


def x_values(values: Sequence[object]) -> tuple[XKind, np.ndarray, list[str]]:
    """How x reads (all numbers, else all ISO times, else categories), its values (NaN for NULL) and, for
    categories, the labels in order of first appearance (x is then 0, 1, 2 …)."""
    present = _present(values)
    numbers = as_numbers(values)
    if present.any() and not np.isnan(numbers[present]).any():
        return "number", numbers, []
    times = _times(values) if present.any() else None
    if times is not None:
        return "time", times, []
    positions: dict[str, int] = {}
    xs = [math.nan if value is None else float(positions.setdefault(str(value), len(positions))) for value in values]
    return "category", np.array(xs, dtype=np.float64), list(positions)


def _times(values: Sequence[object]) -> np.ndarray | None:
    """Epoch seconds of every value (NaN for NULL), or None at the first that is not an ISO time."""
    seconds = np.full(len(values), np.nan)
    for index, value in enumerate(values):
        if value is not None:
            moment = epoch_seconds(value)
            if moment is None:
                return None
            seconds[index] = moment
    return seconds


def x_kind(values: Sequence[object]) -> XKind:
    return x_values(values)[0]


def build(
    columns: Sequence[str], rows: Sequence[Sequence[object]], x: str, ys: Sequence[str], *, max_points: int = MAX_POINTS
) -> PlotData:
    """The curves of `ys` against `x` (a column, or ROW_NUMBER) over `rows`."""
    if not ys:
        raise PlotError("Pick at least one column to plot on the y axis.")
    unknown = [name for name in (x, *ys) if name not in columns and name != ROW_NUMBER]
    if unknown:
        raise PlotError(f"No column named {', '.join(unknown)} in this result.")
    kind: XKind
    categories: list[str] = []
    if x == ROW_NUMBER:
        kind, xs = "row", np.arange(1, len(rows) + 1, dtype=np.float64)
    else:
        kind, xs, categories = x_values([row[columns.index(x)] for row in rows])
    skipped, summed, curves = 0, False, []
    for name in ys:
        index = columns.index(name)
        values = as_numbers([row[index] for row in rows])
        keep = ~(np.isnan(xs) | np.isnan(values))
        skipped += len(rows) - int(keep.sum())
        px, py = xs[keep], values[keep]
        if kind == "category":
            positions = px.astype(np.int64)
            totals = np.zeros(len(categories))
            np.add.at(totals, positions, py)
            present = np.unique(positions)
            summed = summed or len(present) < len(positions)
            px, py = present.astype(np.float64), totals[present]
        elif kind != "row":
            order = np.argsort(px, kind="stable")
            px, py = px[order], py[order]
        total = len(py)
        px, py = downsample(px, py, max_points)
        curves.append(Curve(name, px, py, total))
    return PlotData(x, kind, curves, categories, skipped, summed)


@dataclass(frozen=True)
class Prepared:
    """A result's first plot: its number columns (the y choices), the x and ys picked, the kind to draw it
    as (bars for a text x) and its curves, or why there are none."""

    numeric: list[str]
    x: str
    ys: list[str]
    kind: Literal["line", "bar"]
    data: PlotData | None
    problem: str | None = None


def prepare(columns: Sequence[str], rows: Sequence[Sequence[object]], *, max_points: int = MAX_POINTS) -> Prepared:
    """What the plot panel shows first for `rows`: x is the first column and y the other columns of numbers
    (else y is the first column against the row number). All the per-row work of a first plot, in one call
    a worker thread can run."""
    numeric = numeric_columns(columns, rows)
    x = columns[0] if len(columns) > 1 and any(name != columns[0] for name in numeric) else ROW_NUMBER
    ys = [name for name in numeric if name != x]
    try:
        data = build(columns, rows, x, ys, max_points=max_points)
    except PlotError as error:
        return Prepared(numeric, x, ys, "line", None, str(error))
    return Prepared(numeric, x, ys, "bar" if data.x_kind == "category" else "line", data)


def downsample(x: np.ndarray, y: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` points: consecutive buckets each keep their lowest and highest point, in order."""
    count = len(y)
    if count <= limit:
        return x, y
    buckets = max(limit // 2, 1)
    size = -(-count // buckets)
    buckets = -(-count // size)
    starts = np.arange(buckets) * size
    low = np.full(buckets * size, np.inf)
    low[:count] = y
    high = np.full(buckets * size, -np.inf)
    high[:count] = y
    keep = np.unique(np.concatenate([
        low.reshape(buckets, size).argmin(axis=1) + starts,
        high.reshape(buckets, size).argmax(axis=1) + starts,
    ]))
    return x[keep], y[keep]


def bar_width(x: np.ndarray) -> float:
    """Bars as wide as 80% of the closest two x values (1 for a single bar or categories)."""
    distinct = np.unique(x)
    if len(distinct) < 2:
        return 0.8
    return float(np.diff(distinct).min()) * 0.8


def live_chart_problem(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str | None:
    """Why this result cannot become a live series (None when it can): a series is one number, or rows of
    label, number (core/query_series.py)."""
    if len(columns) == 1:
        return None
    if len(columns) == 2 and (not rows or columns[1] in numeric_columns(columns, rows)):
        return None
    return (
        f"Chart live needs a query giving one number, or rows of label, number; this one gives "
        f"{len(columns)} columns ({', '.join(columns)}). Change the query to that shape first."
    )
