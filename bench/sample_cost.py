"""What one metrics sample costs on a large database, against the naive way of watching a table.

Builds a real database of --gb gigabytes (4 KB rows in one table) in a temp folder, then times:
  - MetricsSampler.sample() on a 10 MB database (baseline for "cost does not grow with size")
  - MetricsSampler.sample() on the large database
  - SELECT count(*) on the large table (what table-counting tools do on open)
Prints a table and the ratios; `--json` makes the last line one JSON object.

    python bench/sample_cost.py [--gb 10] [--samples 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import apsw
from measure import percentile

from desktop_app.core.metrics import MetricsSampler

ROW_BYTES = 4000


def build(path: Path, total_bytes: int) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA page_size = 8192")
    connection.execute("PRAGMA journal_mode = OFF").fetchall()  # a throwaway file: build it fast
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("CREATE TABLE blobs(id INTEGER PRIMARY KEY, body BLOB)")
    rows = max(1, total_bytes // ROW_BYTES)
    step = 200_000
    for start in range(0, rows, step):
        count = min(step, rows - start)
        connection.execute(
            "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO blobs(body) SELECT zeroblob(?) FROM n; COMMIT",
            (count, ROW_BYTES),
        )
    connection.close()


def sample_costs(path: Path, samples: int) -> list[float]:
    with MetricsSampler(path) as sampler:
        sampler.sample()  # warm the connection
        costs = []
        for _ in range(samples):
            started = time.perf_counter()
            sampler.sample()
            costs.append((time.perf_counter() - started) * 1000)
    return costs


def count_rows_ms(path: Path) -> float:
    connection = apsw.Connection(
        f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
    )
    started = time.perf_counter()
    connection.execute("SELECT count(*) FROM blobs").fetchall()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gb", type=float, default=10.0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pulse-bench-") as folder:
        small, large = Path(folder) / "small.db", Path(folder) / "large.db"
        build(small, 10_000_000)
        started = time.perf_counter()
        build(large, int(args.gb * 1e9))
        build_s = time.perf_counter() - started
        small_costs = sample_costs(small, args.samples)
        large_costs = sample_costs(large, args.samples)
        count_ms = count_rows_ms(large)
        size_gb = large.stat().st_size / 1e9
    result = {
        "large_db_gb": round(size_gb, 2),
        "build_s": round(build_s, 1),
        "sample_ms_small_median": round(statistics.median(small_costs), 3),
        "sample_ms_large_median": round(statistics.median(large_costs), 3),
        "sample_ms_large_p99": round(percentile(large_costs, 0.99), 3),
        "count_star_ms_large": round(count_ms, 1),
    }
    result["ratio_large_vs_small"] = round(
        result["sample_ms_large_median"] / result["sample_ms_small_median"], 2
    )
    result["ratio_count_star_vs_sample"] = round(count_ms / result["sample_ms_large_median"])
    print(f"database: {size_gb:.2f} GB (built in {build_s:.1f} s)")
    print(f"{'measurement':<36}{'ms':>12}")
    print(f"{'sample(), 10 MB database, median':<36}{result['sample_ms_small_median']:>12.3f}")
    print(f"{'sample(), large database, median':<36}{result['sample_ms_large_median']:>12.3f}")
    print(f"{'sample(), large database, p99':<36}{result['sample_ms_large_p99']:>12.3f}")
    print(f"{'SELECT count(*), large table':<36}{count_ms:>12.1f}")
    print(
        f"ratio large/small sample cost: {result['ratio_large_vs_small']}x; "
        f"count(*) costs {result['ratio_count_star_vs_sample']:,}x one sample"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
