"""File ▸ Open during a demo stream stops the ingest (the worker flushes, the server ends) while the window's
event loop keeps running: a 10 ms timer is never more than 50 ms late."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer

from tests.processes import alive
from tests.scenarios import wait_for

from .conftest import resolve
from .test_ingest_panel import rows_in

pytestmark = pytest.mark.gui

TICK_MS = 10
WORST_LATENESS_MS = 50.0


class LatenessProbe:
    """How much later than TICK_MS after the previous tick each tick of a precise timer came."""

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
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        """The worst lateness, counting a tick still due (a loop blocked until now would otherwise go unseen)."""
        self.timer.stop()
        pending = (time.perf_counter() - self._last) * 1000.0 - TICK_MS
        return max([*self.lateness_ms, pending, 0.0])


def test_opening_a_file_during_a_demo_stops_it_without_blocking_the_loop(qtbot, qloop, window, db_path: Path) -> None:
    controller = window.ingest_controller
    probe = LatenessProbe()

    async def scenario() -> tuple[float, int]:
        window.start_demo(2000)
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written > 0, 30)
        await wait_for(lambda: window.database is not None and window.database.path == window.demo_database_path(), 10)
        server, worker = controller.demo_pid, controller.worker_pid
        assert alive(server) and alive(worker)
        probe.start()
        started = time.perf_counter()
        window.open_path(db_path)  # File ▸ Open: the demo's run ends, the new file opens
        await wait_for(lambda: window.database is not None and window.database.path == db_path, 20)
        await wait_for(lambda: not controller.running and not alive(server) and not alive(worker), 20)
        print(f"the ingest stopped in {(time.perf_counter() - started) * 1000:.0f} ms;", end=" ")
        return probe.stop(), len(probe.lateness_ms)

    worst, ticks = resolve(qtbot, scenario(), timeout=90_000)
    print(f"worst event-loop lateness meanwhile: {worst:.1f} ms over {ticks} ticks")
    assert ticks > 0  # the loop ran while the ingest stopped
    assert worst < WORST_LATENESS_MS
    assert controller.last_stats.state == "stopped"


def test_closing_the_window_during_a_demo_closes_it_once_the_worker_has_flushed(qtbot, qloop, window) -> None:
    controller = window.ingest_controller
    window.show()

    async def scenario() -> None:
        window.start_demo(2000)
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written > 0, 30)
        server, worker = controller.demo_pid, controller.worker_pid
        window.close()
        assert window.isVisible()  # not yet: the worker is flushing, and the window keeps painting
        await wait_for(lambda: not window.isVisible(), 30)
        assert not controller.running and not alive(server) and not alive(worker)

    resolve(qtbot, scenario(), timeout=90_000)
    final = controller.last_stats
    assert final.state == "stopped" and final.unwritten == 0
    assert rows_in(window.demo_database_path(), "readings") == final.written > 0
