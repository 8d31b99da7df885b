"""Growth per table, from a probe cheap enough to run beside every few samples, and the red flag "database size
growing but row count stable".

The probe reads `min(rowid)` and `max(rowid)` of each rowid table: two seeks at the ends of its b-tree, never
a scan. `max(rowid)` rising gives rows inserted per minute; `max - min + 1` estimates the rows present for the
tables apps append to and trim from the front (logs, queues, outboxes), where `count(*)` would read them all.
The probe runs within a time budget (SQLite's progress handler) and a table it does not reach this time is
simply probed next time.

The flag compares the database's size with its estimated rows over a window: bytes up by more than
GROWTH_SHARE (and GROWTH_MIN_BYTES) while rows moved less than ROWS_STABLE_SHARE means rows grow in place
(updates that append), deleted space is not reused, or an index or a table without rowid grows; the `space`
report says which.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import apsw

from desktop_app.core.metrics import RedFlag

PROBE_EVERY_S = 5.0
PROBE_BUDGET_MS = 20.0
WINDOW_S = 600.0  # the flag looks this far back
GROWTH_SHARE = 0.05
GROWTH_MIN_BYTES = 1_000_000
ROWS_STABLE_SHARE = 0.01
FLAG_CODE = "size_growing_rows_stable"


@dataclass(frozen=True)
class TableGrowth:
    table: str
    rows: int  # estimated: max(rowid) - min(rowid) + 1
    rows_per_min: float | None  # inserts per minute since the previous probe (None at the first)


@dataclass
class GrowthTracker:
    """Owned by the sampler thread. `probe(connection, data_bytes)` when due; `flag()` once enough is seen."""

    every_s: float = PROBE_EVERY_S
    window_s: float = WINDOW_S
    budget_ms: float = PROBE_BUDGET_MS
    tables: dict[str, TableGrowth] = field(default_factory=dict)
    _tops: dict[str, tuple[float, int]] = field(default_factory=dict)  # table -> (when, max rowid)
    _history: deque[tuple[float, int, int]] = field(default_factory=lambda: deque(maxlen=10_000))
    _next_at: float = 0.0
    _schema: list[str] | None = None
    _schema_version: int | None = None

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self._next_at

    def probe(self, connection: apsw.Connection, data_bytes: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._next_at = now + self.every_s
        deadline = time.monotonic() + self.budget_ms / 1000.0  # real time, whatever clock `now` is on
        connection.set_progress_handler(lambda: time.monotonic() > deadline, 100)
        complete = True
        try:
            for table in self._rowid_tables(connection):
                if time.monotonic() > deadline:
                    complete = False
                    break
                row = connection.execute(f"SELECT min(rowid), max(rowid) FROM {_quote(table)}").fetchone()
                low, high = (row or (None, None))
                self._note(table, low, high, now)
        except apsw.InterruptError:
            complete = False
        except apsw.Error:  # a table dropped under us: the schema is read again next time
            self._schema_version = None
            complete = False
        finally:
            connection.set_progress_handler(None)
        if complete:
            total = sum(growth.rows for growth in self.tables.values())
            self._history.append((now, data_bytes, total))

    def _note(self, table: str, low: int | None, high: int | None, now: float) -> None:
        rows = 0 if high is None or low is None else high - low + 1
        rate = None
        previous = self._tops.get(table)
        if previous is not None and high is not None and now > previous[0]:
            rate = max(0, high - previous[1]) * 60.0 / (now - previous[0])
        self._tops[table] = (now, high or 0)
        self.tables[table] = TableGrowth(table, rows, rate)

    def _rowid_tables(self, connection: apsw.Connection) -> list[str]:
        version = connection.execute("PRAGMA schema_version").fetchone()
        if self._schema is None or version != self._schema_version:
            rows = connection.execute(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND NOT wr "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ).fetchall()
            self._schema = [str(name) for (name,) in rows]
            self._schema_version = version[0] if version else None
            for gone in set(self.tables) - set(self._schema):
                self.tables.pop(gone, None)
                self._tops.pop(gone, None)
        return self._schema

    def flag(self) -> RedFlag | None:
        """The red flag when, over the window, the size grew and the estimated rows did not."""
        if len(self._history) < 2:
            return None
        now = self._history[-1][0]
        start = next((point for point in self._history if point[0] >= now - self.window_s), None)
        if start is None or now - start[0] < self.window_s * 0.5:
            return None  # not watched long enough
        _, bytes_then, rows_then = start
        _, bytes_now, rows_now = self._history[-1]
        if rows_then == 0:
            return None  # no rowid table to estimate rows from: nothing to say
        grown = bytes_now - bytes_then
        if grown < max(GROWTH_MIN_BYTES, bytes_then * GROWTH_SHARE):
            return None
        if abs(rows_now - rows_then) > max(1, rows_then) * ROWS_STABLE_SHARE:
            return None
        minutes = (now - start[0]) / 60.0
        return RedFlag(
            FLAG_CODE,
            f"The database grew {grown / 1e6:,.1f} MB in {minutes:,.0f} min while its rows stayed at about "
            f"{rows_now:,}: rows are growing in place (updates that append), deleted space is not being reused, or "
            "an index grows. Run Space (or `sqlite-pulse space`) to see which table or index takes the bytes; "
            "VACUUM returns unused pages.",
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
