"""The declared table of series: every figure the dashboard, `watch --json` and the metrics endpoint show.

One row per fact says where its value comes from and where it appears (chart, tile, JSON key, Prometheus
metric), so adding a chart, a tile or a metric is one row here and no consumer names a series itself.
A user's query series will be the same kind of row.

Values are read raw (bytes, counts, ms) so JSON and Prometheus keep the Sample's units; `scale` turns them
into what the dashboard draws (MB).
"""

from __future__ import annotations

import enum
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from desktop_app.core.activity import Activity
from desktop_app.core.metrics import WAL_FRAME_HEADER_SIZE, Sample
from desktop_app.core.query_series import QuerySeries, QueryValue

MB = 1_000_000.0


@dataclass(frozen=True)
class Observation:
    """What a row reads: one sample, plus the two rates the sampler cannot know alone (None in `watch`), and
    the latest run of each query series."""

    sample: Sample
    activity: Activity | None = None
    ingest_rows_per_s: float | None = None
    queries: Mapping[str, QueryValue] = field(default_factory=dict)


class Range(enum.Enum):
    """How a chart's y axis is ranged."""

    FOLLOW = "follow"  # rates: from 0 to the highest value visible; a spike lifts it at once, it eases back after
    FROM_ZERO = "from_zero"  # from 0 to the highest value drawn: how full something is
    AROUND = "around"  # around the values drawn, so slow growth of a size stays visible


@dataclass(frozen=True)
class Chart:
    """A plot; rows naming an equal Chart share it (their titles become its legend)."""

    key: str  # the plot's name: `DashboardPanel.y_range(key)`, `{key}_plot`
    title: str
    range: Range = Range.FOLLOW


@dataclass(frozen=True)
class Tile:
    """A value tile above the charts: the row's value (its `fmt`) and a caption."""

    key: str
    caption: str  # shown before the first sample, and after it unless `detail` is set
    # Caption once values exist: a format string over the latest values by series name, plus {unit}.
    detail: str | None = None
    color: str | None = None  # palette key of the tile's accent; None: the row's colour


@dataclass(frozen=True)
class Metric:
    """A Prometheus family with a `db` label (the name goes after the `sqlite_pulse_` prefix)."""

    name: str
    help: str
    kind: Literal["gauge", "counter"] = "gauge"
    # exported value = value / scale (ms -> seconds, % -> ratio). Names follow Prometheus' conventions: base
    # units (`_bytes`, `_seconds`), a ratio 0-1 ends in `_ratio`, a duration in `_duration_seconds`.
    scale: float = 1.0


class Formatter(Protocol):
    def format(self, value: float, /) -> str: ...


class Readable:
    """A user's number as a person reads it: whole numbers with thousands separators, others to three
    significant digits (0.0282 s, 3.14, 1,234.5 -> 1,234)."""

    def format(self, value: float, /) -> str:
        if value == int(value) or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.3g}"


@dataclass(frozen=True)
class Series:
    name: str  # stable id: the dashboard's buffer column and `latest()` key
    title: str  # what a person calls it; a shared chart's legend
    source: str | Callable[[Observation], Any]  # a Sample field, or a small function of the observation
    unit: str = ""  # of the displayed value
    scale: float = 1.0  # displayed value = value / scale (bytes -> MB)
    fmt: str | Formatter = "{:,.0f}"  # the displayed value as text (`fmt.format(value)`)
    chart: Chart | None = None
    tile: Tile | None = None
    held: bool = False  # kept by the dashboard without a chart or tile: a tile's detail shows it
    color: str | None = None  # palette key (ui/theme.py SERIES) or a colour such as "#1e88e5"; None: the name
    style: Literal["line", "band"] = "line"  # band: a wide translucent line over a fill down to zero
    unit_of: Callable[[Observation], str | None] | None = None  # a unit that changes with the database
    caption_of: Callable[[Observation], str | None] | None = None  # a tile caption that changes with the value
    json_key: str | None = None  # its key in `watch --json`
    metric: Metric | None = None

    def read(self, observation: Observation) -> Any:
        """The raw value (None when the source has none)."""
        if callable(self.source):
            return self.source(observation)
        return getattr(observation.sample, self.source)

    @property
    def on_dashboard(self) -> bool:
        return self.chart is not None or self.tile is not None or self.held


