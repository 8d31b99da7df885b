"""`sqlite-pulse smoke`: start the real window, stream the demo into a temp database, prove each part works.

Checks that the charts received points, that the console runs a query and an EXPLAIN QUERY PLAN, that a
checkpoint and a backup succeed, and optionally saves a screenshot. Runs offscreen, under X, and from the
packaged app (the demo server is spawned through `spawn_demo_server`, which knows about frozen builds).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QImage

# isort: split
import qasync  # after PySide6 on purpose: it binds to the Qt already imported

from desktop_app.core.database import create_database, open_database
from desktop_app.core.maintenance import integrity_check
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.settings import AppSettings

if TYPE_CHECKING:
    from desktop_app.ui.main_window import MainWindow

SMOKE_RATE = 2000
STEP_TIMEOUT = 30.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


class SmokeFailed(Exception):
    pass


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SmokeFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def next_emission(signal: SignalInstance, start: Callable[[], object], timeout: float, what: str) -> tuple:
    """Connect to `signal`, call `start()`, and wait for the first emission's arguments."""
    received: list[tuple] = []

    def record(*args: object) -> None:
        received.append(args)

    signal.connect(record)
    try:
        start()
        await until(lambda: bool(received), timeout, what)
    finally:
        signal.disconnect(record)
    return received[0]


