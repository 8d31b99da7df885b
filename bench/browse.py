"""Browsing a 10-million-row table sorted, filtered and from the end, against the naive way, same run.

Builds (once, cached next to bench/table_open.py's file) the same 10,000,000-row `events` table plus an
index on `device` (500 values, 20,000 rows each), then times, on one read-only connection:
  - sorted first page, ORDER BY device (indexed), keyset          vs the same order on a column with no index
  - filtered first page, device = ? (indexed)                     vs the same filter with the index not used
  - filtered, go to match 19,000 (of 20,000)                      vs LIMIT/OFFSET on the same filter
  - last page: the first page of the reversed order               vs LIMIT/OFFSET at count - 500
  - go to row N (90% deep, rowid order and device order): count(*), then the key of row N (none needed
    over gap-free rowids; else a key-only OFFSET from the nearer end), then a keyset page
                                                                  vs LIMIT/OFFSET of whole rows at N
  - an exact count (what the Count button runs in the background)
and the sorted first page, the last page, a filtered first page and a go-to-row through the real TableModel
on a qasync loop (what the user waits for: describe, EXPLAIN and the count included). Medians of a few runs; prints ratios. Run it alone:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/browse.py [--rows 10000000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import apsw  # noqa: E402
from measure import cached  # noqa: E402
from table_open import cached_database, open_view, wait_for  # noqa: E402

from desktop_app.core import keyset  # noqa: E402
from desktop_app.core.keyset import BrowseSpec, Condition  # noqa: E402

PAGE = 500
RUNS = 5


def indexed_database(rows: int) -> Path:
    source = cached_database(rows)

    def make(partial: Path) -> None:
        reader = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
        reader.execute("VACUUM INTO ?", (str(partial),))
        reader.close()
        connection = apsw.Connection(str(partial))
        connection.execute("PRAGMA journal_mode = OFF").fetchall()
        connection.execute("CREATE INDEX events_device ON events(device)")
        connection.execute("PRAGMA journal_mode = WAL").fetchall()
        connection.close()

    return cached(f"events-browse-{rows}.db", make, "copying and indexing")


def timed(fn: Callable[[], object], runs: int = RUNS) -> float:
    """Median milliseconds of `runs` calls (after one warm-up call)."""
    fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000.0)
    return round(statistics.median(samples), 2)


def measure_core(path: Path, rows: int) -> dict:
    connection = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    relation = keyset.describe(connection, "events")
    by_device = BrowseSpec(relation, "device")
    filtered = BrowseSpec(relation, None, False, (Condition("device", "=", ("sensor-042",)),))
    plain = BrowseSpec(relation)
    deep = rows * 9 // 10
    r: dict = {"rows": rows}

    def page(spec: BrowseSpec, **kwargs) -> keyset.Page:
        result = keyset.fetch_page(connection, spec, limit=PAGE, **kwargs)
        assert result.rows
        return result

    def sql(statement: str, *values: object) -> Callable[[], object]:
        return lambda: connection.execute(statement, values).fetchall()

    r["sorted_first_ms"] = timed(lambda: page(by_device))
    r["baseline_sorted_no_index_ms"] = timed(sql("SELECT * FROM events ORDER BY at DESC, id LIMIT ?", PAGE), runs=1)
    r["filtered_first_ms"] = timed(lambda: page(filtered))
    r["baseline_filtered_no_index_ms"] = timed(
        sql("SELECT * FROM events NOT INDEXED WHERE device = ? ORDER BY id LIMIT ?", "sensor-042", PAGE), runs=1
    )
    r["baseline_filtered_deep_offset_ms"] = timed(
        sql("SELECT * FROM events WHERE device = ? ORDER BY id LIMIT ? OFFSET ?", "sensor-042", PAGE, 19_000), runs=1
    )
    r["filtered_deep_ms"] = timed(
        lambda: page(filtered, after=keyset.cursor_at(connection, filtered, 19_000), inclusive=True), runs=1
    )
    r["last_page_ms"] = timed(lambda: page(plain, backward=True))
    r["last_page_sorted_ms"] = timed(lambda: page(by_device, backward=True))
    r["baseline_last_offset_ms"] = timed(sql("SELECT * FROM events LIMIT ? OFFSET ?", PAGE, rows - PAGE), runs=1)
    def go_to(spec: BrowseSpec) -> None:  # what TableModel.go_to_row does before the count is known
        total = keyset.count_rows(connection, spec)
        page(spec, after=keyset.cursor_at(connection, spec, deep, total), inclusive=True)

    r["go_to_row_walk_only_ms"] = timed(lambda: page(plain, after=keyset.cursor_at(connection, plain, deep), inclusive=True), runs=3)
    r["go_to_row_ms"] = timed(lambda: go_to(plain), runs=3)
    r["baseline_go_to_row_offset_ms"] = timed(sql("SELECT * FROM events LIMIT ? OFFSET ?", PAGE, deep), runs=1)
    r["go_to_row_sorted_ms"] = timed(lambda: go_to(by_device), runs=3)
    r["baseline_go_to_row_sorted_offset_ms"] = timed(
        sql("SELECT * FROM events ORDER BY device, id LIMIT ? OFFSET ?", PAGE, deep), runs=1
    )
    r["exact_count_ms"] = timed(lambda: keyset.count_rows(connection, plain), runs=1)
    connection.close()
    for name, ours, base in (
        ("sorted_first", "sorted_first_ms", "baseline_sorted_no_index_ms"),
        ("filtered_first", "filtered_first_ms", "baseline_filtered_no_index_ms"),
        ("filtered_deep", "filtered_deep_ms", "baseline_filtered_deep_offset_ms"),
        ("last_page", "last_page_ms", "baseline_last_offset_ms"),
        ("go_to_row", "go_to_row_ms", "baseline_go_to_row_offset_ms"),
        ("go_to_row_sorted", "go_to_row_sorted_ms", "baseline_go_to_row_sorted_offset_ms"),
    ):
        r[f"ratio_{name}"] = round(r[base] / max(r[ours], 1e-3), 1)
    return r


def measure_model(path: Path) -> dict:
    """The same first sorted page and last page through the TableModel the grid uses."""
    from desktop_app.ui.models.table_model import TableModel

    session, view = open_view(path)
    sorted_ms, last_ms, filtered_ms, go_ms = [], [], [], []
    condition = Condition("device", "=", ("sensor-042",))
    for _ in range(RUNS):
        model = TableModel(session, "events", page_rows=PAGE)
        view.setModel(model)
        wait_for(model.page_loaded, model.start)
        sorted_ms.append(wait_for(model.page_loaded, lambda m=model: m.set_order("device", True)))
        last_ms.append(wait_for(model.page_loaded, model.last_page))
        filtered_ms.append(wait_for(model.page_loaded, lambda m=model: m.set_conditions([condition])))
        go_ms.append(wait_for(model.page_loaded, lambda m=model: m.go_to_row(18_000)))
        model.close()
    session.close_now()
    view.close()
    return {
        "model_sorted_first_ms": round(statistics.median(sorted_ms), 2),
        "model_last_page_ms": round(statistics.median(last_ms), 2),
        "model_filtered_first_ms": round(statistics.median(filtered_ms), 2),
        "model_go_to_row_ms": round(statistics.median(go_ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()
    path = indexed_database(args.rows)
    r = measure_core(path, args.rows) | measure_model(path)
    if args.json:
        print(json.dumps(r))
        return
    print(f"events: {r['rows']:,} rows, index on device; pages of {PAGE} rows, medians")
    lines = (
        ("sorted first page (indexed)", "sorted_first_ms", "baseline_sorted_no_index_ms", "same order, no index", "sorted_first"),
        ("filtered first page (indexed)", "filtered_first_ms", "baseline_filtered_no_index_ms", "index not used", "filtered_first"),
        ("filtered, go to match 19,000", "filtered_deep_ms", "baseline_filtered_deep_offset_ms", "OFFSET", "filtered_deep"),
        ("last page (keyset backward)", "last_page_ms", "baseline_last_offset_ms", "OFFSET count-500", "last_page"),
        ("go to row 90% (rowid order)", "go_to_row_ms", "baseline_go_to_row_offset_ms", "OFFSET of whole rows", "go_to_row"),
        ("go to row 90% (by device)", "go_to_row_sorted_ms", "baseline_go_to_row_sorted_offset_ms", "OFFSET of whole rows", "go_to_row_sorted"),
    )
    for label, ours, base, what, ratio in lines:
        print(f"{label:32}: {r[ours]:9.2f} ms   baseline ({what}): {r[base]:9.1f} ms   {r['ratio_' + ratio]}x")
    print(f"{'go to row 90%, key walk only':32}: {r['go_to_row_walk_only_ms']:9.2f} ms  (no count first)")
    print(f"{'last page sorted by device':32}: {r['last_page_sorted_ms']:9.2f} ms")
    print(f"{'exact count (background)':32}: {r['exact_count_ms']:9.1f} ms")
    targets = {
        "sorted first page": max(r["sorted_first_ms"], r["model_sorted_first_ms"]),
        "filtered first page": max(r["filtered_first_ms"], r["model_filtered_first_ms"]),
        "last page": max(r["last_page_ms"], r["model_last_page_ms"]),
    }
    print("targets (<= 50 ms, core and TableModel): " + ", ".join(
        f"{name} {'met' if ms <= 50 else 'MISSED'} ({ms:.1f} ms)" for name, ms in targets.items()
    ))
    print(
        f"{'TableModel (what the grid waits)':32}: sort by device desc {r['model_sorted_first_ms']:.2f} ms · last page "
        f"{r['model_last_page_ms']:.2f} ms · + filter device = ? {r['model_filtered_first_ms']:.2f} ms · "
        f"go to row 18,000 of the filtered {r['model_go_to_row_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
