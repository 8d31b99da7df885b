"""The grid's search box, deep in the results: a page after the last row's key vs LIMIT/OFFSET, same run.

Builds (once, cached) a table of `--rows` rows (id, device, value, note) where about one row in ten
contains the searched text in one column or another, then times on one read-only connection, for the
page `--depth` pages into the matches:
  - keyset: `keyset.fetch_page` after the cursor of the row before it (what scrolling on does)
  - naive:  the same WHERE (the same bound LIKE over every column) with LIMIT 500 OFFSET depth * 500
and the first page both ways (which should cost the same). Medians of a few runs; prints the ratios:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/search_pages.py [--rows 1000000] [--depth 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import apsw
from measure import cached, fill_table

from desktop_app.core import keyset
from desktop_app.core.keyset import BrowseSpec, Search

PAGE = 500
RUNS = 5
TEXT = "7x"


def database(rows: int) -> Path:
    return cached(
        f"search-{rows}.db",
        lambda partial: fill_table(
            partial,
            "CREATE TABLE items(id INTEGER PRIMARY KEY, device TEXT, value REAL, note TEXT)",
            "INSERT INTO items SELECT i, 'dev' || (i % 500) || CASE WHEN i % 20 = 0 THEN '7x' ELSE '' END, "
            "i * 0.25, CASE WHEN i % 20 = 10 THEN 'see 7x' ELSE 'plain note ' || i END FROM n",
            rows,
        ),
        f"building {rows:,} rows in",
    )


def median_ms(fn: Callable[[], object]) -> float:
    fn()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()
    path = database(args.rows)
    connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    relation = keyset.describe(connection, "items")
    spec = BrowseSpec(relation, conditions=(Search(TEXT, relation.columns),))
    sql, values = spec.query()
    before = keyset.cursor_at(connection, spec, args.depth * PAGE - 1)
    assert before is not None, "fewer matches than --depth pages: lower it"

    def keyset_page(after: tuple | None) -> Callable[[], object]:
        return lambda: keyset.fetch_page(connection, spec, after=after, limit=PAGE)

    def offset_page(offset: int) -> Callable[[], object]:
        return lambda: connection.execute(f"{sql} LIMIT {PAGE} OFFSET {offset}", values).fetchall()

    deep_rows = keyset.fetch_page(connection, spec, after=before, limit=PAGE).rows
    assert deep_rows == connection.execute(f"{sql} LIMIT {PAGE} OFFSET {args.depth * PAGE}", values).fetchall()
    first = (median_ms(keyset_page(None)), median_ms(offset_page(0)))
    deep = (median_ms(keyset_page(before)), median_ms(offset_page(args.depth * PAGE)))
    print(f"search {TEXT!r} over {args.rows:,} rows, every column, pages of {PAGE}")
    print(f"  first page:        keyset {first[0]:8.1f} ms   OFFSET {first[1]:8.1f} ms   ratio {first[1] / first[0]:5.1f}x")
    print(f"  page {args.depth + 1:>4} (deep):  keyset {deep[0]:8.1f} ms   OFFSET {deep[1]:8.1f} ms   "
          f"ratio {deep[1] / deep[0]:5.1f}x")
    connection.close()


if __name__ == "__main__":
    main()
