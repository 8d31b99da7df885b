"""The user's own numbers: read-only SQL that returns a number (or rows of `label, number`), sampled live.

A `QuerySeries` is data (name, SQL, interval, time budget, optional alert rule), saved per database by the
window and given on the command line by `watch --query NAME=SQL`. A `QueryRunner` lives on the session's
sampler thread and runs each series when it is due, on the sampler's own read connection, after the sample:

- one statement, read-only, returning one or two columns (checked before it is accepted);
- a time budget enforced by SQLite's progress handler: a run over it is interrupted and flagged, so a slow
  query costs at most its budget per interval;
- every statement is stepped to its end (or reset) before the runner returns, so no read transaction stays
  open between samples to pin the WAL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import apsw
import apsw.ext

from desktop_app.core.errors import QueryError

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
DEFAULT_INTERVAL = 5.0
DEFAULT_BUDGET_MS = 250.0
MIN_INTERVAL = 0.1
MAX_LABELS = 200  # rows of `label, number` kept per run; more is cut off and said
PROGRESS_STEPS = 1000  # VDBE steps between two looks at the clock (a few microseconds)


@dataclass(frozen=True)
class QuerySeries:
    """One series of the user's: `name` is its id (a chart, a tile, a JSON key, a Prometheus label)."""

    name: str
    sql: str
    interval: float = DEFAULT_INTERVAL  # seconds between runs
    budget_ms: float = DEFAULT_BUDGET_MS  # a run taking longer is interrupted and flagged
    unit: str = ""
    rule: str = ""  # an alert rule on this series, e.g. "> 1000" or "rising for 5m" (core/alerts.py)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise QueryError(
                f"{self.name!r} cannot name a series: use letters, digits and _ (starting with a letter), "
                "up to 64 characters."
            )
        if not self.sql.strip():
            raise QueryError(f"Series {self.name}: the SQL is empty.")
        if not self.interval >= MIN_INTERVAL:
            raise QueryError(f"Series {self.name}: the interval must be at least {MIN_INTERVAL} s.")
        if not self.budget_ms > 0:
            raise QueryError(f"Series {self.name}: the time budget must be more than 0 ms.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuerySeries:
        """From saved settings; unknown keys (a newer version's) are ignored."""
        known = {key: data[key] for key in ("name", "sql", "interval", "budget_ms", "unit", "rule") if key in data}
        try:
            return cls(**known)
        except TypeError as exc:
            raise QueryError(f"A saved series is incomplete: {exc}") from None


def parse_option(text: str, *, interval: float = DEFAULT_INTERVAL) -> QuerySeries:
    """`NAME=SQL` (the `--query` option) as a series."""
    name, equals, sql = text.partition("=")
    if not equals:
        raise QueryError(f"--query {text!r}: expected NAME=SQL, e.g. backlog='SELECT count(*) FROM outbox'.")
    return QuerySeries(name.strip(), sql.strip(), interval=interval)


def check_sql(connection: apsw.Connection, sql: str) -> int:
    """Raise QueryError unless `sql` is one read-only statement returning one or two columns; return how many.
    Prepares the statement without running it."""
    try:
        info = apsw.ext.query_info(connection, sql)
    except apsw.Error as exc:
        raise QueryError(f"The query does not compile: {exc}") from None
    if info.query_remaining and info.query_remaining.strip().strip(";").strip():
        raise QueryError("A series is one statement: remove what follows the first ';'.")
    if info.is_explain:
        raise QueryError("A series cannot be an EXPLAIN: chart the query itself.")
    statement = sql.lstrip().lower()
    plain_pragma = statement.startswith("pragma") and "=" not in statement
    if not (info.is_readonly or plain_pragma):
        raise QueryError("A series only reads: it cannot change the database.")
    columns = len(info.description or ())
    if columns not in (1, 2):
        raise QueryError(
            f"A series returns one number, or rows of label, number; this query returns {columns} columns."
        )
    return columns


@dataclass(frozen=True)
class QueryValue:
    """One run of one series."""

    name: str
    taken_at: float  # time.time() when the run ended
    value: float | None  # the number (a labelled series: the sum of its labels); None: no value this time
    labels: dict[str, float] | None = None  # rows of label, number
    error: str = ""  # why there is no value (over budget, a missing table, text instead of a number…)
    over_budget: bool = False
    cost_ms: float = 0.0

    def json_value(self) -> float | dict[str, float] | None:
        """What `watch --json` shows: the number, or {label: number}, or null."""
        return dict(self.labels) if self.labels is not None else self.value


@dataclass
class _Due:
    series: QuerySeries
    next_at: float = 0.0  # time.monotonic() of its next run
    columns: int | None = None  # checked once per runner (the schema may change: checked again on error)


@dataclass
class QueryRunner:
    """Runs the due series on one read connection. Used by the sampler thread only; `set_series` may be
    called from any thread (it swaps one tuple)."""

    series: tuple[QuerySeries, ...] = ()
    _due: dict[str, _Due] = field(default_factory=dict)

    def set_series(self, series: Iterable[QuerySeries]) -> None:
        self.series = tuple(series)

    def run_due(self, connection: apsw.Connection, now: float | None = None) -> list[QueryValue]:
        """Run every series whose time has come; a value per run, in the series' order."""
        now = time.monotonic() if now is None else now
        current = self.series
        names = {series.name for series in current}
        for gone in set(self._due) - names:
            del self._due[gone]
        values = []
        for series in current:
            due = self._due.get(series.name)
            if due is None or due.series != series:
                due = self._due[series.name] = _Due(series)
            if now < due.next_at:
                continue
            due.next_at = now + series.interval
            values.append(run(connection, series, due))
        return values


def run(connection: apsw.Connection, series: QuerySeries, due: _Due | None = None) -> QueryValue:
    """Run `series` once within its budget; never raises for what the query does (the value says it)."""
    started = time.monotonic()
    deadline = started + series.budget_ms / 1000.0

    def over_time() -> bool:
        return time.monotonic() > deadline  # True interrupts the statement

    def result(**fields: Any) -> QueryValue:
        cost = (time.monotonic() - started) * 1000.0
        return QueryValue(series.name, time.time(), cost_ms=cost, **fields)

    connection.set_progress_handler(over_time, PROGRESS_STEPS)
    try:
        columns = due.columns if due is not None and due.columns is not None else check_sql(connection, series.sql)
        if due is not None:
            due.columns = columns
        rows = _fetch(connection, series.sql)
    except QueryError as exc:
        return result(value=None, error=str(exc))
    except apsw.InterruptError:
        return result(value=None, over_budget=True, error=f"over its {series.budget_ms:,.0f} ms budget: cut off")
    except apsw.Error as exc:
        if due is not None:
            due.columns = None  # the schema may have changed under it: check again next time
        return result(value=None, error=_describe(exc))
    finally:
        connection.set_progress_handler(None)
        if connection.in_transaction:  # never keep a snapshot between samples
            connection.execute("ROLLBACK")
    try:
        value, labels = _shape(rows, columns)
    except QueryError as exc:
        return result(value=None, error=str(exc))
    error = f"more than {MAX_LABELS} rows: the first {MAX_LABELS} are kept" if len(rows) > MAX_LABELS else ""
    return result(value=value, labels=labels, error=error)


def _fetch(connection: apsw.Connection, sql: str) -> list[tuple[Any, ...]]:
    """Up to MAX_LABELS + 1 rows; the cursor is closed (its statement reset) whatever happens."""
    cursor = connection.cursor()
    rows: list[tuple[Any, ...]] = []
    try:
        for row in cursor.execute(sql):
            rows.append(row)
            if len(rows) > MAX_LABELS:
                break
    finally:
        cursor.close(force=True)
    return rows


def _shape(rows: Sequence[tuple[Any, ...]], columns: int) -> tuple[float | None, dict[str, float] | None]:
    """One row of one column: a number (no row: no value). Rows of (label, number): their sum and each label's
    number (no rows: 0, so an alert on "dead letters by reason" clears once there are none)."""
    if columns == 2 and not rows:
        return 0.0, {}
    if not rows:
        return None, None
    if len(rows[0]) == 1:
        if len(rows) > 1:
            raise QueryError(f"returned {len(rows)} rows of one column: expected one number, or rows of label, number")
        return _number(rows[0][0]), None
    labels: dict[str, float] = {}
    for label, number in rows[:MAX_LABELS]:
        value = _number(number)
        if value is not None:
            key = "(null)" if label is None else str(label)
            labels[key] = labels.get(key, 0.0) + value
    return sum(labels.values()), labels


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = repr(value) if not isinstance(value, bytes) else f"a {len(value)}-byte BLOB"
        raise QueryError(f"returned {shown[:60]}, expected a number")
    return float(value)


def _describe(exc: apsw.Error) -> str:
    text = str(exc)
    for prefix in ("SQLError: ", "Error: "):
        text = text.removeprefix(prefix)
    return text


def renamed(series: QuerySeries, **changes: Any) -> QuerySeries:
    """A copy with `changes` (validated again)."""
    return replace(series, **changes)
