from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import apsw
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app.core.activity import Activity
from desktop_app.core.database import connect_write
from desktop_app.core.ingest import IngestStats
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.dashboard import Reading
from desktop_app.ui.settings import AppSettings

from .conftest import open_in

pytestmark = pytest.mark.gui


def menu_texts(menu) -> list[str]:
    return [action.text().replace("&", "") for action in menu.actions() if not action.isSeparator()]


def test_menus_toolbar_and_shortcuts(window) -> None:
    assert menu_texts(window.menus["file"]) == [
        "Open…", "Open Read-Only…", "New Database…", "Open Recent", "Close", "Import", "Preferences…", "Quit"
    ]
    assert menu_texts(window.import_menu) == ["CSV/TSV…", "JSON…", "SQL script…"]
    assert menu_texts(window.menus["tools"]) == [
        "Backup…", "Checkpoint", "VACUUM", "VACUUM INTO…", "Integrity Check", "Quick Check", "Foreign Key Check",
        "Optimize", "Pragmas…", "Copy to PostgreSQL…",
    ]
    assert menu_texts(window.checkpoint_menu) == ["Passive", "Full", "Restart", "Truncate"]
    assert menu_texts(window.menus["view"])[:4] == ["Dashboard", "Schema", "Query console", "Ingest"]
    assert menu_texts(window.menus["help"]) == ["Read Me", "Keyboard Shortcuts", "About SQLite Pulse"]
    assert window.open_action.shortcut().toString() == "Ctrl+O"
    assert window.new_action.shortcut().toString() == "Ctrl+N"
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    toolbar = [action.text().replace("&", "") for action in window.toolbar.actions() if action.text()]
    for name in ("Backup…", "VACUUM", "Integrity Check", "Optimize"):
        assert name in toolbar
    assert not window.backup_action.isEnabled()  # nothing open yet
    assert "SQLite Pulse" in window.windowTitle()


def test_open_shows_the_database_everywhere(qtbot, window, db_path: Path, settings: AppSettings) -> None:
    database = open_in(qtbot, window, db_path)
    assert database.path == db_path and not database.read_only
    assert window.windowTitle() == "pulse.db — SQLite Pulse"
    assert settings.recent_files() == [str(db_path)]
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 3, timeout=5000)
    labels = {key: label.text() for key, label in window.status_labels.items()}
    assert labels["file"] == "pulse.db"
    assert labels["journal"] == "journal: WAL"
    assert labels["size"].startswith("size: ") and labels["wal"].startswith("WAL: ")
    assert labels["access"] == "read-write"
    qtbot.waitUntil(lambda: len(window.schema.objects) == 2, timeout=5000)
    assert window.console.run_button.isEnabled()
    assert all(action.isEnabled() for action in window.database_actions)


def test_external_writes_show_up_as_activity(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 2, timeout=5000)
    stop = threading.Event()

    def write() -> None:
        connection = connect_write(db_path)
        while not stop.is_set():
            with connection:
                connection.execute("INSERT INTO readings(device, value) VALUES ('ext', 1)")
            stop.wait(0.01)
        connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        qtbot.waitUntil(lambda: window.dashboard.latest()["activity_per_s"] > 0, timeout=5000)
    finally:
        stop.set()
        writer.join()


def test_read_only_open_disables_writes(qtbot, window, db_path: Path) -> None:
    database = open_in(qtbot, window, db_path, read_only=True)
    assert database.read_only
    assert "(read-only)" in window.windowTitle()
    assert window.status_labels["access"].text() == "read-only"
    assert window.backup_action.isEnabled() and window.integrity_action.isEnabled()
    assert not window.vacuum_action.isEnabled() and not window.optimize_action.isEnabled()
    assert not window.checkpoint_actions["passive"].isEnabled()
    assert not window.console.allow_writes.isEnabled()


def test_file_menu_open_and_new_go_through_the_dialogs(qtbot, window, scripted: ScriptedDialogs, db_path: Path, tmp_path: Path) -> None:
    scripted.paths.append(db_path)
    with qtbot.waitSignal(window.database_opened, timeout=10_000):
        window.open_action.trigger()
    fresh = tmp_path / "fresh.db"
    scripted.paths.append(fresh)
    with qtbot.waitSignal(window.database_opened, timeout=10_000) as blocker:
        window.new_action.trigger()
    assert blocker.args[0].path == fresh and fresh.exists()
    connection = apsw.Connection(str(fresh))
    assert connection.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
    connection.close()


def _expect_error(qtbot, window, scripted: ScriptedDialogs, path: Path) -> str:
    with qtbot.waitSignal(window.open_failed, timeout=15_000):
        window.open_path(path)
    assert window.database is None
    title, text = scripted.errors[-1]
    assert title == f"Cannot open {path.name}"
    assert "Traceback" not in text
    return text


def test_bad_files_show_an_error_dialog(qtbot, window, scripted: ScriptedDialogs, tmp_path: Path, db_path: Path) -> None:
    text_file = tmp_path / "notes.db"
    text_file.write_text("hello, I am not a database\n" * 10)
    assert "not a SQLite database" in _expect_error(qtbot, window, scripted, text_file)

    assert "does not exist" in _expect_error(qtbot, window, scripted, tmp_path / "missing.db")

    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(db_path.read_bytes()[:150])
    assert "truncated" in _expect_error(qtbot, window, scripted, truncated)


