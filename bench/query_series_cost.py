"""What ten query series add to the sampler's cost on a 10-million-row database, and a series over its budget.

Builds (once, cached in the temp folder) an event store of 10 M events with an outbox, dead letters and
projection checkpoints, opens it in a real `Session` sampling every 0.25 s, and measures in the same run:
  - the sampler's own cost (sum of `Sample.cost_ms`) with no series: the baseline;
  - the cost of ten index-backed series (each at its default 5 s interval) over the same time;
  - an eleventh series, a full count of the 10 M rows, with a 50 ms budget: cut off and flagged each run.
Every pass must end with no read transaction held: a TRUNCATE checkpoint by another connection, taken while
the session runs, must find no reader in its way (busy = 0).

    python bench/query_series_cost.py [--rows 10000000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import apsw

from desktop_app.core.query_series import QuerySeries, QueryValue
from desktop_app.core.session import Session

TEN = (
    ("head", "SELECT max(position) FROM events"),
    ("events", "SELECT max(rowid) FROM events"),
    ("pending", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"),
    ("oldest_pending_s", "SELECT unixepoch('subsec') - min(created_at) FROM outbox WHERE sent_at IS NULL"),
    ("unresolved", "SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL"),
    ("lag", "SELECT name, (SELECT max(position) FROM events) - position FROM checkpoints"),
    ("last_event_age_s", "SELECT unixepoch('subsec') - at FROM events ORDER BY position DESC LIMIT 1"),
    ("stream_7", "SELECT count(*) FROM events WHERE stream = 7"),
    ("checkpoints", "SELECT count(*) FROM checkpoints"),
    ("dead_by_reason", "SELECT reason, count(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY reason"),
)


def build(path: Path, rows: int) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode = OFF").fetchall()
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute(
        "CREATE TABLE events(position INTEGER PRIMARY KEY, stream INTEGER, at REAL, body TEXT);"
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, created_at REAL, sent_at REAL, body TEXT);"
        "CREATE INDEX outbox_pending ON outbox(created_at) WHERE sent_at IS NULL;"
        "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, reason TEXT, resolved_at REAL);"
        "CREATE INDEX dead_unresolved ON dead_letters(reason) WHERE resolved_at IS NULL;"
        "CREATE TABLE checkpoints(name TEXT PRIMARY KEY, position INTEGER);"
    )
    step = 500_000
    for start in range(0, rows, step):
        count = min(step, rows - start)
        connection.execute(
            "BEGIN; WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO events SELECT i, i % 1000, 1.7e9 + i / 1000.0, printf('event %d', i) FROM n; COMMIT",
            (start + 1, start + count),
        )
    connection.execute(
        "CREATE INDEX events_stream ON events(stream);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
        "INSERT INTO outbox(created_at, sent_at, body) SELECT 1.7e9 + i, CASE WHEN i % 50 THEN 1 END, 'x' FROM n;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO dead_letters(reason, resolved_at) SELECT 'reason ' || (i % 7), CASE WHEN i % 3 THEN 1 END FROM n;"
        "INSERT INTO checkpoints VALUES ('orders', 9000000), ('billing', 9999000), ('search', 100);"
        "PRAGMA journal_mode = WAL;"
    )
    connection.close()


async def measure(path: Path, seconds: float, series: list[QuerySeries]) -> tuple[float, list[QueryValue], int]:
    """(sampler cost ms, the series' runs, checkpoints that found a reader in the way)."""
    session = await Session.open(path, read_only=True, interval=0.25)
    costs: list[float] = []
    runs: list[QueryValue] = []
    session.events.sample.connect(lambda sample, _activity: costs.append(sample.cost_ms))
    session.events.queries.connect(runs.extend)
    session.set_query_series(series)
    checkpointer = apsw.Connection(str(path))
    blocked = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(1.0)
        busy, _log, _done = checkpointer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        blocked += busy
    checkpointer.close()
    await session.close()
    return sum(costs), runs, blocked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / f"sqlite-pulse-bench-events-{args.rows}.db"
    if not path.exists():
        print(f"building {path} ({args.rows:,} events)…", flush=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        build(partial, args.rows)
        partial.rename(path)
    ten = [QuerySeries(name, sql) for name, sql in TEN]
    slow = QuerySeries("full_count", "SELECT count(*) FROM events WHERE body LIKE '%9'", interval=1.0, budget_ms=50)

    baseline, _, blocked_base = asyncio.run(measure(path, args.seconds, []))
    with_series, runs, blocked = asyncio.run(measure(path, args.seconds, ten))
    _, slow_runs, blocked_slow = asyncio.run(measure(path, min(args.seconds, 10.0), [slow]))
    added = sum(run.cost_ms for run in runs)
    failed = [run for run in runs if run.error]
    cut = [run for run in slow_runs if run.over_budget]
    worst_cut = max((run.cost_ms for run in cut), default=0.0)
    result = {
        "rows": args.rows,
        "seconds": args.seconds,
        "sampler_cost_ms": round(baseline, 1),
        "sampler_cost_with_series_ms": round(with_series, 1),
        "series_cost_ms": round(added, 1),
        "series_runs": len(runs),
        "series_errors": len(failed),
        "added_ratio": round(added / baseline, 4) if baseline else None,
        "slow_runs": len(slow_runs),
        "slow_cut_off": len(cut),
        "slow_worst_ms": round(worst_cut, 1),
        "checkpoints_blocked_by_a_reader": blocked_base + blocked + blocked_slow,
    }
    print(f"sampler alone: {baseline:,.1f} ms over {args.seconds:.0f} s; ten series: {added:,.1f} ms in {len(runs)} runs "
          f"= {result['added_ratio']:.2%} of the sampler's cost (target < 5 %)")
    print(f"a full scan with a 50 ms budget: {len(cut)} of {len(slow_runs)} runs cut off, worst {worst_cut:.1f} ms")
    print(f"TRUNCATE checkpoints blocked by a reader: {result['checkpoints_blocked_by_a_reader']} (must be 0)")
    if failed:
        print("errors:", {run.name: run.error for run in failed})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
