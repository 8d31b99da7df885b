"""Opening a 10-million-row table in the data view: time to first rows and the cost of each fetchMore.

Builds (once, cached in the temp folder) a database with a 10,000,000-row table, then measures, through
the real TableModel awaiting the session's browse thread on a qasync loop driven by Qt's event loop:
  - time from opening the table to its first rows in the model (what the user waits for)
  - per-fetchMore cost near the start and deep in the table (keyset paging: should not grow with depth)
  - the longest GUI-thread stall while 100 pages stream in (a 1 ms QTimer's worst lateness)
and, as the baseline from the same run, what a naive browser does on open: SELECT count(*) and a
LIMIT/OFFSET page at the same depth. Run it under the benchmark lock:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/table_open.py [--rows 10000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import apsw  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

# isort: split
import qasync  # noqa: E402  (after PySide6 on purpose: it binds to the Qt already imported)
from measure import cached, fill_table  # noqa: E402

from desktop_app.core.session import Session  # noqa: E402
from desktop_app.ui.models.table_model import TableModel  # noqa: E402

PAGE_ROWS = 500


def build(path: Path, rows: int) -> None:
    fill_table(
        path,
        "CREATE TABLE events(id INTEGER PRIMARY KEY, device TEXT, value REAL, at INTEGER)",
        "INSERT INTO events(device, value, at) SELECT printf('sensor-%03d', i % 500), i * 0.25, 1700000000 + i FROM n",
        rows,
    )


def cached_database(rows: int) -> Path:
    return cached(f"events-{rows}.db", lambda partial: build(partial, rows), f"building {rows:,} rows in")


def resolve(awaitable):
    """Spin Qt's event loop (which runs the qasync loop's callbacks) until `awaitable` is done."""
    task = asyncio.ensure_future(awaitable)
    if not task.done():
        loop = QEventLoop()
        task.add_done_callback(lambda _task: loop.quit())
        loop.exec()
    return task.result()


def wait_for(signal, start) -> float:
    """Run `start()` and the Qt event loop until `signal` fires; return elapsed milliseconds."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    timer = QElapsedTimer()
    timer.start()
    start()
    loop.exec()
    signal.disconnect(loop.quit)
    return timer.nsecsElapsed() / 1e6


class StallMeter:
    """A 1 ms timer; its worst gap is the longest the GUI thread was busy."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000.0)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def open_view(path: Path) -> tuple[Session, QTableView]:
    """A read-only session on `path` and a shown 1000x700 table view, on a qasync loop that counts as running
    while Qt's own event loops spin (QEventLoop.exec in resolve and wait_for)."""
    app = QApplication.instance() or QApplication([])
    asyncio.set_event_loop(qasync.QEventLoop(app, already_running=True))
    session = resolve(Session.open(path, read_only=True, interval=60.0))
    view = QTableView()
    view.resize(1000, 700)
    view.show()
    return session, view


def measure(path: Path, rows: int) -> dict:
    session, view = open_view(path)
    results: dict = {"rows": rows, "db_mb": round(path.stat().st_size / 1e6)}

    # Time to first rows: a fresh model, a fresh table open (the read thread's connection is warm after
    # the first table, so the first open is reported separately).
    first_opens = []
    for _ in range(5):
        model = TableModel(session, "events", page_rows=PAGE_ROWS)
        view.setModel(model)
        first_opens.append(wait_for(model.page_loaded, model.start))
        assert model.rowCount() == PAGE_ROWS
    results["first_rows_ms_cold"] = round(first_opens[0], 2)
    results["first_rows_ms_median"] = round(statistics.median(first_opens[1:]), 2)

    stall = StallMeter()
    stall.start()
    costs = [wait_for(model.page_loaded, model.fetchMore) for _ in range(100)]
    stall.stop()
    results["fetch_more_ms_median"] = round(statistics.median(costs), 3)
    results["fetch_more_ms_p95"] = round(sorted(costs)[94], 3)
    results["gui_stall_ms_max"] = round(max(stall.gaps), 2) if stall.gaps else 0.0
    results["rows_loaded"] = model.rowCount()

    deep = TableModel(session, "events", page_rows=PAGE_ROWS)
    results["go_to_row_deep_ms"] = round(wait_for(deep.page_loaded, lambda: deep.go_to_row(rows - 10 * PAGE_ROWS)), 2)
    deep_costs = [wait_for(deep.page_loaded, deep.fetchMore) for _ in range(5)]
    results["fetch_more_deep_ms_median"] = round(statistics.median(deep_costs), 3)
    session.close_now()
    view.close()

    # Baselines, same file, same run: what opening a table costs when a browser counts rows or pages by OFFSET.
    connection = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    started = time.perf_counter()
    connection.execute("SELECT count(*) FROM events").fetchall()
    results["baseline_count_ms"] = round((time.perf_counter() - started) * 1000.0, 1)
    started = time.perf_counter()
    connection.execute("SELECT * FROM events LIMIT ? OFFSET ?", (PAGE_ROWS, rows - 10 * PAGE_ROWS)).fetchall()
    results["baseline_offset_deep_ms"] = round((time.perf_counter() - started) * 1000.0, 1)
    connection.close()
    results["ratio_count_vs_first_rows"] = round(results["baseline_count_ms"] / max(results["first_rows_ms_median"], 1e-3), 1)
    results["ratio_offset_vs_keyset_deep"] = round(
        results["baseline_offset_deep_ms"] / max(results["fetch_more_deep_ms_median"], 1e-3), 1
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()
    path = cached_database(args.rows)
    results = measure(path, args.rows)
    if args.json:
        print(json.dumps(results))
        return
    print(f"table: {results['rows']:,} rows, {results['db_mb']:,} MB")
    print(f"first rows in the view      : {results['first_rows_ms_cold']:.2f} ms cold, {results['first_rows_ms_median']:.2f} ms warm (median)")
    print(f"fetchMore ({PAGE_ROWS} rows) near start: {results['fetch_more_ms_median']:.3f} ms median, {results['fetch_more_ms_p95']:.3f} ms p95")
    print(f"go to row {results['rows'] - 10 * PAGE_ROWS:,}     : {results['go_to_row_deep_ms']:.2f} ms")
    print(f"fetchMore deep in the table : {results['fetch_more_deep_ms_median']:.3f} ms median")
    print(f"longest GUI stall, 100 pages: {results['gui_stall_ms_max']:.2f} ms")
    print(f"baseline SELECT count(*)    : {results['baseline_count_ms']:.1f} ms  ({results['ratio_count_vs_first_rows']}x first rows)")
    print(f"baseline OFFSET page, deep  : {results['baseline_offset_deep_ms']:.1f} ms  ({results['ratio_offset_vs_keyset_deep']}x keyset)")


if __name__ == "__main__":
    main()
