"""Monitor / Browse: chosen on open from the file's state, switched by an outside writer, picked and remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.database import connect_write
from desktop_app.ui.layout_modes import BROWSE, MONITOR

from .conftest import open_in

pytestmark = pytest.mark.gui


def shown(qtbot, window, mode: str) -> None:
    qtbot.waitUntil(lambda: window.layouts.mode == mode, timeout=10_000)
    charts = window.dashboard.graphics
    dashboard, lower = window.docks["dashboard"], window.docks["console"]
    if mode == BROWSE:
        # Folded to its tiles: the data view and the console get most of the height.
        qtbot.waitUntil(lambda: not charts.isVisible() and dashboard.height() * 3 < lower.height(), timeout=5000)
    else:
        qtbot.waitUntil(lambda: charts.isVisible() and dashboard.height() > lower.height(), timeout=5000)
    assert window.layouts.actions[mode].isChecked()


def test_a_static_file_opens_in_browse_and_an_outside_writer_brings_the_charts(qtbot, window, db_path: Path) -> None:
    window.show()
    open_in(qtbot, window, db_path)
    shown(qtbot, window, BROWSE)
    assert window.docks["schema"].isVisible()  # the data view is in front
    writer = connect_write(db_path)
    try:
        writer.execute("INSERT INTO readings(device, value) VALUES ('outside', 1)")
        shown(qtbot, window, MONITOR)
    finally:
        writer.close()


def test_a_file_being_written_opens_in_monitor(qtbot, window, db_path: Path) -> None:
    writer = connect_write(db_path)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("INSERT INTO readings(device, value) VALUES ('live', 1)")  # frames wait in the WAL
        window.show()
        open_in(qtbot, window, db_path)
        shown(qtbot, window, MONITOR)
    finally:
        writer.close()


def test_the_users_pick_is_remembered_per_file(qtbot, window, db_path: Path, settings, tmp_path: Path) -> None:
    window.show()
    open_in(qtbot, window, db_path)
    shown(qtbot, window, BROWSE)
    window.layouts.actions[MONITOR].trigger()  # as from the View menu or the toolbar
    shown(qtbot, window, MONITOR)
    assert settings.layout_for(db_path) == MONITOR
    window.layouts.actions[BROWSE].trigger()
    shown(qtbot, window, BROWSE)
    seen = []
    window.session.events.data_changed.connect(seen.append)  # after the layouts' own subscriber
    writer = connect_write(db_path)
    try:
        writer.execute("INSERT INTO readings(device, value) VALUES ('outside', 1)")
        qtbot.waitUntil(lambda: bool(seen), timeout=10_000)  # the outside write was seen...
        assert window.layouts.mode == BROWSE  # ...and a picked layout stays
    finally:
        writer.close()
    other = tmp_path / "other.db"
    connect_write(other, create=True).close()
    open_in(qtbot, window, other)
    assert window.layouts.mode == BROWSE and not window.layouts.picked
    open_in(qtbot, window, db_path)
    shown(qtbot, window, BROWSE)
    assert window.layouts.picked and settings.layout_for(db_path) == BROWSE
    assert window.layouts.actions[BROWSE] in window.menus["view"].actions()
    assert window.layouts.actions[BROWSE] in window.toolbar.actions()


def test_a_taller_window_gives_the_height_to_the_rows_not_the_folded_tiles(qtbot, window, db_path: Path) -> None:
    """Maximising in Browse: the folded dashboard keeps its tiles' height; back in Monitor the charts grow."""
    window.show()
    open_in(qtbot, window, db_path)
    shown(qtbot, window, BROWSE)
    dashboard = window.docks["dashboard"]
    folded, before = dashboard.height(), window.height()
    window.resize(window.width(), before + 300)
    qtbot.waitUntil(lambda: window.height() == before + 300, timeout=5000)
    qtbot.wait(200)  # the dock layout settles after the resize event
    assert dashboard.height() < folded * 1.5  # it was 381 px from 81 before the cap
    window.layouts.actions[MONITOR].trigger()
    shown(qtbot, window, MONITOR)
    assert dashboard.height() > folded * 2
