"""The editor's completion popup: after an alias dot, after two characters, on Ctrl+Space; Tab and Enter take
the name; the catalog follows schema changes without a database call per keystroke."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor

from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.console import ConsolePanel
from desktop_app.ui.settings import AppSettings

# A popup grabs the keyboard, which the offscreen platform cannot do (it says so; a real display does not).
pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support grabbing the keyboard", extend=True)]


@pytest.fixture
def music_db(tmp_path: Path) -> Path:
    path = tmp_path / "music.db"
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL").fetchall()
    connection.execute(
        "CREATE TABLE Album(AlbumId INTEGER PRIMARY KEY, Title TEXT, ArtistId INTEGER);"
        "CREATE TABLE Track(TrackId INTEGER PRIMARY KEY, Name TEXT, AlbumId INTEGER);"
    )
    connection.close()
    return path


@pytest.fixture
def console(qtbot, settings: AppSettings, scripted: ScriptedDialogs, open_session, music_db: Path) -> Iterator[ConsolePanel]:
    panel = ConsolePanel(settings, scripted)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    with qtbot.waitSignal(panel.catalog_loaded, timeout=5000):
        panel.set_session(open_session(music_db))
    yield panel
    panel.set_session(None)


def type_into(qtbot, console: ConsolePanel, before: str, after: str = "") -> None:
    """`before` + `after` in the editor with the cursor between them, focused."""
    editor = console.editor
    editor.setPlainText(before + after)
    cursor = editor.textCursor()
    cursor.setPosition(len(before))
    editor.setTextCursor(cursor)
    editor.setFocus()
    qtbot.waitUntil(editor.hasFocus, timeout=2000)


def test_a_dot_after_an_alias_pops_up_its_tables_columns_and_tab_takes_one(qtbot, console: ConsolePanel) -> None:
    type_into(qtbot, console, "SELECT a", " FROM Album a")
    qtbot.keyClick(console.editor, Qt.Key.Key_Period)
    qtbot.waitUntil(lambda: console.editor.popup_visible, timeout=2000)
    assert console.editor.completions() == ["AlbumId", "Title", "ArtistId"]
    qtbot.keyClicks(console.editor, "ti")
    assert console.editor.completions() == ["Title"]
    qtbot.keyClick(console.editor.completer.popup(), Qt.Key.Key_Tab)
    assert console.editor.toPlainText() == "SELECT a.Title FROM Album a"
    assert not console.editor.popup_visible


def test_two_characters_open_it_enter_takes_the_first_and_escape_closes(qtbot, console: ConsolePanel) -> None:
    type_into(qtbot, console, "SELECT * FROM ")
    qtbot.keyClick(console.editor, Qt.Key.Key_T)
    assert not console.editor.popup_visible  # one character: not yet
    qtbot.keyClick(console.editor, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: console.editor.popup_visible, timeout=2000)
    assert console.editor.completions()[0] == "Track"
    qtbot.keyClick(console.editor.completer.popup(), Qt.Key.Key_Return)
    assert console.editor.toPlainText() == "SELECT * FROM Track"  # no newline typed

    qtbot.keyClicks(console.editor, " WHERE Na")
    qtbot.waitUntil(lambda: console.editor.popup_visible, timeout=2000)
    assert console.editor.completions()[0] == "Name"
    qtbot.keyClick(console.editor.completer.popup(), Qt.Key.Key_Escape)
    assert not console.editor.popup_visible
    assert console.editor.toPlainText() == "SELECT * FROM Track WHERE Na"


def test_ctrl_enter_runs_even_while_the_popup_is_open(qtbot, console: ConsolePanel) -> None:
    type_into(qtbot, console, "SELECT Ti", "tle FROM Album")
    console.editor.show_completions()
    assert console.editor.popup_visible
    with qtbot.waitSignal(console.query_finished, timeout=5000):
        qtbot.keyClick(console.editor.completer.popup(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not console.editor.popup_visible and console.result_model.columns == ["Title"]
    # Where the popup grabs the keyboard, the completer hands the key to the editor itself (no shortcut).
    console.editor.show_completions()
    press = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(console.query_finished, timeout=5000):
        console.editor.event(press)
    assert not console.editor.popup_visible and console.editor.toPlainText() == "SELECT Title FROM Album"


def test_ctrl_space_offers_everything_that_fits(qtbot, console: ConsolePanel) -> None:
    type_into(qtbot, console, "SELECT ", " FROM Track")
    qtbot.keyClick(console.editor, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: console.editor.popup_visible, timeout=2000)
    offered = console.editor.completions()
    assert offered[:3] == ["TrackId", "Name", "AlbumId"] and "Album" in offered and "json_extract" in offered
    assert console.editor.toPlainText() == "SELECT  FROM Track"  # no space typed


def test_the_catalog_follows_a_schema_change(qtbot, console: ConsolePanel, music_db: Path) -> None:
    other = apsw.Connection(str(music_db))
    with qtbot.waitSignal(console.catalog_loaded, timeout=5000) as blocker:
        other.execute("CREATE TABLE Artist(ArtistId INTEGER PRIMARY KEY, Name TEXT)")
    other.close()
    assert blocker.args[0].tables["Artist"] == ("ArtistId", "Name")
    type_into(qtbot, console, "SELECT ar.", " FROM Artist ar")
    completion = console.editor.show_completions()
    assert completion.items == ["ArtistId", "Name"]


def test_two_tabs_and_the_popup_can_be_shown_for_a_screenshot(qtbot, console: ConsolePanel) -> None:
    console.editor.setPlainText("SELECT Title FROM Album")
    console.new_tab("SELECT t.Name, a. FROM Track t JOIN Album a USING (AlbumId)", title="Tracks")
    cursor = console.editor.textCursor()
    cursor.setPosition(len("SELECT t.Name, a."))
    console.editor.setTextCursor(cursor)
    console.editor.setFocus()
    console.editor.show_completions()
    assert console.query_tabs.count() == 2 and console.editor.popup_visible
    assert console.editor.completions() == ["AlbumId", "Title", "ArtistId"]
    console.editor.moveCursor(QTextCursor.MoveOperation.End)
