"""One undo history per open database, in the real window on real files: the grid's edits and the Structure
menu's changes undo last first, whichever table is shown, and the history goes with the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from desktop_app.core.structure.plan import plan_rename_column, snapshot
from tests.conftest import read_rows, write_database

from .conftest import open_in, resolve

pytestmark = pytest.mark.gui


@pytest.fixture
def music_db(tmp_path: Path) -> Path:
    path = tmp_path / "music.db"
    return write_database(
        path,
        "CREATE TABLE album(id INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO album VALUES (1, 'Blue'), (2, 'Kind of Blue'), (3, 'Abbey Road');"
        "CREATE TABLE artist(id INTEGER PRIMARY KEY, name TEXT);"
        "INSERT INTO artist VALUES (1, 'Joni'), (2, 'Miles');",
    )


def open_grid(qtbot, window, table: str):
    grid = window.schema.browser
    window.schema.open_table(table)
    qtbot.waitUntil(lambda: grid.model is not None and grid.current_table == table and grid.model.rowCount() > 0
                    and not grid.model.fetching, timeout=5000)
    return grid


def edit_cell(qtbot, grid, row: int, column: str, text: str) -> None:
    """F2, select all, type, Enter, as a user does; waits for the commit."""
    grid.editing.allow_box.setChecked(True)
    index = grid.model.index(row, grid.model.columns.index(column))
    with qtbot.waitSignal(grid.editing.changed, timeout=5000):
        grid.view.setCurrentIndex(index)
        grid.view.setFocus()
        QTest.keyClick(grid.view, Qt.Key.Key_F2)
        qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit), timeout=3000)
        editor = QApplication.focusWidget()
        editor.selectAll()
        QTest.keyClicks(editor, text)
        QTest.keyClick(editor, Qt.Key.Key_Return)


def ctrl_z(qtbot, window, grid) -> None:
    with qtbot.waitSignal(grid.editing.undone, timeout=10_000):
        grid.view.setFocus()
        QTest.keyClick(grid.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)


def test_a_cell_edit_after_a_column_rename_undoes_first_then_the_rename(qtbot, window, music_db: Path) -> None:
    window.show()
    open_in(qtbot, window, music_db)
    session = window.session
    plan = resolve(qtbot, session.browse(lambda c: plan_rename_column(snapshot(c), "album", "name", "title")))
    window.schema.structure._confirm_and_run(None, plan, session)  # what the Modify Table dialog's Apply does
    qtbot.waitUntil(lambda: len(session.undo_history) == 1, timeout=5000)
    assert window.undo_action.isEnabled() and window.undo_action.text() == f"Undo {plan.title}"

    grid = open_grid(qtbot, window, "album")
    qtbot.waitUntil(lambda: "title" in grid.model.columns, timeout=5000)
    edit_cell(qtbot, grid, 2, "title", "Let It Be")
    assert read_rows(music_db, "SELECT title FROM album WHERE id = 3") == [("Let It Be",)]
    assert window.undo_action.text() == "Undo Edit album row 3 title"

    ctrl_z(qtbot, window, grid)  # the edit goes first; the column keeps its new name
    assert read_rows(music_db, "SELECT title FROM album WHERE id = 3") == [("Abbey Road",)]
    qtbot.waitUntil(lambda: grid.model.value(2, grid.model.columns.index("title")) == "Abbey Road", timeout=5000)
    qtbot.waitUntil(lambda: window.undo_action.text() == f"Undo {plan.title}", timeout=5000)

    ctrl_z(qtbot, window, grid)  # then the rename (a structure entry: no Allow edits needed)
    assert [row[1] for row in read_rows(music_db, "PRAGMA table_info(album)")] == ["id", "name"]
    qtbot.waitUntil(lambda: grid.model is not None and "name" in grid.model.columns, timeout=5000)  # reopened
    assert not window.undo_action.isEnabled() and window.undo_action.text() == "Nothing to undo"
    assert len(session.undo_history) == 0


def test_an_edit_of_another_table_is_undone_by_key_and_needs_allow_edits(qtbot, window, music_db: Path) -> None:
    window.show()
    open_in(qtbot, window, music_db)
    grid = open_grid(qtbot, window, "album")
    edit_cell(qtbot, grid, 0, "name", "Court and Spark")
    assert read_rows(music_db, "SELECT name FROM album WHERE id = 1") == [("Court and Spark",)]

    grid = open_grid(qtbot, window, "artist")  # another table: the history stays
    assert not grid.editing.allow_box.isChecked()
    assert window.undo_action.text() == "Undo Edit album row 1 name" and not window.undo_action.isEnabled()
    grid.view.setFocus()
    QTest.keyClick(grid.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # refused, saying why
    assert "Allow edits" in grid.editing.message.text()
    assert read_rows(music_db, "SELECT name FROM album WHERE id = 1") == [("Court and Spark",)]

    grid.editing.allow_box.setChecked(True)
    qtbot.waitUntil(window.undo_action.isEnabled, timeout=5000)
    with qtbot.waitSignal(grid.editing.undone, timeout=10_000):
        window.undo_action.trigger()  # Edit ▸ Undo: the same history
    assert read_rows(music_db, "SELECT name FROM album WHERE id = 1") == [("Blue",)]
    assert grid.current_table == "artist"  # the grid stays where it is
    assert "Undone: Edit album row 1 name" in grid.editing.message.text()
    assert window.undo_action.text() == "Nothing to undo"


def test_the_history_goes_with_the_file(qtbot, window, music_db: Path, db_path: Path) -> None:
    window.show()
    open_in(qtbot, window, music_db)
    grid = open_grid(qtbot, window, "album")
    edit_cell(qtbot, grid, 1, "name", "Sketches of Spain")
    first = window.session
    assert len(first.undo_history) == 1

    resolve(qtbot, window.close_database())
    assert len(first.undo_history) == 0 and not window.undo_action.isEnabled()
    open_in(qtbot, window, db_path)
    assert window.session is not first and len(window.session.undo_history) == 0
    assert not window.undo_action.isEnabled() and window.undo_action.text() == "Nothing to undo"
    assert dict(window.shortcut_list())["Undo (the last edit or structure change)"] == "Ctrl+Z"
    window.undo_action.trigger()  # disabled: nothing happens, nothing fails
    assert read_rows(music_db, "SELECT name FROM album WHERE id = 2") == [("Sketches of Spain",)]
