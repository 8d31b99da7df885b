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
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


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


def numeric_columns(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Columns whose values are all numbers or NULL, with at least one number: what a y axis can show."""
    found = []
    for index, name in enumerate(columns):
        values = [row[index] for row in rows if row[index] is not None]
        if values and all(number(value) is not None for value in values):
            found.append(name)
    return found


def x_kind(values: Sequence[object]) -> XKind:
    present = [value for value in values if value is not None]
    if present and all(number(value) is not None for value in present):
        return "number"
    if present and all(epoch_seconds(value) is not None for value in present):
        return "time"
    return "category"


def build(
    columns: Sequence[str], rows: Sequence[Sequence[object]], x: str, ys: Sequence[str], *, max_points: int = MAX_POINTS
) -> PlotData:
    """The curves of `ys` against `x` (a column, or ROW_NUMBER) over `rows`."""
    if not ys:
        raise PlotError("Pick at least one column to plot on the y axis.")
    unknown = [name for name in (x, *ys) if name not in columns and name != ROW_NUMBER]
    if unknown:
        raise PlotError(f"No column named {', '.join(unknown)} in this result.")
    if x == ROW_NUMBER:
        kind: XKind = "row"
        xs: list[float | None] = [float(n) for n in range(1, len(rows) + 1)]
    else:
        raw = [row[columns.index(x)] for row in rows]
        kind = x_kind(raw)
        convert = number if kind == "number" else epoch_seconds
        xs = [convert(value) for value in raw] if kind != "category" else []
    categories: list[str] = []
    if kind == "category":
        positions: dict[str, int] = {}
        for value in raw:
            if value is not None:
                positions.setdefault(str(value), len(positions))
        categories = list(positions)
        xs = [None if value is None else float(positions[str(value)]) for value in raw]
    skipped, summed, curves = 0, False, []
    for name in ys:
        index = columns.index(name)
        points = [(px, number(row[index])) for px, row in zip(xs, rows, strict=True)]
        kept = [(px, py) for px, py in points if px is not None and py is not None]
        skipped += len(points) - len(kept)
        px = np.array([p[0] for p in kept], dtype=np.float64)
        py = np.array([p[1] for p in kept], dtype=np.float64)
        if kind == "category":
            totals = np.zeros(len(categories))
            np.add.at(totals, px.astype(np.int64), py)
            summed = summed or len(np.unique(px)) < len(px)
            present = np.unique(px)
            px, py = present, totals[present.astype(np.int64)]
        elif kind != "row":
            order = np.argsort(px, kind="stable")
            px, py = px[order], py[order]
        total = len(py)
        px, py = downsample(px, py, max_points)
        curves.append(Curve(name, px, py, total))
    return PlotData(x, kind, curves, categories, skipped, summed)


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
