"""Regenerate resources/screenshot-console.png: the query console with two tabs, completion open after an
alias's dot, and the first tab's result plotted beside it.

Builds a small music-shop database (artists, albums, invoices over two years), opens it in the real window on
an X server, runs a monthly-revenue query in the first tab and plots it (two countries as two curves), opens a
second tab with `SELECT a.` and the completion popup listing the album's columns. The popup is a window of its
own, so the shot is taken from the screen, not from the main window. Without a DISPLAY it re-runs itself
under xvfb-run:

    .venv/bin/python packaging/screenshot_console.py [--output resources/screenshot-console.png]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from pathlib import Path

from screenshot_browse import in_a_window, run_on_a_display, until

MONTHLY = """SELECT strftime('%Y-%m-01', InvoiceDate) AS month,
       round(sum(Total) FILTER (WHERE Country = 'USA'), 2) AS usa,
       round(sum(Total) FILTER (WHERE Country = 'Canada'), 2) AS canada
FROM invoice
GROUP BY month
ORDER BY month;"""
ALIASED = "SELECT a.\nFROM album AS a\nJOIN artist AS r USING (ArtistId)\nWHERE r.Name LIKE 'The %';"


def build(path: Path) -> Path:
    import apsw

    rng = random.Random(7)
    connection = apsw.Connection(str(path))
    with connection:
        connection.execute("""
            CREATE TABLE artist(ArtistId INTEGER PRIMARY KEY, Name TEXT NOT NULL);
            CREATE TABLE album(AlbumId INTEGER PRIMARY KEY, Title TEXT NOT NULL, ReleaseYear INTEGER,
                               ArtistId INTEGER NOT NULL REFERENCES artist);
            CREATE TABLE invoice(InvoiceId INTEGER PRIMARY KEY, InvoiceDate TEXT NOT NULL, Country TEXT NOT NULL,
                                 Total REAL NOT NULL);""")
        connection.executemany("INSERT INTO artist(Name) VALUES (?)", [(f"The Band {n}",) for n in range(40)])
        connection.executemany("INSERT INTO album(Title, ReleaseYear, ArtistId) VALUES (?, ?, ?)",
                               [(f"Album {n}", 1970 + n % 50, 1 + n % 40) for n in range(120)])
        invoices = []
        for day in range(730):
            for country, base in (("USA", 6.0), ("Canada", 3.5), ("Brazil", 2.0)):
                for _ in range(rng.randint(0, 3)):
                    total = round(base * (1 + day / 700) * rng.uniform(0.5, 1.5), 2)
                    invoices.append((f"2024-01-01 +{day} days", country, total))
        connection.executemany("INSERT INTO invoice(InvoiceDate, Country, Total) VALUES (datetime('2024-01-01', ?), ?, ?)",
                               [(f"+{day.split('+')[1]}", country, total) for day, country, total in invoices])
    connection.close()
    return path


async def stage(window, path: Path, output: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    await window.open_path(path)
    console = window.console
    await until(lambda: console.session is not None and bool(console.catalog.tables))
    window.docks["schema"].hide()
    window.docks["console"].show()
    window.docks["console"].raise_()
    window.docks["plot"].show()
    window.docks["plot"].raise_()  # it shares the right-hand side with the ingest: beside the console
    window.resizeDocks([window.docks["dashboard"], window.docks["console"]], [150, 650], Qt.Orientation.Vertical)
    window.resizeDocks([window.docks["console"], window.docks["plot"]], [640, 560], Qt.Orientation.Horizontal)

    first = console.tab
    console.rename_tab(console.query_tabs.indexOf(first), "Monthly revenue")
    first.editor.setPlainText(MONTHLY)
    with_result = console.run()
    assert with_result is not None
    await with_result
    await until(lambda: console.current_result() is not None)
    plot = window.plot
    plot.show_source(window.console_rows())
    await until(lambda: not plot.building and plot.x_box.count() > 0)  # prepared off the GUI thread
    plot.choose("month", ["usa", "canada"], "line")
    await until(lambda: not plot.building and len(plot.items) == 2)

    second = console.new_tab(ALIASED, title="Albums")
    cursor = second.editor.textCursor()
    cursor.setPosition(len("SELECT a."))
    second.editor.setTextCursor(cursor)
    second.editor.setFocus()
    await asyncio.sleep(0.5)  # the layout settles before the popup is placed under the cursor
    second.editor.show_completions(forced=False)
    await until(lambda: second.editor.popup_visible and "Title" in second.editor.completions())
    await asyncio.sleep(1.0)  # a few paints of the plot and the popup
    frame = window.frameGeometry()
    screen = QApplication.primaryScreen()
    image = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height()).toImage()
    image = image.convertToFormat(QImage.Format.Format_Indexed8)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(output), "PNG", 0):
        raise OSError(f"could not save {output}")
    print(f"{output}: {image.width()}x{image.height()}, {output.stat().st_size:,} bytes; "
          f"completion offers {second.editor.completions()}")


def shoot(output: Path) -> None:
    in_a_window(lambda window, scratch: stage(window, build(scratch / "music-shop.db"), output.absolute()), (1360, 860))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("resources/screenshot-console.png"))
    args = parser.parse_args()
    run_on_a_display(__file__, args.output, shoot, screen="1400x900x24")


if __name__ == "__main__":
    main()
