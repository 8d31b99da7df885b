"""Nothing of the old file stays: after File > Open, every panel shows the new file in its fresh state, and
the demo that was streaming has left no child process behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from desktop_app.core.database import connect_write, create_database
from desktop_app.ui.main_window import MainWindow
from tests.processes import children_of

from .conftest import open_in

pytestmark = pytest.mark.gui


@pytest.fixture
def other_db(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    create_database(path)
    connection = connect_write(path)
    connection.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    connection.close()
    return path


def test_opening_another_file_leaves_every_panel_fresh(qtbot, window: MainWindow, scripted, db_path: Path,
                                                        other_db: Path, tmp_path: Path) -> None:
    window.resize(1200, 800)
    window.show()
    open_in(qtbot, window, db_path)
    controller, browser = window.ingest_controller, window.schema.browser
    window.start_demo(500)
    qtbot.waitUntil(lambda: window.dashboard.welcome.isVisible(), timeout=20_000)
    qtbot.waitUntil(lambda: window.ingest.state_label.text().startswith("connected"), timeout=30_000)
    qtbot.waitUntil(lambda: controller.last_stats is not None and controller.last_stats.written > 0, timeout=30_000)
    qtbot.waitUntil(lambda: any(o.name == "readings" for o in window.schema.objects), timeout=10_000)

    browser.open_table("readings")
    qtbot.waitUntil(lambda: browser.model is not None and browser.model.rowCount() > 0 and not browser.model.fetching,
                    timeout=10_000)
    scripted.paths.append(tmp_path / "readings.csv")
    browser.table_export.actions["csv"].trigger()
    qtbot.waitUntil(lambda: "Exported" in browser.table_export.status.text(), timeout=30_000)
    browser.view.setCurrentIndex(browser.model.index(0, 1))
    viewer = browser.grid_tools.view_current()
    assert viewer is not None and viewer.isVisible() and viewer.summary.text()
    qtbot.keyClicks(browser.go_edit, "5")

    open_in(qtbot, window, other_db)

    assert window.session is not None and window.session.path == other_db
    assert browser.table_export.status.text() == ""  # no "Exported…" of the old file
    assert not window.dashboard.welcome.isVisible()  # the demo's note went with the demo
    assert browser.go_edit.text() == ""
    assert not viewer.isVisible() and viewer.summary.text() == "" and viewer.text.toPlainText() == ""
    assert not controller.running and window.ingest.state_label.text() == "idle"
    assert {label.text() for label in window.ingest.counter_labels.values()} == {"–"}  # no frozen counts
    assert window.ingest.start_button.isEnabled()
    assert not children_of(os.getpid())


def test_closing_the_window_closes_the_file_on_the_loop(qtbot, window: MainWindow, db_path: Path) -> None:
    window.show()
    open_in(qtbot, window, db_path)
    with qtbot.waitSignal(window.database_closed, timeout=10_000):
        window.close()  # returns at once; the file closes on the loop, then the window
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert window.session is None and window.shut_down
