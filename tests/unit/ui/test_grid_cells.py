"""The grids' cells on real files: the cell viewer, copying, editing on purpose (with undo and constraint
errors), and exports of every row in the background with progress and a Cancel that leaves no file."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from desktop_app.core.database import connect_write
from desktop_app.core.errors import QueryInterrupted
from desktop_app.core.keyset import Condition
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.console import ConsolePanel
from desktop_app.ui.panels.data_view import DataView
from desktop_app.ui.table_edit import FAILED_BACKGROUND

pytestmark = pytest.mark.gui
BIG_ROWS = 150_001  # more than the console's 100,000-row display limit


def png_bytes(width: int = 3, height: int = 2) -> bytes:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#ff0000"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    assert image.save(buffer, "PNG")
    return bytes(data.data())


@pytest.fixture
def cells_db(db_path: Path) -> Path:
    connection = connect_write(db_path)
    connection.execute(
        f"""
        CREATE TABLE people(name TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0));
        INSERT INTO people VALUES ('ada', 36), ('bob', 41), ('cy', 7);
        CREATE TABLE pairs(a TEXT, b INTEGER, note TEXT NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID;
        INSERT INTO pairs VALUES ('x', 1, 'one'), ('x', 2, 'two'), ('y', 1, 'three');
        CREATE VIEW adults AS SELECT * FROM people WHERE age >= 18;
        CREATE TABLE things(id INTEGER PRIMARY KEY, label TEXT, doc TEXT, raw BLOB);
        INSERT INTO things VALUES (1, 'long', ?, NULL), (2, 'json', '{{"k": [1, 2], "n": null}}', NULL),
            (3, 'blob', NULL, x'00414243ff'), (4, 'png', NULL, ?);
        CREATE TABLE big(k INTEGER PRIMARY KEY, v INTEGER, note TEXT);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BIG_ROWS})
        INSERT INTO big SELECT i, i % 1000, 'row "' || i || '",' FROM n;
        """,
        ("word " * 5000, png_bytes()),
    )
    connection.close()
    return db_path


@pytest.fixture
def grid(data_view, cells_db: Path) -> DataView:
    return data_view(cells_db)


@pytest.fixture
def console(qtbot, settings, scripted: ScriptedDialogs, open_session, cells_db: Path) -> Iterator[ConsolePanel]:
    panel = ConsolePanel(settings, scripted)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    panel.set_session(open_session(cells_db))
    yield panel
    panel.set_session(None)


def reference(path: Path, sql: str) -> list[tuple]:
    connection = connect_write(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def open_table(qtbot, grid: DataView, name: str) -> None:
    grid.open_table(name)
    qtbot.waitUntil(lambda: grid.model is not None and grid.model.rowCount() > 0 and not grid.model.fetching, timeout=5000)


def settle(qtbot, grid: DataView) -> None:
    qtbot.waitUntil(lambda: not grid.model.fetching and not grid.editing.writing, timeout=10_000)


def at(grid: DataView, row: int, column: str):
    return grid.model.index(row, grid.model.columns.index(column))


# Looking at a value ---------------------------------------------------------------------------------------
def test_cell_viewer_shows_long_text_json_blob_and_png(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "things")
    grid.view.setCurrentIndex(at(grid, 0, "doc"))
    viewer = grid.grid_tools.view_current()
    assert viewer is not None and viewer.isVisible() and not viewer.isModal()
    assert viewer.text.toPlainText() == "word " * 5000  # whole, not the grid's 300-character cut
    assert "25,000 characters" in viewer.summary.text() and "row 1" in viewer.title.text()

    grid.view.setCurrentIndex(at(grid, 1, "doc"))  # the open viewer follows the current cell
    assert viewer.text.toPlainText() == '{\n  "k": [\n    1,\n    2\n  ],\n  "n": null\n}'
    assert "JSON" in viewer.summary.text()

    grid.view.setCurrentIndex(at(grid, 2, "raw"))
    assert viewer.hex.isVisible() and not viewer.text.isVisible()
    assert viewer.hex.toPlainText().startswith("00000000  00 41 42 43 ff") and viewer.summary.text() == "BLOB · 5 bytes"
    viewer.copy()
    assert QGuiApplication.clipboard().text() == "AEFCQ/8="

    grid.view.setCurrentIndex(at(grid, 3, "raw"))
    assert viewer.image is not None and (viewer.image.width(), viewer.image.height()) == (3, 2)
    assert viewer.picture.isVisible() and "PNG image · 3×2 px" in viewer.summary.text()

    grid.view.setCurrentIndex(at(grid, 2, "doc"))
    assert viewer.summary.text() == "NULL" and viewer.text.placeholderText() == "NULL"
    viewer.close()


def test_double_click_opens_the_viewer_on_a_read_only_grid(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "things")
    index = at(grid, 1, "label")
    rect = grid.view.visualRect(index)
    for event in (QTest.mouseClick, QTest.mouseDClick):  # a double-click follows a press on the same cell
        event(grid.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert grid.grid_tools.viewer is not None and grid.grid_tools.viewer.isVisible()
    assert grid.grid_tools.viewer.text.toPlainText() == "json"
    grid.grid_tools.viewer.close()


# Copying ---------------------------------------------------------------------------------------------------
def test_ctrl_c_copies_tsv_and_the_menu_copies_csv_and_json(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "big")
    selection = grid.view.selectionModel()
    from PySide6.QtCore import QItemSelection, QItemSelectionModel

    selection.select(QItemSelection(at(grid, 0, "k"), at(grid, 1, "note")), QItemSelectionModel.SelectionFlag.Select)
    grid.view.setFocus()
    QTest.keyClick(grid.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == '1\t1\t"row ""1"","\n2\t2\t"row ""2"","'
    tools = grid.grid_tools
    menu = tools.menu()
    texts = [action.text() for action in menu.actions() if action.text()]
    assert {"Copy as C&SV", "Copy as &JSON", "&View value…", "Set to NULL"} <= set(texts)
    tools.copy_csv_action.trigger()
    assert list(csv.reader(QGuiApplication.clipboard().text().splitlines())) == [
        ["k", "v", "note"], ["1", "1", 'row "1",'], ["2", "2", 'row "2",'],
    ]
    tools.copy_json_action.trigger()
    assert json.loads(QGuiApplication.clipboard().text()) == [
        {"k": 1, "v": 1, "note": 'row "1",'}, {"k": 2, "v": 2, "note": 'row "2",'},
    ]
    tools.copy_headers_action.trigger()
    assert QGuiApplication.clipboard().text().splitlines()[0] == "k\tv\tnote"


def test_the_console_results_copy_and_view_too(qtbot, console: ConsolePanel) -> None:
    with qtbot.waitSignal(console.query_finished, timeout=10_000):
        console.run("SELECT label, raw FROM things ORDER BY id")
    view = console.result_view
    view.setCurrentIndex(console.result_model.index(2, 1))
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "AEFCQ/8="
    viewer = console.tab.result_tools.view_current()
    assert viewer is not None and viewer.hex.toPlainText().startswith("00000000  00 41 42 43 ff")
    viewer.close()


# Editing on purpose ----------------------------------------------------------------------------------------
def type_into_cell(qtbot, grid: DataView, index, text: str) -> None:
    """Edit a cell as a user does: F2, select all, type, Enter."""
    grid.view.setCurrentIndex(index)
    grid.view.setFocus()
    QTest.keyClick(grid.view, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit), timeout=3000)
    editor = QApplication.focusWidget()
    editor.selectAll()
    QTest.keyClicks(editor, text)
    QTest.keyClick(editor, Qt.Key.Key_Return)


def test_nothing_is_editable_until_edits_are_allowed(qtbot, grid: DataView, cells_db: Path) -> None:
    open_table(qtbot, grid, "people")
    index = at(grid, 0, "age")
    assert not grid.model.flags(index) & Qt.ItemFlag.ItemIsEditable
    assert "tick Allow edits" in grid.editing.reason()
    assert not grid.editing.add_button.isEnabled() and "Allow edits" in grid.editing.add_button.toolTip()
    assert grid.editing.allow_box.isEnabled() and not grid.editing.allow_box.isChecked()
    assert not grid.model.setData(index, "99")
    grid.view.setCurrentIndex(index)
    QTest.keyClick(grid.view, Qt.Key.Key_F2)
    assert not isinstance(QApplication.focusWidget(), QLineEdit)
    assert "tick Allow edits" in grid.editing.message.text()  # F2 says why nothing happens
    assert reference(cells_db, "SELECT age FROM people WHERE rowid = 1") == [(36,)]

    open_table(qtbot, grid, "adults")  # a view: the box itself says why not
    grid.editing.allow_box.setChecked(True)
    assert not grid.editing.allow_box.isEnabled() and "is a view" in grid.editing.allow_box.toolTip()
    assert not grid.model.flags(grid.model.index(0, 0)) & Qt.ItemFlag.ItemIsEditable


def test_a_read_only_database_is_never_editable(qtbot, open_session, cells_db: Path) -> None:
    view = DataView()
    qtbot.addWidget(view)
    view.set_session(open_session(cells_db, read_only=True))
    open_table(qtbot, view, "people")
    assert not view.editing.allow_box.isEnabled()
    assert "open read-only" in view.editing.allow_box.toolTip()
    assert not view.model.flags(view.model.index(0, 1)) & Qt.ItemFlag.ItemIsEditable
    view.set_session(None)


def test_edit_constraint_error_correction_add_delete_and_undo(qtbot, grid: DataView, cells_db: Path) -> None:
    open_table(qtbot, grid, "people")
    editing = grid.editing
    editing.allow_box.setChecked(True)
    assert grid.model.flags(at(grid, 0, "age")) & Qt.ItemFlag.ItemIsEditable

    with qtbot.waitSignal(editing.changed, timeout=5000):
        type_into_cell(qtbot, grid, at(grid, 1, "age"), "42")
    settle(qtbot, grid)
    assert reference(cells_db, "SELECT age, typeof(age) FROM people WHERE name = 'bob'") == [(42, "integer")]
    assert grid.model.value(1, 1) == 42 and "Saved: changed age" in editing.message.text()

    # A constraint error: shown inline, nothing written, the cell keeps what the user typed.
    with qtbot.waitSignal(editing.failed, timeout=5000):
        type_into_cell(qtbot, grid, at(grid, 1, "name"), "ada")
    settle(qtbot, grid)
    name = at(grid, 1, "name")
    assert "UNIQUE constraint failed: people.name" in editing.message.text()
    assert grid.model.data(name) == "ada" and grid.model.data(name, Qt.ItemDataRole.BackgroundRole) == FAILED_BACKGROUND
    assert grid.model.data(name, Qt.ItemDataRole.EditRole) == "ada"  # editing again starts from the user's text
    assert reference(cells_db, "SELECT name FROM people ORDER BY rowid") == [("ada",), ("bob",), ("cy",)]
    with qtbot.waitSignal(editing.changed, timeout=5000):  # corrected
        type_into_cell(qtbot, grid, name, "bea")
    settle(qtbot, grid)
    assert grid.model.data(name) == "bea" and grid.model.data(name, Qt.ItemDataRole.BackgroundRole) is None
    assert reference(cells_db, "SELECT name FROM people WHERE rowid = 2") == [("bea",)]

    with qtbot.waitSignal(editing.undone, timeout=5000):  # Ctrl+Z: the last change goes
        grid.view.setFocus()
        QTest.keyClick(grid.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, grid)
    assert reference(cells_db, "SELECT name, age FROM people WHERE rowid = 2") == [("bob", 42)]

    with qtbot.waitSignal(editing.changed, timeout=5000):
        editing.add_button.click()
    settle(qtbot, grid)
    assert reference(cells_db, "SELECT rowid, name, age FROM people ORDER BY rowid") == [
        (1, "ada", 36), (2, "bob", 42), (3, "cy", 7), (4, "", None)
    ]
    assert grid.model.rowCount() == 4

    grid.view.selectRow(0)
    with qtbot.waitSignal(editing.changed, timeout=5000):
        editing.delete_button.click()
    settle(qtbot, grid)
    assert [row[0] for row in grid.model.rows()] == ["bob", "cy", ""]
    with qtbot.waitSignal(editing.undone, timeout=5000):
        editing.undo_button.click()
    settle(qtbot, grid)
    assert reference(cells_db, "SELECT rowid, name FROM people WHERE rowid = 1") == [(1, "ada")]
    assert grid.model.rows()[0] == ("ada", 36)


def test_without_rowid_table_is_edited_by_primary_key(qtbot, grid: DataView, cells_db: Path) -> None:
    open_table(qtbot, grid, "pairs")
    grid.editing.allow_box.setChecked(True)
    grid.model.set_order("note", True)  # the key still travels with each row, whatever the order
    qtbot.waitUntil(lambda: grid.model.spec is not None and grid.model.spec.sort == "note" and not grid.model.fetching)
    assert [row[2] for row in grid.model.rows()] == ["two", "three", "one"]
    with qtbot.waitSignal(grid.editing.changed, timeout=5000):
        type_into_cell(qtbot, grid, at(grid, 1, "note"), "drei")
    settle(qtbot, grid)
    assert reference(cells_db, "SELECT * FROM pairs ORDER BY a, b") == [("x", 1, "one"), ("x", 2, "two"), ("y", 1, "drei")]


# Exporting everything --------------------------------------------------------------------------------------
def test_console_exports_every_row_past_the_display_limit(qtbot, console: ConsolePanel, scripted, tmp_path: Path) -> None:
    with qtbot.waitSignal(console.query_finished, timeout=30_000):
        console.run("SELECT * FROM big ORDER BY k")
    assert "showing the first 100,000 rows (a display limit); Export writes all of them" in console.status_label.text()
    out = tmp_path / "all.csv"
    scripted.paths.append(out)
    console.export_csv_button.click()
    assert console.tab.export_bar.isVisible() and console.tab.export_bar.cancel_button.isEnabled()
    with qtbot.waitSignal(console.exported, timeout=60_000):
        pass
    assert not console.tab.export_bar.isVisible()
    assert console.tab.export_bar.rows_written == BIG_ROWS  # progress reached the end
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == BIG_ROWS + 1 and rows[-1] == [str(BIG_ROWS), str(BIG_ROWS % 1000), f'row "{BIG_ROWS}",']
    assert f"Exported all {BIG_ROWS:,} rows" in console.status_label.text()


def test_console_export_cancel_leaves_no_file(qtbot, console: ConsolePanel, scripted, tmp_path: Path) -> None:
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) SELECT i, i * 2 FROM n"
    with qtbot.waitSignal(console.query_finished, timeout=30_000):
        console.run(sql)
    folder = tmp_path / "exports"
    folder.mkdir()
    scripted.paths.append(folder / "endless.ndjson")
    console.export_ndjson_button.click()
    bar = console.tab.export_bar
    qtbot.waitUntil(lambda: bar.rows_written > 0, timeout=20_000)
    qtbot.waitUntil(lambda: "rows ·" in bar.label.text(), timeout=5000)  # the progress line counts rows
    with qtbot.waitSignal(bar.failed, timeout=20_000) as blocker:
        bar.cancel_button.click()
    assert isinstance(blocker.args[0], QueryInterrupted)
    assert list(folder.iterdir()) == []  # neither the file nor its partial
    assert console.status_label.text() == "Export cancelled: no file was written."


def test_table_export_writes_every_row_in_the_grids_sort_and_filter(qtbot, grid: DataView, scripted, tmp_path: Path, cells_db: Path) -> None:
    open_table(qtbot, grid, "big")
    grid.model.set_conditions([Condition("v", "<", (500,))])
    grid.model.set_order("v", True)
    qtbot.waitUntil(lambda: grid.model.spec is not None and grid.model.spec.sort == "v" and not grid.model.fetching)
    out = tmp_path / "big.ndjson"
    scripted.paths.append(out)
    bar = grid.table_export.bar
    grid.table_export.actions["ndjson"].trigger()
    assert bar.isVisible()
    qtbot.waitUntil(lambda: not bar.running, timeout=60_000)
    lines = out.read_text(encoding="utf-8").splitlines()
    expected = reference(cells_db, "SELECT k, v FROM big WHERE v < 500 ORDER BY v DESC, k DESC")
    assert len(lines) == len(expected) == 75_001 and len(lines) > grid.model.rowCount()
    records = [json.loads(line) for line in (lines[0], lines[-1])]
    assert [(r["k"], r["v"]) for r in records] == [expected[0], expected[-1]]
    assert "Exported all 75,001 rows" in grid.table_export.status.text()

    scripted.paths.append(tmp_path / "cancelled.csv")
    grid.model.set_conditions([])
    qtbot.waitUntil(lambda: grid.model.spec is not None and not grid.model.spec.conditions and not grid.model.fetching)
    grid.table_export.actions["csv"].trigger()
    bar.cancel()  # at once: before or during the first chunk, nothing may be left
    qtbot.waitUntil(lambda: not bar.running, timeout=20_000)
    assert "cancelled" in grid.table_export.status.text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".cancelled", "cancelled"))) == []


def test_discard_drops_a_failed_edit_and_set_to_null_writes_null(qtbot, grid: DataView, cells_db: Path) -> None:
    open_table(qtbot, grid, "people")
    editing = grid.editing
    editing.allow_box.setChecked(True)
    age = at(grid, 2, "age")
    with qtbot.waitSignal(editing.failed, timeout=5000):
        assert grid.model.setData(age, "-5")
    settle(qtbot, grid)
    assert "CHECK constraint failed" in editing.message.text() and editing.discard_button.isVisible()
    assert grid.model.data(age) == "-5"
    editing.discard_button.click()
    assert grid.model.data(age) == "7" and grid.model.data(age, Qt.ItemDataRole.BackgroundRole) is None
    assert not editing.discard_button.isVisible()
    grid.view.setCurrentIndex(age)
    actions = editing.extra_actions()
    assert editing.null_action in actions and editing.null_action.isEnabled()
    with qtbot.waitSignal(editing.changed, timeout=5000):
        editing.null_action.trigger()
    settle(qtbot, grid)
    assert reference(cells_db, "SELECT age FROM people WHERE name = 'cy'") == [(None,)]
    assert grid.model.data(at(grid, 2, "age")) == "NULL"
