"""Does any GUI action block the event loop on a 1 GB database? And how fast does Cancel stop a query?

Builds (once, cached in the temp folder) a ~1 GB database: a 30-million-row table with an index. Then drives
the real main window (offscreen, scripted dialogs) through its actions — open, browse the big table, scroll,
run a full count, cancel a long query, EXPLAIN, checkpoint, quick check, backup, close — while a 10 ms
QTimer measures how late the event loop ran it. Target: no action delays the loop by more than 100 ms.
Cancel latency is measured from the click to the console's "cancelled" report (target: 100 ms).

    flock /tmp/pulse-bench.lock .venv/bin/python bench/gui_actions.py [--rows 30000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import apsw  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

# isort: split
import qasync  # noqa: E402 (after PySide6 on purpose)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gui_responsiveness import LatenessProbe  # noqa: E402
from measure import cached  # noqa: E402
from table_open import build  # noqa: E402

from desktop_app.ui.dialogs import ScriptedDialogs  # noqa: E402
from desktop_app.ui.main_window import MainWindow  # noqa: E402
from desktop_app.ui.settings import AppSettings  # noqa: E402

TARGET_MS = 100.0
LONG_QUERY = "SELECT device, sum(value) FROM events GROUP BY device ORDER BY 2"


def cached_gb_database(rows: int) -> Path:
    def make(partial: Path) -> None:
        build(partial, rows)
        connection = apsw.Connection(str(partial))
        connection.execute("CREATE INDEX events_device ON events(device, at)")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        connection.close()

    return cached(f"events-indexed-{rows}.db", make, f"building {rows:,} rows with an index in")


async def wait_signal(signal, start, timeout: float = 300.0) -> tuple:
    received: list[tuple] = []

    def record(*args: object) -> None:
        received.append(args)

    signal.connect(record)
    try:
        start()
        deadline = time.monotonic() + timeout
        while not received:
            if time.monotonic() > deadline:
                raise TimeoutError("benchmark step timed out")
            await asyncio.sleep(0.005)
    finally:
        signal.disconnect(record)
    return received[0]


async def drive(window: MainWindow, path: Path, workdir: Path) -> list[dict]:
    probe = LatenessProbe()
    rows: list[dict] = []

    async def step(name: str, signal, start, *, timeout: float = 300.0) -> tuple:
        await asyncio.sleep(0.3)
        probe.start()
        began = time.perf_counter()
        result = await wait_signal(signal, start, timeout)
        seconds = time.perf_counter() - began
        late = probe.stop()
        rows.append({"action": name, "seconds": round(seconds, 3), **late})
        return result

    await step("open the database", window.database_opened, lambda: window.open_path(path))
    schema, console, tools = window.schema, window.console, window.maintenance
    await step("list the schema", schema.schema_loaded, schema.refresh)
    window.docks["schema"].raise_()
    await asyncio.sleep(0.3)
    probe.start()
    began = time.perf_counter()
    schema.select("events")
    while schema.model is None or schema.model.rowCount() == 0:
        await asyncio.sleep(0.001)
    rows.append({"action": "open the 30M-row table: first rows shown", "seconds": round(time.perf_counter() - began, 4),
                 **probe.stop()})
    model = schema.model
    for _ in range(20):
        await step("scroll: fetchMore (500 rows)", model.page_loaded, model.fetchMore)
    window.docks["console"].raise_()
    console.editor.setPlainText("SELECT count(*) FROM events")
    await step("console: SELECT count(*) (runs off-thread)", console.query_finished, console.run)

    cancels = []
    for _ in range(5):
        console.editor.setPlainText(LONG_QUERY)
        console.run()
        await asyncio.sleep(0.4)
        began = time.perf_counter()
        probe.start()
        await wait_signal(console.query_failed, console.cancel_button.click)
        cancels.append((time.perf_counter() - began) * 1000.0)
        late = probe.stop()
        rows.append({"action": "console: Cancel a running GROUP BY", "seconds": round(cancels[-1] / 1000, 4), **late})
    await step("console: EXPLAIN QUERY PLAN", console.plan_ready, lambda: console.explain_plan(LONG_QUERY))
    await step("tools: checkpoint (passive)", tools.finished, lambda: tools.checkpoint("passive"))
    await step("tools: quick check", tools.finished, lambda: tools.integrity_check(quick=True))
    await step("tools: backup (1 GB copy)", tools.finished, lambda: tools.backup_to(workdir / "backup.db"))
    await step("close the database", window.database_closed, window.close_database)
    rows.append({"action": "cancel latency (ms, click to cancelled)", "median_ms": round(sorted(cancels)[2], 1),
                 "max_ms_cancel": round(max(cancels), 1)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = cached_gb_database(args.rows)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="pulse-actions-") as folder:
        workdir = Path(folder)
        window = MainWindow(AppSettings.at(workdir / "settings.ini"), dialogs=ScriptedDialogs(), data_dir=workdir)
        window.resize(1360, 860)
        window.show()
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            with loop:
                rows = loop.run_until_complete(drive(window, path, workdir))
        finally:
            window.shutdown()
            window.close()
    size_gb = path.stat().st_size / 1e9
    if args.json:
        print(json.dumps({"db_gb": round(size_gb, 2), "rows": rows}))
        return
    print(f"database: {size_gb:.2f} GB, {args.rows:,} rows; event-loop lateness of a 10 ms timer during each action")
    worst = 0.0
    for row in rows:
        if row.get("ticks") == 0:  # finished before the 10 ms timer was due: it cannot have delayed it
            print(f"  {row['action']:<44} {row['seconds']:>8.3f} s   (done before the timer was due)")
        elif "max_ms" in row:
            worst = max(worst, row["max_ms"])
            print(f"  {row['action']:<44} {row['seconds']:>8.3f} s   p99 {row['p99_ms']:6.2f} ms   max {row['max_ms']:6.2f} ms")
        else:
            print(f"  {row['action']:<44} median {row['median_ms']:.1f} ms, max {row['max_ms_cancel']:.1f} ms")
    print(f"worst event-loop delay over all actions: {worst:.1f} ms (target <= {TARGET_MS:.0f} ms) "
          f"{'ok' if worst <= TARGET_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
