"""How long turning a console-sized result into plot curves takes (on the plot panel's worker thread), against
value-by-value.

A result of 100,000 rows (the console's display limit) with a number x and two REAL y columns, one with
NULLs. Measured in the same run:
  - baseline: each value converted by `plot_data.number` in Python, NULLs dropped, sorted, downsampled;
  - `plot_data.build`: the columns converted by numpy, the same curves.
The two must give the same points. Prints the median of a few runs of each and the ratio, and the median of
`plot_data.prepare` (a first plot: columns read, x parsed, curves built) of as many rows with an ISO-time x,
the work the panel keeps off the GUI thread.

    python bench/plot_build.py [--rows 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta

import numpy as np

from desktop_app.core import plot_data


def value_by_value(rows: list[tuple], ys: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    curves = []
    for column in ys:
        points = [(plot_data.number(row[0]), plot_data.number(row[column])) for row in rows]
        kept = [(x, y) for x, y in points if x is not None and y is not None]
        px = np.array([p[0] for p in kept], dtype=np.float64)
        py = np.array([p[1] for p in kept], dtype=np.float64)
        order = np.argsort(px, kind="stable")
        curves.append(plot_data.downsample(px[order], py[order], plot_data.MAX_POINTS))
    return curves


def median_seconds(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = [(args.rows - i, i * 0.5, None if i % 10 == 0 else float(i % 97)) for i in range(args.rows)]
    columns = ["x", "a", "b"]

    expected = value_by_value(rows, [1, 2])
    got = plot_data.build(columns, rows, "x", ["a", "b"]).curves
    for (ex, ey), curve in zip(expected, got, strict=True):
        assert np.array_equal(ex, curve.x) and np.array_equal(ey, curve.y), "the two ways disagree"

    baseline = median_seconds(lambda: value_by_value(rows, [1, 2]), args.repeat)
    numpy_way = median_seconds(lambda: plot_data.build(columns, rows, "x", ["a", "b"]), args.repeat)
    print(f"{args.rows:,} rows, two curves: value by value {baseline * 1000:.0f} ms, "
          f"plot_data.build {numpy_way * 1000:.0f} ms: {baseline / numpy_way:.1f}x faster")

    start = datetime(2024, 1, 1)
    timed = [((start + timedelta(seconds=i)).isoformat(" "), float(i % 97)) for i in range(args.rows)]
    prepared = plot_data.prepare(["t", "n"], timed)
    assert prepared.data is not None and prepared.data.x_kind == "time", "the ISO times were not read as times"
    first_plot = median_seconds(lambda: plot_data.prepare(["t", "n"], timed), args.repeat)
    print(f"{args.rows:,} rows, ISO-time x: plot_data.prepare {first_plot * 1000:.0f} ms (on a worker thread)")


if __name__ == "__main__":
    main()