class SmokeTest:
    def __init__(self, window: MainWindow, workdir: Path, seconds: float, screenshot: Path | None, out: TextIO) -> None:
        self.window = window
        self.workdir = workdir
        self.seconds = seconds
        self.screenshot = screenshot
        self.out = out
        self.checks: list[Check] = []

    def record(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", file=self.out, flush=True)
        return ok

    async def step(self, name: str, body: Callable[[], Awaitable[tuple[bool, str]]]) -> None:
        try:
            ok, detail = await body()
        except SmokeFailed as exc:
            ok, detail = False, str(exc)
        self.record(name, ok, detail)

    async def run(self) -> bool:
        window = self.window
        path = self.workdir / "smoke.db"
        create_database(path)
        await self.step("open database", lambda: self.open(path))
        if window.database is None:
            return False
        await self.step("demo stream ingests", self.ingest)
        await self.step("charts received points", self.charts)
        await self.step("console runs a query", self.query)
        await self.step("console shows EXPLAIN QUERY PLAN", self.plan)
        await self.step("checkpoint", self.checkpoint)
        await self.step("backup", self.backup)
        if self.screenshot is not None:
            await self.step("screenshot", self.take_screenshot)
        await self.step("ingest stops cleanly", self.stop_ingest)
        dialogs = window.dialogs  # ScriptedDialogs, given below: they record what would have been shown
        errors = dialogs.errors if isinstance(dialogs, ScriptedDialogs) else []
        self.record("no error dialogs", not errors, "; ".join(f"{t}: {m}" for t, m in errors) or "none")
        return all(check.ok for check in self.checks)

    async def open(self, path: Path) -> tuple[bool, str]:
        (database,) = await next_emission(
            self.window.database_opened, lambda: self.window.open_path(path), STEP_TIMEOUT, "the database to open"
        )
        return True, f"{database.path.name} opened read-write"

    async def ingest(self) -> tuple[bool, str]:
        controller = self.window.ingest_controller
        self.window.start_demo(SMOKE_RATE)
        await until(lambda: controller.last_stats is not None and controller.last_stats.written > 0, STEP_TIMEOUT, "rows to be written")
        await asyncio.sleep(self.seconds)
        stats = controller.poll()
        assert stats is not None  # seen by until() above
        return stats.written > 0, f"{stats.received:,} received, {stats.written:,} written, state {stats.state}"

    def _demo_table(self) -> str:
        config = self.window.ingest_controller.config
        assert config is not None  # the demo is running
        return config.table

    async def charts(self) -> tuple[bool, str]:
        dashboard = self.window.dashboard
        await until(lambda: dashboard.plotted_points() >= 4, 5, "points on the charts")
        samples, plotted = dashboard.point_count(), dashboard.plotted_points()
        return samples >= 4 and plotted >= 4, f"{samples} samples held, {plotted} points drawn, {dashboard.redraw_count} redraws"

    async def query(self) -> tuple[bool, str]:
        console = self.window.console
        table = self._demo_table()
        sql = f'SELECT count(*) AS n, max(rowid) AS last FROM "{table}"'
        console.editor.setPlainText(sql)  # typed in, as a user would: the screenshot shows it
        (result,) = await next_emission(console.query_finished, console.run, STEP_TIMEOUT, "the query")
        rows = console.result_model.rows()
        return result.row_count == 1 and rows[0][0] > 0, f"{rows[0][0]:,} rows in {table} ({result.elapsed_ms:.1f} ms)"

    async def plan(self) -> tuple[bool, str]:
        console = self.window.console
        table = self._demo_table()
        sql = f'SELECT * FROM "{table}" WHERE rowid > 10 ORDER BY 2'
        (roots,) = await next_emission(console.plan_ready, lambda: console.explain_plan(sql), STEP_TIMEOUT, "the plan")
        details = [node.detail for node in roots]
        return bool(roots), "; ".join(details)

    async def checkpoint(self) -> tuple[bool, str]:
        maintenance = self.window.maintenance
        action, result = await next_emission(
            maintenance.finished, lambda: maintenance.checkpoint("passive"), STEP_TIMEOUT, "the checkpoint"
        )
        return action == "checkpoint" and result.log_frames >= 0, f"busy={result.busy}, log={result.log_frames}, checkpointed={result.checkpointed_frames}"

    async def backup(self) -> tuple[bool, str]:
        maintenance = self.window.maintenance
        destination = self.workdir / "smoke-backup.db"
        action, result = await next_emission(
            maintenance.finished, lambda: maintenance.backup_to(destination), STEP_TIMEOUT, "the backup"
        )
        check = await asyncio.get_running_loop().run_in_executor(None, lambda: integrity_check(open_database(destination).path))
        return (
            action == "backup" and not result.cancelled and check.ok,
            f"{result.pages} pages in {result.seconds:.2f} s; integrity {'ok' if check.ok else check.messages[:3]}",
        )

    async def take_screenshot(self) -> tuple[bool, str]:
        # The console in front with its query's results, and the charts without the first-run note above them.
        self.window.docks["console"].raise_()
        self.window.console.tabs.setCurrentIndex(0)
        self.window.dashboard.welcome.hide()
        await asyncio.sleep(0.3)  # a few redraws
        image = self.window.grab().toImage()
        screenshot = self.screenshot
        assert screenshot is not None  # this step runs only when a screenshot was asked for
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        saved = save_png(image, screenshot)
        size = screenshot.stat().st_size if saved else 0
        return saved and size > 10_000, f"{screenshot} ({image.width()}x{image.height()}, {size:,} bytes)"

    async def stop_ingest(self) -> tuple[bool, str]:
        controller = self.window.ingest_controller
        (stats,) = await next_emission(controller.stopped, controller.stop, STEP_TIMEOUT, "the ingest to stop")
        return stats is not None and stats.state == "stopped", f"{stats.written:,} written, {stats.dead_letters} dead letters"


SCREENSHOT_BUDGET = 250_000  # bytes: screenshots go into the repository and the README


def save_png(image: QImage, path: Path) -> bool:
    """Best PNG compression; a 256-colour palette when that is still over the budget (charts and text in a
    flat UI lose nothing visible)."""
    # PySide6's stub types QImage.save's format as bytes; a str is what PySide6 documents and accepts.
    if not image.save(str(path), "PNG", 0):  # type: ignore[call-overload]
        return False
    if path.stat().st_size > SCREENSHOT_BUDGET:
        indexed = image.convertToFormat(QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.ThresholdDither)
        return indexed.save(str(path), "PNG", 0)  # type: ignore[call-overload]  # (as above)
    return True


def run_smoke(
    seconds: float, screenshot: Path | None, out: TextIO = sys.stdout, *, theme: str = "system", size: tuple[int, int] = (1360, 860)
) -> int:
    from desktop_app.ui.application import create_application
    from desktop_app.ui.main_window import MainWindow

    app = create_application()
    with tempfile.TemporaryDirectory(prefix="sqlite-pulse-smoke-") as scratch:
        workdir = Path(scratch)
        settings = AppSettings.at(workdir / "settings.ini")
        settings.set_preferences(replace(settings.preferences(), theme=theme))
        window = MainWindow(settings, dialogs=ScriptedDialogs(), data_dir=workdir)
        window.resize(*size)
        window.fit_to_screen()
        window.show()
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        smoke = SmokeTest(window, workdir, seconds, screenshot.absolute() if screenshot else None, out)
        try:
            with loop:
                passed = loop.run_until_complete(smoke.run())
        finally:
            window.shutdown()
            window.close()
            window.deleteLater()
            asyncio.set_event_loop(None)
    print(f"smoke: {'passed' if passed else 'FAILED'} ({sum(c.ok for c in smoke.checks)}/{len(smoke.checks)} checks)", file=out)
    return 0 if passed else 1


