"""Regenerate resources/screenshot-browse.png: Northwind-like "Order Details" sorted and filtered in the grid.

Builds (once, cached in the temp folder) a 600,000-row "Order Details" (OrderID, ProductID, UnitPrice,
Quantity, Discount; primary key (OrderID, ProductID); an index on ProductID), opens it read-only in the real
window on an X server, filters ProductID to 11, sorts by Quantity descending, counts the matches, and saves
the window as an 8-bit PNG (small enough for the README). Without a DISPLAY it re-runs itself under
xvfb-run:

    .venv/bin/python packaging/screenshot_browse.py [--output resources/screenshot-browse.png]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import apsw

ROWS = 600_000
TABLE = "Order Details"


def build(rows: int = ROWS) -> Path:
    path = Path(tempfile.gettempdir()) / "sqlite-pulse-bench" / f"northwind-order-details-{rows}.db"
    if path.exists():
        return path
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    connection = apsw.Connection(str(partial))
    connection.execute("PRAGMA journal_mode = OFF").fetchall()  # a row to read: apsw runs on as rows are read
    connection.execute(
        f"""
        CREATE TABLE "{TABLE}"(
            OrderID INTEGER NOT NULL, ProductID INTEGER NOT NULL, UnitPrice NUMERIC NOT NULL DEFAULT 0,
            Quantity INTEGER NOT NULL DEFAULT 1, Discount REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (OrderID, ProductID));
        CREATE INDEX "ProductID" ON "{TABLE}"(ProductID);
        BEGIN;
        WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {rows - 1})
        INSERT INTO "{TABLE}"
        SELECT 10248 + i / 3,
               (((i / 3) * 13 + (i % 3) * 29) % 77) + 1 AS product,
               round(2.5 + ((((i / 3) * 13 + (i % 3) * 29) % 77 + 1) * 7919 % 2600) / 100.0, 2),
               abs(random() % 120) + 1,
               round((abs(random() % 6)) * 0.05, 2)
        FROM n;
        COMMIT;
        """
    )
    connection.execute("PRAGMA journal_mode = WAL").fetchall()
    connection.close()
    partial.rename(path)
    return path


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        await asyncio.sleep(0.05)


async def stage(window, path: Path, output: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    await window.open_path(path, read_only=True)
    schema = window.schema
    await until(lambda: any(obj.name == TABLE for obj in schema.objects))
    window.docks["schema"].show()
    window.docks["schema"].raise_()
    window.docks["ingest"].hide()  # a static file: nothing to ingest, the grid gets the width
    window.resizeDocks([window.docks["dashboard"], window.docks["console"]], [170, 680], Qt.Orientation.Vertical)
    schema.sql_view.parentWidget().setSizes([70, 600])  # the table's SQL, short; the rows, tall
    schema.select(TABLE)
    browser = schema.browser
    await until(lambda: browser.model is not None and browser.model.rowCount() > 0 and bool(browser.header.editors))
    browser.header.set_filter_text("ProductID", "=11")
    await until(lambda: not browser.model.fetching and bool(browser.model.spec and browser.model.spec.conditions))
    quantity = browser.model.columns.index("Quantity")
    browser.header._on_clicked(quantity)  # a click on the header: ascending, and again: descending
    await until(lambda: not browser.model.fetching)
    browser.header._on_clicked(quantity)
    await until(lambda: not browser.model.fetching and browser.model.spec.descending)
    browser.toggle_count()
    await until(lambda: browser.model.total is not None)
    for column, width in (("OrderID", 90), ("ProductID", 90), ("UnitPrice", 90), ("Quantity", 80)):
        browser.header.resizeSection(browser.model.columns.index(column), width)
    await asyncio.sleep(0.5)  # let the last paint land
    image = window.grab().toImage().convertToFormat(QImage.Format.Format_Indexed8)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(output), "PNG", 0):  # 0: the strongest compression
        raise OSError(f"could not save {output}")
    print(f"{output}: {image.width()}x{image.height()}, {output.stat().st_size:,} bytes; {browser.info_label.text()}")


def shoot(path: Path, output: Path) -> None:
    import qasync  # after PySide6 on purpose: it binds to the Qt already imported

    from desktop_app.ui.application import create_application
    from desktop_app.ui.dialogs import ScriptedDialogs
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.settings import AppSettings

    app = create_application()
    with tempfile.TemporaryDirectory(prefix="sqlite-pulse-shot-") as scratch:
        window = MainWindow(AppSettings.at(Path(scratch) / "settings.ini"), dialogs=ScriptedDialogs(), data_dir=Path(scratch))
        window.resize(1200, 760)
        window.show()
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            with loop:
                loop.run_until_complete(stage(window, path, output.absolute()))
        finally:
            window.shutdown()
            window.close()
            asyncio.set_event_loop(None)


def in_a_window(stage: Callable[[Any, Path], Awaitable[None]], size: tuple[int, int]) -> None:
    """`await stage(window, scratch)` in the real main window on a qasync loop: fresh settings in a scratch
    folder (the welcome already dismissed), the window at the screen's corner; then everything is closed."""
    import qasync  # after PySide6 on purpose: it binds to the Qt already imported

    from desktop_app.ui.application import create_application
    from desktop_app.ui.dialogs import ScriptedDialogs
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.settings import AppSettings

    app = create_application()
    with tempfile.TemporaryDirectory(prefix="sqlite-pulse-shot-") as scratch:
        settings = AppSettings.at(Path(scratch) / "settings.ini")
        settings.set_welcome_dismissed(True)
        window = MainWindow(settings, dialogs=ScriptedDialogs(), data_dir=Path(scratch))
        window.resize(*size)
        window.move(0, 0)
        window.show()
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        try:
            with loop:
                loop.run_until_complete(stage(window, Path(scratch)))
                loop.run_until_complete(window.workspace.aclose())
        finally:
            window.shutdown()
            window.close()
            asyncio.set_event_loop(None)


def run_on_a_display(script: str, output: Path, shoot: Callable[[Path], None], screen: str = "1400x900x24") -> None:
    """`shoot(output)` on this display; without one, `script` again under xvfb-run (the shots need a real X)."""
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        xvfb_run = shutil.which("xvfb-run")
        if xvfb_run is None:
            sys.exit("No DISPLAY and no xvfb-run: apt-get install xvfb xauth")
        env = dict(os.environ, QT_QPA_PLATFORM="xcb")
        command = [xvfb_run, "-a", "-s", f"-screen 0 {screen} -nolisten tcp", sys.executable, script, "--output", str(output)]
        sys.exit(subprocess.run(command, env=env, check=False).returncode)
    shoot(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("resources/screenshot-browse.png"))
    args = parser.parse_args()
    run_on_a_display(__file__, args.output, lambda output: shoot(build(), output))


if __name__ == "__main__":
    main()