def check(table: Sequence[Series]) -> tuple[Series, ...]:
    """The table as a tuple, or ValueError naming a clash (two rows answering to one name, a chart declared
    two ways) or a tile detail that reads a value the dashboard does not keep."""
    for what, keys in (
        ("series name", [row.name for row in table]),
        ("tile", [row.tile.key for row in table if row.tile]),
        ("JSON key", [row.json_key for row in table if row.json_key]),
        ("metric", [row.metric.name for row in table if row.metric]),
    ):
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise ValueError(f"two series share the {what} {key!r}")
            seen.add(key)
    kept = {row.name for row in table if row.on_dashboard}
    for row in table:
        if row.tile is not None and row.tile.detail:
            fields = {field for _text, field, _spec, _conversion in string.Formatter().parse(row.tile.detail) if field}
            if missing := sorted(fields - kept - {"unit"}):
                raise ValueError(f"tile {row.tile.key!r} shows {missing}, which no dashboard row keeps (held=True)")
    charts: dict[str, Chart] = {}
    for row in table:
        if row.chart is not None and charts.setdefault(row.chart.key, row.chart) != row.chart:
            raise ValueError(f"chart {row.chart.key!r} is declared two ways")
    return tuple(table)


def charts(table: Iterable[Series]) -> list[tuple[Chart, list[Series]]]:
    """Each chart once, in table order, with its rows."""
    grouped: dict[Chart, list[Series]] = {}
    for row in table:
        if row.chart is not None:
            grouped.setdefault(row.chart, []).append(row)
    return list(grouped.items())


def json_record(table: Iterable[Series], sample: Sample) -> dict[str, Any]:
    """`watch --json`'s object: the sample's own fields (flags, modes, snapshots) with each row's key set."""
    record = sample.to_dict()
    observation = Observation(sample)
    for row in table:
        if row.json_key is not None:
            record[row.json_key] = row.read(observation)
    return record


QUERY_PREFIX = "query:"
# Query series take these in turn (made readable on the chart's background by the dashboard).
QUERY_COLORS = ("#c2185b", "#00897b", "#f4511e", "#3949ab", "#7cb342", "#6d4c41", "#0097a7", "#8e24aa")


def query_row(series: QuerySeries, index: int = 0) -> Series:
    """A user's query series as a row: its own chart (ranged around its values) and tile. A labelled series
    draws its total; its tile names the largest labels."""
    name = series.name

    def value(observation: Observation) -> float | None:
        run = observation.queries.get(name)
        return None if run is None else run.value

    def caption(observation: Observation) -> str | None:
        run = observation.queries.get(name)
        if run is None:
            return None
        if run.over_budget or (run.value is None and run.error):
            return f"{name} · ⚠ {run.error}"
        if run.labels:
            top = sorted(run.labels.items(), key=lambda item: -item[1])[:3]
            return f"{name} · " + ", ".join(f"{label} {number:,.6g}" for label, number in top)
        return None

    title = f"{name} ({series.unit})" if series.unit else name
    return Series(
        f"{QUERY_PREFIX}{name}", name, value, unit=series.unit, fmt=Readable(),
        color=QUERY_COLORS[index % len(QUERY_COLORS)],
        chart=Chart(f"query_{name}", title, Range.AROUND), tile=Tile(f"query_{name}", name), caption_of=caption,
    )


def with_queries(series: Iterable[QuerySeries], table: Sequence[Series] | None = None) -> tuple[Series, ...]:
    """The built-in table (or `table`) followed by a row per query series."""
    return check((*(BUILTIN if table is None else table), *(query_row(item, index) for index, item in enumerate(series))))


def _ingest_rate(observation: Observation) -> float:
    return observation.ingest_rows_per_s or 0.0


def _activity(observation: Observation) -> float:
    return observation.activity.per_second if observation.activity else 0.0


def _activity_unit(observation: Observation) -> str | None:
    return observation.activity.unit if observation.activity else None


def _wal_content_bytes(observation: Observation) -> int:
    # Frames a checkpoint has still to copy (mxFrame - nBackfill): what the WAL really holds.
    sample = observation.sample
    return sample.wal_pending_frames * (sample.page_size + WAL_FRAME_HEADER_SIZE)