def test_a_locked_database_says_so(qtbot, window, scripted: ScriptedDialogs, delete_mode_db: Path) -> None:
    holder = apsw.Connection(str(delete_mode_db))
    holder.execute("BEGIN EXCLUSIVE; INSERT INTO notes(body) VALUES ('held')")
    try:
        text = _expect_error(qtbot, window, scripted, delete_mode_db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in text


def test_missing_recent_file_is_dropped(qtbot, window, scripted: ScriptedDialogs, settings: AppSettings, tmp_path: Path) -> None:
    gone = tmp_path / "gone.db"
    settings.add_recent_file(gone)
    window._fill_recent_menu()
    action = next(a for a in window.recent_menu.actions() if a.text() == str(gone))
    with qtbot.waitSignal(window.open_failed, timeout=10_000):
        action.trigger()
    assert str(gone) not in settings.recent_files()


def test_drag_and_drop_opens_the_file(qtbot, window, db_path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(db_path))])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.database_opened, timeout=10_000):
        QApplication.sendEvent(window, drop)

    text_only = QMimeData()
    text_only.setText("not a file")
    refused = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, text_only, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, refused)
    assert not refused.isAccepted()


def test_close_database_clears_the_panels(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    with qtbot.waitSignal(window.database_closed, timeout=5000):
        window.close_action.trigger()
    assert window.database is None
    assert window.windowTitle() == "SQLite Pulse"
    assert not window.backup_action.isEnabled()
    assert window.schema.tree.topLevelItemCount() == 0
    assert "No database open" in window.status_labels["file"].text()


def test_toolbar_checkpoint_and_tools_menu_run_off_the_gui_thread(qtbot, window, scripted: ScriptedDialogs, db_path: Path, tmp_path: Path) -> None:
    open_in(qtbot, window, db_path)
    with qtbot.waitSignal(window.maintenance.finished, timeout=10_000) as blocker:
        window.checkpoint_button.click()
    assert blocker.args[0] == "checkpoint" and blocker.args[1].mode == "passive"
    assert "busy=0" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.maintenance.finished, timeout=10_000) as blocker:
        window.checkpoint_actions["truncate"].trigger()
    assert blocker.args[1].mode == "truncate"
    with qtbot.waitSignal(window.maintenance.finished, timeout=10_000) as blocker:
        window.integrity_action.trigger()
    assert blocker.args[1].ok
    scripted.paths.append(tmp_path / "b.db")
    with qtbot.waitSignal(window.maintenance.finished, timeout=10_000):
        window.backup_action.trigger()
    assert (tmp_path / "b.db").exists()


def test_about_names_the_versions(window, scripted: ScriptedDialogs) -> None:
    window.about_action.trigger()
    title, text = scripted.infos[-1]
    assert title == "About SQLite Pulse"
    assert f"SQLite {apsw.sqlite_lib_version()}" in text
    assert "Qt 6." in text and "Python 3." in text


def test_panels_can_be_hidden_and_shown(window) -> None:
    window.show()
    toggle = window.docks["schema"].toggleViewAction()
    toggle.trigger()
    assert window.docks["schema"].isHidden()
    window.show_all_panels()
    assert not window.docks["schema"].isHidden()


def test_geometry_and_layout_persist(qtbot, qloop, settings: AppSettings, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    from desktop_app.ui.main_window import MainWindow

    first = MainWindow(settings, dialogs=scripted, data_dir=tmp_path)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 520)  # within the offscreen screen, which restoreGeometry clamps to
    size = first.size()
    first.docks["ingest"].hide()
    first.close()
    assert settings.window_geometry() is not None and settings.window_state() is not None

    second = MainWindow(settings, dialogs=scripted, data_dir=tmp_path)
    qtbot.addWidget(second)
    second.show()
    assert second.docks["ingest"].isHidden()
    assert second.size() == size
    second.shutdown()


def test_real_error_dialog_is_non_blocking(qtbot, qloop, settings: AppSettings, tmp_path: Path) -> None:
    from desktop_app.ui.main_window import MainWindow

    main = MainWindow(settings, data_dir=tmp_path)  # real Qt dialogs
    qtbot.addWidget(main)
    main.show()
    bad = tmp_path / "bad.db"
    bad.write_text("nope")
    with qtbot.waitSignal(main.open_failed, timeout=10_000):
        main.open_path(bad)
    boxes = [box for box in main.findChildren(QMessageBox) if box.isVisible()]
    assert len(boxes) == 1 and "not a SQLite database" in boxes[0].text()
    boxes[0].accept()
    main.shutdown()


def test_values_growing_while_streaming_never_resize_the_window_or_its_charts(qtbot, window, db_path: Path) -> None:
    """A longer number in a tile, a counter or the status bar must not widen anything: a wider label widened
    the window, and every chart was laid out and repainted again, several times a second while ingesting."""
    window.show()
    qtbot.waitExposed(window)
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 2, timeout=5000)
    window.layouts.writing_started()  # what starting a stream does: the charts are built and shown now
    qtbot.wait(50)

    def sizes() -> tuple:
        return window.size(), window.dashboard.graphics.size(), window.docks["ingest"].size()

    before = sizes()
    for digits in range(1, 13):
        big = int("9" * digits)
        stats = replace(IngestStats.initial("backoff"), received=big, written=big, dead_letters=big, gaps=big,
                        rows_per_s=float(big), next_retry_in=9.9, retry_attempts=big)
        window.ingest.show_stats(stats)
        window.dashboard.add_reading(
            Reading(time.time(), float(big), Activity("WAL frames/s", float(big)), big, big, big, big, big, 99.9)
        )
        window.dashboard.redraw()
        window._set_status("size", f"size: {big:,} MB")
        window._set_status("ingest", f"ingest: {big:,} rows/s")
        qtbot.wait(20)
        assert sizes() == before, f"resized at {digits} digits"
