"""How fast Cancel stops a running query, and what the cancel machinery costs a query that is not cancelled.

Workloads on a real database in a temp folder:
  - an endless recursive CTE (pure VM work)
  - a sort of 3M rows by random() (time spent inside SQLite's sorter)
For each, `--trials` times: start the query as a session job (`Session.run_query`), wait 50-150 ms,
`cancel_query()`, and time until the awaited job raises QueryInterrupted on the loop. Baseline from the
same run: the round trip of `SELECT 1` through the session. Overhead: a bounded query through the runner (progress handler on) against the
same query on a plain read connection.

    flock /tmp/pulse-bench.lock python bench/query_cancel.py [--trials 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from measure import percentile

from desktop_app.core.database import connect_read, connect_write, create_database
from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.session import Session

TARGET_MS = 100.0
WORKLOADS = {
    "recursive CTE": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
    # 3M rows into SQLite's external sorter before the first row comes out.
    "sort 3M rows": "SELECT a.body, b.id FROM big AS a, big AS b WHERE b.id <= 10 ORDER BY random()",
}
BOUNDED = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT sum(i) FROM n"


def build(path: Path) -> None:
    create_database(path)
    connection = connect_write(path)
    connection.execute("CREATE TABLE big(id INTEGER PRIMARY KEY, body TEXT)")
    connection.execute(
        "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) "
        "INSERT INTO big(body) SELECT hex(randomblob(32)) FROM n; COMMIT"
    )
    connection.close()


async def run_and_wait(session: Session, sql: str, cancel_after_s: float | None) -> tuple[float, object]:
    """(ms from cancel (or submit) to the job's end on the loop, what ended it)."""
    running = asyncio.ensure_future(session.run_query(sql))
    if cancel_after_s is not None:
        await asyncio.sleep(cancel_after_s)
        started = time.perf_counter()
        session.cancel_query()
    else:
        started = time.perf_counter()
    try:
        outcome: object = await asyncio.wait_for(running, 60)
    except PulseError as error:
        outcome = error
    return (time.perf_counter() - started) * 1000.0, outcome


async def measure(path: Path, trials: int, rng: random.Random, result: dict[str, object]) -> tuple[float, float]:
    runner = await Session.open(path, interval=3600)  # no sampling in the way
    try:
        round_trips = [(await run_and_wait(runner, "SELECT 1", None))[0] for _ in range(50)]
        result["select1_round_trip_ms_median"] = round(statistics.median(round_trips), 3)
        for name, sql in WORKLOADS.items():
            latencies = []
            for _ in range(trials):
                latency, ended_by = await run_and_wait(runner, sql, rng.uniform(0.05, 0.15))
                if not isinstance(ended_by, QueryInterrupted):
                    raise RuntimeError(f"{name}: ended with {ended_by!r} instead of QueryInterrupted")
                latencies.append(latency)
            result[name] = {
                "cancel_ms_median": round(statistics.median(latencies), 3),
                "cancel_ms_p95": round(percentile(latencies, 0.95), 3),
                "cancel_ms_max": round(max(latencies), 3),
            }
        # Interleaved rounds, best of each: other work on the machine hits both sides alike.
        plain = connect_read(path)
        runner_runs, plain_runs = [], []
        for _ in range(5):
            runner_runs.append((await run_and_wait(runner, BOUNDED, None))[0])
            started = time.perf_counter()
            plain.execute(BOUNDED).fetchall()
            plain_runs.append((time.perf_counter() - started) * 1000.0)
        plain.close()
    finally:
        await runner.close()
    return min(runner_runs), min(plain_runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="pulse-bench-") as folder:
        path = Path(folder) / "cancel.db"
        build(path)
        runner_ms, plain_ms = asyncio.run(measure(path, args.trials, rng, result))
    result["bounded_query_ms_runner"] = round(runner_ms, 1)
    result["bounded_query_ms_plain"] = round(plain_ms, 1)
    result["overhead_ratio_runner_vs_plain"] = round(runner_ms / plain_ms, 3)

    print(f"SELECT 1 round trip through the runner (baseline): {result['select1_round_trip_ms_median']:.3f} ms")
    print(f"{'workload':<18}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}  target {TARGET_MS:.0f} ms")
    for name in WORKLOADS:
        row = result[name]
        verdict = "ok" if row["cancel_ms_max"] < TARGET_MS else "OVER TARGET"
        print(f"{name:<18}{row['cancel_ms_median']:>12.3f}{row['cancel_ms_p95']:>10.3f}{row['cancel_ms_max']:>10.3f}  {verdict}")
        row["ratio_median_vs_round_trip"] = round(row["cancel_ms_median"] / result["select1_round_trip_ms_median"], 1)
    print(
        f"3M-step query: {result['bounded_query_ms_runner']} ms via runner vs {result['bounded_query_ms_plain']} ms "
        f"plain ({result['overhead_ratio_runner_vs_plain']}x): the cost of being cancellable"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
