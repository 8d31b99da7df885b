"""Regenerate resources/screenshot-numbers.png: the demo streaming with two query series charted beside the
built-in charts, and the Space view of the demo database.

Starts the demo in the real window on an X server, adds two of the series the "SQLite Pulse ingest" preset
offers for the demo's own tables (rows written per minute, seconds since the last commit), lets them sample,
scans the space and shows the Space view. Without a DISPLAY it re-runs itself under xvfb-run:

    .venv/bin/python packaging/screenshot_numbers.py [--output resources/screenshot-numbers.png]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from screenshot_browse import in_a_window, run_on_a_display, until

SERIES = ("ingest_rows", "ingest_lag")


async def stage(window, output: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    window.start_demo(2000)
    numbers = window.numbers
    await until(lambda: any(match.preset.key == "pulse_ingest" for match in numbers.matches), timeout=30)
    match = next(match for match in numbers.matches if match.preset.key == "pulse_ingest")
    numbers.series = tuple(series for series in match.series if series.name in SERIES)
    numbers._apply()  # as the panel's own Add does, with two of the preset's series
    session = window.workspace.session
    await until(lambda: all(name in session.query_values for name in SERIES), timeout=30)
    await asyncio.sleep(15)  # some history on the charts
    window.docks["space"].show()
    window.docks["space"].raise_()
    window.resizeDocks([window.docks["dashboard"], window.docks["console"]], [520, 300], Qt.Orientation.Vertical)
    window.space.scan()
    await until(lambda: window.space.report is not None, timeout=30)
    await asyncio.sleep(1.5)  # a few redraws after the resize
    image = window.grab().toImage().convertToFormat(QImage.Format.Format_Indexed8)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(output), "PNG", 0):
        raise OSError(f"could not save {output}")
    print(f"{output}: {image.width()}x{image.height()}, {output.stat().st_size:,} bytes; {window.space.summary_label.text()}")


def shoot(output: Path) -> None:
    in_a_window(lambda window, _scratch: stage(window, output.absolute()), (1360, 900))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("resources/screenshot-numbers.png"))
    args = parser.parse_args()
    run_on_a_display(__file__, args.output, shoot, screen="1400x960x24")


if __name__ == "__main__":
    main()
