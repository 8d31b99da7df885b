"""Is the window still responsive while a stream ingests as fast as it can? And how fast is that?

Three measurements in one run, on this machine:
  (a) receive-only: websockets' client loop that only counts messages from the demo server (a child
      process, unthrottled), what a hand-written ingester starts from.
  (b) GUI idle: the main window shown with a database open and no ingest; a 10 ms QTimer's lateness.
  (c) GUI + ingest: the same window ingesting the unthrottled demo stream the way the app does it, in a
      child process (the dashboard samples at 4 Hz and redraws one row of charts per 50 ms tick). The same timer's lateness (how long
      the event loop was kept from running it), and the ingest's rate.
The worker is driven the way the window drives it: started with asyncio.create_subprocess_exec on the qasync
loop, its JSON-lines reports awaited (no polling). (An in-process thread was measured here before: it
starved the window, so the app no longer offers it.)
Targets: p99 lateness <= 25 ms during (c), and (c)'s rate >= 0.70 x (a)'s. Run it under the benchmark lock:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/gui_responsiveness.py [--messages 300000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

# isort: split
import qasync  # noqa: E402 (after PySide6 on purpose)
from measure import percentile  # noqa: E402

from desktop_app.core.database import create_database  # noqa: E402
from desktop_app.core.demo import spawn_demo_server  # noqa: E402
from desktop_app.core.ingest import IngestConfig  # noqa: E402
from desktop_app.core.ingest.bench import measure_receive_only  # noqa: E402
from desktop_app.ui.dialogs import ScriptedDialogs  # noqa: E402
from desktop_app.ui.main_window import MainWindow  # noqa: E402
from desktop_app.ui.settings import AppSettings  # noqa: E402

TICK_MS = 10
P99_TARGET_MS = 25.0
RATIO_TARGET = 0.70


class LatenessProbe:
    """A precise 10 ms timer; lateness = how much later than 10 ms after the previous tick each tick came."""

    def __init__(self) -> None:
        self.lateness_ms: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000.0 - TICK_MS))
        self._last = now

    def start(self) -> None:
        self.lateness_ms.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        # A tick still pending counts too: a loop blocked until now would otherwise go unseen.
        pending = (time.perf_counter() - self._last) * 1000.0 - TICK_MS
        values = sorted([*self.lateness_ms, pending] if pending > 0 else self.lateness_ms)
        if not values:
            return {"ticks": 0}
        return {
            "ticks": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": round(percentile(values, 0.99), 2),
            "max_ms": round(values[-1], 2),
        }


async def until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        await asyncio.sleep(0.05)


async def gui_run(window: MainWindow, db_path: Path, messages: int, idle_seconds: float, table: str) -> dict:
    probe = LatenessProbe()
    with_db = asyncio.get_running_loop().create_future()
    window.database_opened.connect(lambda database: with_db.done() or with_db.set_result(database))
    window.open_path(db_path)
    await asyncio.wait_for(with_db, 30)
    await asyncio.sleep(1.0)  # let the first samples and redraws settle

    probe.start()
    await asyncio.sleep(idle_seconds)
    idle = probe.stop()

    controller = window.ingest_controller
    stopped: list[object] = []
    controller.stopped.connect(stopped.append)
    with spawn_demo_server(count=messages) as server:
        probe.start()
        controller.start(IngestConfig(url=server.url, db_path=db_path, table=table, max_messages=messages))
        await until(lambda: bool(stopped), timeout=max(120.0, messages / 2000))
        busy = probe.stop()
    final = stopped[0]
    return {
        "idle": idle,
        "ingest": busy,
        "written": final.written,
        "gui_rows_per_s": round(final.rows_per_s, 1),
        "dashboard_samples": window.dashboard.point_count(),
        "dashboard_redraws": window.dashboard.redraw_count,
    }


def measure_gui(messages: int, idle_seconds: float) -> dict:
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="pulse-gui-bench-") as folder:
        workdir = Path(folder)
        db_path = workdir / "bench.db"
        create_database(db_path)
        window = MainWindow(AppSettings.at(workdir / "settings.ini"), dialogs=ScriptedDialogs(), data_dir=workdir)
        window.resize(1360, 860)
        window.show()
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            with loop:
                try:
                    result = loop.run_until_complete(gui_run(window, db_path, messages, idle_seconds, "gui_run"))
                finally:
                    window.shutdown()
                    window.close()
                    loop.run_until_complete(asyncio.sleep(0.05))  # the cancelled sampling task finishes
        finally:
            asyncio.set_event_loop(None)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()

    receive = measure_receive_only(args.messages)
    gui = measure_gui(args.messages, args.idle_seconds)
    ratio = gui["gui_rows_per_s"] / receive.per_second if receive.per_second else 0.0
    results = {
        "messages": args.messages,
        "receive_only_per_s": receive.per_second,
        **gui,
        "ratio_gui_vs_receive": round(ratio, 3),
        "p99_target_ms": P99_TARGET_MS,
        "ratio_target": RATIO_TARGET,
        "p99_ok": gui["ingest"].get("p99_ms", 1e9) <= P99_TARGET_MS,
        "ratio_ok": ratio >= RATIO_TARGET,
    }
    if args.json:
        print(json.dumps(results))
        return

    def lateness(name: str, values: dict) -> None:
        print(f"{name}: p50 {values['p50_ms']:6.2f} ms  p99 {values['p99_ms']:6.2f} ms  max {values['max_ms']:6.2f} ms")

    print(f"(a) receive-only client              : {receive.per_second:,.0f} msg/s ({args.messages:,} messages)")
    lateness("(b) GUI idle, timer lateness         ", gui["idle"])
    lateness("(c) GUI + ingest process, lateness   ", gui["ingest"])
    print(f"(c) ingest rate with the GUI open     : {gui['gui_rows_per_s']:,.0f} rows/s = {ratio:.2f} x (a)")
    print(f"targets for (c): p99 <= {P99_TARGET_MS:.0f} ms {'ok' if results['p99_ok'] else 'MISSED'}; "
          f"ratio >= {RATIO_TARGET} {'ok' if results['ratio_ok'] else 'MISSED'}")
    print(f"dashboard during (c): {gui['dashboard_samples']} samples, {gui['dashboard_redraws']} redraws")


if __name__ == "__main__":
    main()