def _database_bytes(observation: Observation) -> int:
    # Pages the database has, those still in the WAL included (the file alone lags behind).
    return observation.sample.data_bytes or observation.sample.db_bytes


WAL_CHART = Chart("wal", "WAL (MB)", Range.FROM_ZERO)

# Order matters twice: dashboard rows give the buffer's columns and the charts' places (two to a row),
# metric rows the order of families in a scrape.
BUILTIN: tuple[Series, ...] = check((
    Series("ingest_rows_per_s", "rows/s written by ingest", _ingest_rate, unit="rows/s", color="ingest",
           chart=Chart("throughput", "Rows/s written by ingest"), tile=Tile("ingest", "rows/s ingest")),
    Series("activity_per_s", "write activity", _activity, unit="WAL frames/s", unit_of=_activity_unit,
           color="activity", chart=Chart("activity", "Write activity, all writers (per second)"),
           tile=Tile("activity", "WAL frames/s", detail="{unit}")),
    Series("db_bytes", "database file size", "db_bytes", unit="bytes", json_key="db_bytes",
           metric=Metric("db_bytes", "Size of the database file on disk, in bytes.")),
    Series("data_bytes", "database size", "data_bytes", unit="bytes", json_key="data_bytes",
           metric=Metric("data_bytes", "page_count x page_size: the database's size including pages still in the WAL.")),
    Series("wal_file_mb", "file on disk", "wal_bytes", unit="MB", scale=MB, fmt="{:,.2f} MB", color="wal_file",
           style="band", chart=WAL_CHART, json_key="wal_bytes",
           tile=Tile("wal", "WAL", detail="WAL · {wal_content_mb:,.2f} MB to checkpoint", color="wal_content"),
           metric=Metric("wal_bytes", "Size of the -wal file on disk (reused, not shrunk, by checkpoints).")),
    Series("wal_live_frames", "WAL frames", "wal_live_frames", unit="frames", json_key="wal_live_frames",
           metric=Metric("wal_live_frames", "Frames in the current WAL generation (mxFrame).")),
    Series("wal_pending_frames", "WAL frames to checkpoint", "wal_pending_frames", unit="frames",
           json_key="wal_pending_frames",
           metric=Metric("wal_pending_frames", "Frames a checkpoint has still to copy (mxFrame - nBackfill).")),
    Series("wal_content_mb", "frames not yet checkpointed", _wal_content_bytes, unit="MB", scale=MB,
           fmt="{:,.2f} MB", color="wal_content", chart=WAL_CHART),
    Series("db_mb", "database size", _database_bytes, unit="MB", scale=MB, fmt="{:,.2f} MB", color="db",
           chart=Chart("db", "Database size (MB)", Range.AROUND),
           tile=Tile("db", "database", detail="database · {page_count:,.0f} pages")),
    Series("page_count", "pages", "page_count", unit="pages", held=True, json_key="page_count"),
    Series("freelist_count", "freelist pages", "freelist_count", unit="pages", color="free",
           chart=Chart("freelist", "Freelist pages"), json_key="freelist_count",
           metric=Metric("freelist_pages", "Unused pages inside the database file (VACUUM would return them).")),
    Series("freelist_percent", "freelist", "freelist_percent", unit="%", fmt="{:.1f} %", color="free_percent",
           chart=Chart("freelist_percent", "Freelist (% of pages)"), json_key="freelist_percent",
           tile=Tile("freelist", "freelist", detail="free · {freelist_count:,.0f} pages", color="free"),
           metric=Metric("freelist_ratio", "Unused pages as a fraction of all pages (0-1).", scale=100.0)),
    Series("page_size", "page size", "page_size", unit="bytes", json_key="page_size",
           metric=Metric("page_size_bytes", "The database page size.")),
    Series("cost_ms", "sample cost", "cost_ms", unit="ms", json_key="cost_ms",
           metric=Metric("sample_duration_seconds", "How long the last sample took.", scale=1000.0)),
    Series("taken_at", "sampled at", "taken_at", unit="s", json_key="taken_at",
           metric=Metric("last_sample_timestamp_seconds", "When the last sample was taken (Unix time).")),
))
