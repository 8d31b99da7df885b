"""Moving through the data on a real file: following foreign keys and back, and searching every column."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from desktop_app.core.database import connect_write
from desktop_app.ui.panels.data_view import DataView
from tests.conftest import write_database

from .conftest import open_table

pytestmark = pytest.mark.gui


@pytest.fixture
def chain_db(tmp_path: Path) -> Path:
    """a -> b -> c by foreign keys; b has 2,000 rows, c 3,000 (both more than a page); d has a composite key."""
    path = tmp_path / "chain.db"
    return write_database(
        path,
        """
        CREATE TABLE c(id INTEGER PRIMARY KEY, name TEXT, weight REAL);
        CREATE TABLE b(id INTEGER PRIMARY KEY, c_id INTEGER REFERENCES c(id), label TEXT);
        CREATE TABLE a(id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b, note TEXT);
        CREATE TABLE pair(x TEXT, y INTEGER, what TEXT, PRIMARY KEY (x, y)) WITHOUT ROWID;
        CREATE TABLE d(id INTEGER PRIMARY KEY, px TEXT, py INTEGER, FOREIGN KEY (px, py) REFERENCES pair(x, y));
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
        INSERT INTO c SELECT i, 'name ' || i, i * 1.5 FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
        INSERT INTO b SELECT i, (i * 7) % 3000 + 1, 'label ' || i FROM n;
        INSERT INTO a VALUES (1, 1500, 'first'), (2, 2, 'second');
        INSERT INTO pair VALUES ('k', 1, 'one'), ('k', 2, 'two');
        INSERT INTO d VALUES (1, 'k', 2), (2, 'k', 9);
        INSERT INTO c VALUES (5000, 'odd %_'' text', 42.0);
        """,
    )


@pytest.fixture
def grid(data_view, chain_db: Path) -> DataView:
    return data_view(chain_db)


def settled(qtbot, grid: DataView) -> None:
    qtbot.waitUntil(lambda: grid.model is not None and not grid.model.fetching and grid.model.rowCount() > 0, timeout=5000)


def ctrl_click(qtbot, grid: DataView, row: int, column: str) -> None:
    index = grid.model.index(row, grid.model.columns.index(column))
    grid.view.scrollTo(index)
    center = grid.view.visualRect(index).center()
    QTest.mouseClick(grid.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, center)


def test_ctrl_click_follows_a_reference_and_back_returns_to_the_same_place(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "b")
    qtbot.waitUntil(lambda: grid.model.is_link(grid.model.index(0, 1)), timeout=5000)
    assert not grid.model.is_link(grid.model.index(0, 2))  # label refers to nothing
    assert grid.model.data(grid.model.index(0, 1), Qt.ItemDataRole.FontRole).underline()
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text("label", "label 1")
    settled(qtbot, grid)
    grid.go_to_row(300)
    qtbot.waitUntil(lambda: grid.model.first_row_number() == 300 and not grid.model.fetching, timeout=5000)
    row_label = grid.model.value(4, 2)
    target = grid.model.value(4, 1)

    ctrl_click(qtbot, grid, 4, "c_id")
    qtbot.waitUntil(lambda: grid.current_table == "c" and not grid.model.fetching and grid.model.rowCount() > 0, timeout=5000)
    qtbot.waitUntil(lambda: grid.view.currentIndex().isValid(), timeout=5000)
    current = grid.view.currentIndex().row()
    assert grid.model.value(current, 0) == target  # positioned on the referenced row, selected
    assert grid.view.selectionModel().isRowSelected(current)
    assert grid.model.pages_fetched == 1  # one seek by key: no walk, no count
    assert grid.links.back_button.isEnabled()

    QTest.keyClick(grid.view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: grid.current_table == "b" and not grid.model.fetching and grid.model.rowCount() > 0, timeout=5000)
    qtbot.waitUntil(lambda: grid.view.currentIndex().isValid(), timeout=5000)
    assert grid.model.first_row_number() == 300  # the same window, filter and current cell
    assert grid.view.currentIndex().row() == 4 and grid.model.value(4, 2) == row_label
    assert [editor.text() for editor in grid.header.editors] == ["", "", "label 1"]
    assert grid.where_label.text() == """WHERE "label" LIKE '%label 1%' ESCAPE '\\'"""
    assert not grid.links.back_button.isEnabled()


def test_a_chain_and_a_composite_key_are_followed(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "a")
    qtbot.waitUntil(lambda: grid.model.is_link(grid.model.index(0, 1)), timeout=5000)
    ctrl_click(qtbot, grid, 0, "b_id")  # a.b_id REFERENCES b (its primary key, not named)
    qtbot.waitUntil(lambda: grid.current_table == "b" and grid.view.currentIndex().isValid(), timeout=5000)
    assert grid.model.value(grid.view.currentIndex().row(), 0) == 1500
    open_table(qtbot, grid, "d")
    qtbot.waitUntil(lambda: grid.model.is_link(grid.model.index(0, 2)), timeout=5000)
    grid.view.setCurrentIndex(grid.model.index(0, 2))
    assert grid.links.actions()[0].isEnabled()
    grid.links.actions()[0].trigger()  # the context menu's "Go to referenced row"
    qtbot.waitUntil(lambda: grid.current_table == "pair" and grid.view.currentIndex().isValid(), timeout=5000)
    assert grid.model.rows()[grid.view.currentIndex().row()] == ("k", 2, "two")


def test_a_reference_to_no_row_says_so_and_stays(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "d")
    qtbot.waitUntil(lambda: grid.model.is_link(grid.model.index(1, 1)), timeout=5000)
    ctrl_click(qtbot, grid, 1, "px")  # ('k', 9) is not in pair
    qtbot.waitUntil(lambda: "No row of pair" in grid.links.message.text(), timeout=5000)
    assert grid.current_table == "d" and not grid.links.history
    ctrl_click(qtbot, grid, 0, "py")
    qtbot.waitUntil(lambda: grid.current_table == "pair" and bool(grid.links.history), timeout=5000)
    grid.search_edit.setText("typed for this file")
    grid.set_session(None)  # another file: nothing of this one stays
    assert not grid.links.history and not grid.links.back_button.isEnabled()
    assert grid.search_edit.text() == "" and grid.links.message.text() == ""


def search(qtbot, grid: DataView, text: str) -> None:
    grid.search_edit.setText(text)
    grid.apply_search()
    settled(qtbot, grid)


def rows_containing(chain_db: Path, text: str) -> list[tuple]:
    connection = connect_write(chain_db)
    try:
        rows = connection.execute("SELECT * FROM c ORDER BY id").fetchall()
    finally:
        connection.close()
    return [row for row in rows if any(text in str(value) for value in row)]


def test_search_matches_any_column_numbers_too_and_combines_with_filters(qtbot, grid: DataView, chain_db: Path) -> None:
    open_table(qtbot, grid, "c")
    search(qtbot, grid, "1234")  # an id (and its name), and a weight: 823 * 1.5 = 1234.5
    expected = rows_containing(chain_db, "1234")
    assert [row[0] for row in expected] == [823, 1234]
    assert grid.model.rows() == expected
    search(qtbot, grid, "123")
    expected = rows_containing(chain_db, "123")
    assert grid.model.rows() == expected and len(expected) > 20
    assert grid.count_text() == f"{len(expected)} matching rows"  # both ends seen
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text("id", ">1300")
    settled(qtbot, grid)
    assert grid.model.rows() == [row for row in expected if row[0] > 1300]
    assert """WHERE "id" > 1300 AND (CAST("id" AS TEXT) LIKE '%' || '123' || '%'""" in grid.where_label.text()
    search(qtbot, grid, "7.5")  # a REAL column, read as text: 5 * 1.5, 25 * 1.5, ...
    assert grid.model.rows() == [row for row in rows_containing(chain_db, "7.5") if row[0] > 1300][:500]


def test_search_text_is_literal_and_pages_by_key(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "c")
    search(qtbot, grid, "%_'")
    assert [row[0] for row in grid.model.rows()] == [5000]  # %, _ and ' are plain characters
    search(qtbot, grid, "name")  # every row: pages follow by key
    assert grid.model.rowCount() == 500
    grid.model.fetchMore()
    qtbot.waitUntil(lambda: grid.model.rowCount() == 1000 and not grid.model.fetching, timeout=5000)
    assert [row[0] for row in grid.model.rows()] == list(range(1, 1001))
    grid.clear_filters()
    settled(qtbot, grid)
    assert grid.model.search == "" and grid.search_edit.text() == ""


def test_escape_cancels_a_search_that_scans(qtbot, grid: DataView, chain_db: Path) -> None:
    connection = connect_write(chain_db)
    connection.execute(
        "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n"
    )
    connection.close()
    open_table(qtbot, grid, "endless")
    grid.search_edit.setText("never there")  # no row ever matches: the scan would never end
    grid.apply_search()
    qtbot.waitUntil(lambda: "searching every column" in grid.info_label.text(), timeout=5000)
    assert grid.escape_action.isEnabled() and grid.cancel_button.isVisibleTo(grid)
    grid.search_edit.setFocus()
    QTest.keyClick(grid.search_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not grid.model.fetching, timeout=5000)
    assert "Cancelled" in grid.info_label.text()
