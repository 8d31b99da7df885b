"""The data grid on real files: sort by header, filter row, jumps, count, every relation kind, live rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractSlider

from desktop_app.core.database import connect_write
from desktop_app.ui.panels.data_view import DataView, about

from .conftest import open_in, open_table

pytestmark = pytest.mark.gui
ODD = 'order "details" 2'


@pytest.fixture
def grid_db(db_path: Path) -> Path:
    connection = connect_write(db_path)
    connection.execute(
        f"""
        INSERT INTO readings(device, value) SELECT 'dev' || (value * 2 % 11), CASE WHEN id % 10 = 0 THEN NULL
            ELSE id % 97 END FROM readings;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
        INSERT INTO readings(device, value) SELECT 'dev' || (i % 11), i % 83 FROM n;
        CREATE TABLE pairs(a TEXT, b INTEGER, note TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
        INSERT INTO pairs SELECT device, id, 'n' || id FROM readings;
        CREATE VIEW per_device AS SELECT device, count(*) AS n, max(value) AS top FROM readings GROUP BY device;
        CREATE VIRTUAL TABLE docs USING fts5(body);
        INSERT INTO docs(body) SELECT device || ' reading ' || id FROM readings;
        CREATE TABLE "{ODD.replace('"', '""')}"("Unit Price" REAL, "it's" INTEGER);
        CREATE INDEX odd_price ON "{ODD.replace('"', '""')}"("Unit Price");
        INSERT INTO "{ODD.replace('"', '""')}" SELECT value, id FROM readings;
        CREATE TABLE x(secret TEXT); INSERT INTO x VALUES ('still here');
        """
    )
    connection.close()
    return db_path


@pytest.fixture
def grid(data_view, grid_db: Path) -> DataView:
    return data_view(grid_db)


def reference(grid_db: Path, sql: str, values: tuple = ()) -> list[tuple]:
    connection = connect_write(grid_db)
    try:
        return connection.execute(sql, values).fetchall()
    finally:
        connection.close()


def settle(qtbot, grid: DataView) -> None:
    qtbot.waitUntil(lambda: not grid.model.fetching, timeout=10_000)


def click_header(qtbot, grid: DataView, column: str) -> None:
    section = grid.model.columns.index(column)
    header = grid.header
    point = QPoint(header.sectionViewportPosition(section) + header.sectionSize(section) // 2, 6)
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    settle(qtbot, grid)


def test_clicking_a_header_sorts_ascending_descending_then_off(qtbot, grid: DataView, grid_db: Path) -> None:
    open_table(qtbot, grid, "readings")
    click_header(qtbot, grid, "value")
    expected = reference(grid_db, "SELECT * FROM readings ORDER BY value, id LIMIT 500")
    assert grid.model.rows() == expected and expected[0][2] is None  # NULLs first, as SQLite sorts them
    assert "sorted by value ↑" in grid.info_label.text()
    assert grid.model.headerData(2, Qt.Orientation.Horizontal) == "value ↑"
    assert "no index on value" in grid.info_label.text()  # no index: each page sorts the table
    click_header(qtbot, grid, "value")
    assert grid.model.rows() == reference(grid_db, "SELECT * FROM readings ORDER BY value DESC, id DESC LIMIT 500")
    click_header(qtbot, grid, "value")
    assert [row[0] for row in grid.model.rows()] == list(range(1, 501))
    assert grid.model.headerData(2, Qt.Orientation.Horizontal) == "value"
    click_header(qtbot, grid, "device")
    assert "no index" not in grid.info_label.text()  # readings_device serves this order
    while grid.model.canFetchMore():
        grid.model.fetchMore()
        settle(qtbot, grid)
    assert grid.model.rows() == reference(grid_db, "SELECT * FROM readings ORDER BY device, id")
    assert grid.count_text() == "5,000 rows"  # both ends seen: exact without counting


def test_filter_row_binds_values_shows_the_where_and_copies_it(qtbot, grid: DataView, grid_db: Path) -> None:
    open_table(qtbot, grid, "readings")
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text("device", "=dev3")
    settle(qtbot, grid)
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text("value", "10..20")
    settle(qtbot, grid)
    expected = reference(grid_db, "SELECT * FROM readings WHERE device = 'dev3' AND value BETWEEN 10 AND 20 ORDER BY id")
    assert grid.model.rows() == expected[:500] and expected
    assert grid.where_label.text() == """WHERE "device" = 'dev3' AND "value" BETWEEN 10 AND 20"""
    with qtbot.waitSignal(grid.sql_to_console, timeout=1000) as blocker:
        grid.to_console_button.click()
    sql = blocker.args[0]
    assert sql == """SELECT * FROM "readings" WHERE "device" = 'dev3' AND "value" BETWEEN 10 AND 20"""
    assert QGuiApplication.clipboard().text() == sql
    assert reference(grid_db, sql + " ORDER BY id") == expected  # the copy runs as it reads

    grid.header.set_filter_text("value", ">")
    assert grid.filter_error_label.isVisible() and "value" in grid.filter_error_label.text()
    assert "border" in grid.header.editors[2].styleSheet()
    assert grid.model.rows() == expected[:500]  # the last valid filter stays applied

    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.editors[2].clear()
        grid.header.set_filter_text("device", "'); DROP TABLE x; --")
    settle(qtbot, grid)
    assert grid.model.rowCount() == 0 and not grid.filter_error_label.isVisible()
    assert reference(grid_db, "SELECT secret FROM x") == [("still here",)]


def test_sort_filter_and_jumps_combine(qtbot, grid: DataView, grid_db: Path) -> None:
    open_table(qtbot, grid, "readings")
    click_header(qtbot, grid, "device")
    click_header(qtbot, grid, "device")  # descending
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text("value", "!NULL")
    settle(qtbot, grid)
    expected = reference(grid_db, "SELECT * FROM readings WHERE value IS NOT NULL ORDER BY device DESC, id DESC")

    grid.last_button.click()
    settle(qtbot, grid)
    assert grid.model.rows() == expected[-500:]
    qtbot.waitUntil(lambda: grid.model.total == len(expected), timeout=5000)  # counted in the background
    assert grid.count_text() == f"{len(expected):,} matching rows"
    assert grid.model.headerData(0, Qt.Orientation.Vertical) == f"{len(expected) - 499:,}"

    grid.go_edit.setText("1234")
    QTest.keyClick(grid.go_edit, Qt.Key.Key_Return)
    settle(qtbot, grid)
    assert grid.model.rows()[0] == expected[1233] and grid.model.rows() == expected[1233:1733]
    assert grid.model.headerData(0, Qt.Orientation.Vertical) == "1,234"
    assert "showing 1,234–1,733" in grid.info_label.text()

    grid.view.setFocus()
    grid.view.setCurrentIndex(grid.model.index(0, 0))
    QTest.keyClick(grid.view, Qt.Key.Key_PageUp)  # scrolling up past the top reads the page before
    qtbot.waitUntil(lambda: grid.model.rowCount() == 1000, timeout=5000)
    assert grid.model.rows() == expected[733:1733] and grid.model.first_row_number() == 734
    assert grid.view.rowAt(0) > 450  # the view stays near the rows it showed (PageUp moved one screen)
    grid.view.verticalScrollBar().triggerAction(QAbstractSlider.SliderAction.SliderToMinimum)  # drag to the top
    qtbot.waitUntil(lambda: grid.model.rowCount() == 1500, timeout=5000)
    assert grid.model.rows() == expected[233:1733] and grid.model.first_row_number() == 234
    assert all(grid.model.row_key(i) == (row[0],) for i, row in enumerate(grid.model.rows()))  # the rowid

    grid.view.setFocus()
    QTest.keyClick(grid.view, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, grid)
    assert grid.model.rows()[-500:] == expected[-500:]
    qtbot.waitUntil(lambda: grid.view.rowAt(grid.view.viewport().height() - 2) in (-1, grid.model.rowCount() - 1), timeout=5000)
    grid.first_button.click()
    settle(qtbot, grid)
    assert grid.model.rows()[:500] == expected[:500] and grid.model.first_row_number() == 1
    grid.go_to_row(10**9)
    settle(qtbot, grid)
    assert grid.model.rows() == expected[-500:]


def test_exact_count_on_request(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, ODD)
    qtbot.waitUntil(lambda: grid.count_text().startswith("about "), timeout=5000)  # the estimate, no count
    with qtbot.waitSignal(grid.model.counted, timeout=5000) as blocker:
        grid.count_button.click()
    assert blocker.args[0] == 5000
    assert grid.count_text() == "5,000 rows" and "5,000 rows" in grid.info_label.text()
    assert "loaded" not in grid.info_label.text()
    assert about(588_669) == "590,000" and about(500) == "500"


@pytest.mark.parametrize(
    ("name", "sort", "order_sql"),
    [
        ("pairs", "note", "note, a, b"),  # WITHOUT ROWID: keyset on the primary key
        ("per_device", "n", "n"),  # a view: paged by position
        ("docs", "body", "body, rowid"),  # FTS5: keyset on its rowid
        (ODD, "Unit Price", '"Unit Price", rowid'),
    ],
)
def test_every_kind_of_relation_sorts_filters_and_jumps(qtbot, grid: DataView, grid_db: Path, name, sort, order_sql) -> None:
    open_table(qtbot, grid, name)
    quoted = '"' + name.replace('"', '""') + '"'
    click_header(qtbot, grid, sort)
    click_header(qtbot, grid, sort)
    expected = reference(grid_db, f"SELECT * FROM {quoted} ORDER BY {order_sql.replace(',', ' DESC,')} DESC")
    assert grid.model.rows() == expected[:500]
    grid.last_page()
    settle(qtbot, grid)
    assert grid.model.rows() == expected[-500:]
    note = "paged by position" in grid.info_label.text()
    assert note == (name == "per_device")
    grid.go_to_row(3)
    settle(qtbot, grid)
    column = grid.model.columns.index(sort)
    assert [row[column] for row in grid.model.rows()[:5]] == [row[column] for row in expected[2:7]]
    assert grid.model.first_row_number() == 3
    keys = [grid.model.row_key(i) for i in range(grid.model.rowCount())]
    if name == "pairs":  # WITHOUT ROWID: the primary key columns
        assert keys == [row[:2] for row in grid.model.rows()]
    elif name == "per_device":
        assert set(keys) == {None}  # a view has no key to edit by
    else:
        rowids = reference(grid_db, f"SELECT rowid, * FROM {quoted}")
        by_row = {tuple(row[1:]): (row[0],) for row in rowids}
        assert keys == [by_row[tuple(row)] for row in grid.model.rows()]
    first_column = grid.model.columns[0]
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text(first_column, "!NULL")
    settle(qtbot, grid)
    assert grid.model.rows() == [row for row in expected if row[0] is not None][:500]


def test_live_rows_refresh_in_place_with_sort_and_filter(qtbot, grid: DataView, grid_db: Path) -> None:
    open_table(qtbot, grid, "readings")
    click_header(qtbot, grid, "device")
    with qtbot.waitSignal(grid.model.page_loaded, timeout=5000):
        grid.header.set_filter_text("device", "dev1")  # contains: dev1 and dev10
    settle(qtbot, grid)
    grid.model.fetchMore()
    settle(qtbot, grid)
    grid.view.scrollTo(grid.model.index(300, 0))
    scrolled = grid.view.verticalScrollBar().value()
    target = grid.model.rows()[5][0]
    connection = connect_write(grid_db)
    with connection:
        connection.execute("UPDATE readings SET value = -1 WHERE id = ?", (target,))
    connection.close()
    qtbot.waitUntil(lambda: grid.model.rows()[5][2] == -1, timeout=5000)  # the session saw data_version move
    assert grid.view.verticalScrollBar().value() == scrolled


def test_follow_keeps_the_newest_rows_in_view(qtbot, grid: DataView, grid_db: Path) -> None:
    open_table(qtbot, grid, "readings")
    grid.follow_box.setChecked(True)
    qtbot.waitUntil(lambda: grid.model.rows()[-1][0] == 5000 and not grid.model.fetching, timeout=5000)
    for batch in range(3):
        connection = connect_write(grid_db)
        with connection:
            connection.executemany(
                "INSERT INTO readings(device, value) VALUES ('tail', ?)", [(batch * 10 + i,) for i in range(10)]
            )
        connection.close()
        newest = 5000 + (batch + 1) * 10
        qtbot.waitUntil(lambda newest=newest: grid.model.rows()[-1][0] == newest, timeout=5000)
    bar = grid.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=5000)
    qtbot.waitUntil(lambda: grid.count_text() == "5,030 rows", timeout=5000)  # the count follows too
    assert grid.model.headerData(grid.model.rowCount() - 1, Qt.Orientation.Vertical) == "5,030"
    grid.first_page()  # a jump ends following
    settle(qtbot, grid)
    assert not grid.follow_box.isChecked() and grid.model.rows()[0][0] == 1


def test_window_puts_the_grid_sql_in_the_console(qtbot, window, grid_db: Path) -> None:
    open_in(qtbot, window, grid_db)
    schema = window.schema
    with qtbot.waitSignal(schema.table_opened, timeout=5000):
        assert schema.select("readings")
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.rowCount() > 0, timeout=5000)
    qtbot.waitUntil(lambda: bool(schema.browser.header.editors), timeout=5000)
    with qtbot.waitSignal(schema.model.page_loaded, timeout=5000):
        schema.browser.header.set_filter_text("device", "=it's")
    schema.browser.to_console_button.click()
    assert window.console.editor.toPlainText() == """SELECT * FROM "readings" WHERE "device" = 'it''s'"""


def test_a_sort_that_scans_says_so_shows_cancel_and_stops(qtbot, grid: DataView, grid_db: Path) -> None:
    connection = connect_write(grid_db)
    connection.execute("CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n")
    connection.close()
    open_table(qtbot, grid, "endless")  # unsorted, the first page streams at once
    click = grid.model.columns.index("i")
    grid.header._on_clicked(click)  # sorting needs every row first: it never ends
    qtbot.waitUntil(lambda: grid.cancel_button.isVisible() and "no index on i" in grid.info_label.text(), timeout=5000)
    assert "loading…" in grid.info_label.text()
    grid.cancel_button.click()
    qtbot.waitUntil(lambda: not grid.model.fetching and "Cancelled" in grid.info_label.text(), timeout=5000)
    grid.header._on_clicked(click)  # descending: a new order is tried again
    qtbot.waitUntil(lambda: grid.model.fetching, timeout=5000)
    grid.header._on_clicked(click)  # off: back to the streaming order
    qtbot.waitUntil(lambda: not grid.model.fetching and grid.model.rowCount() == 500, timeout=5000)


def test_filter_boxes_sit_under_their_columns_when_resized_and_scrolled(qtbot, grid: DataView) -> None:
    open_table(qtbot, grid, "pairs")
    header = grid.header
    for section in range(len(header.editors) - 1):
        header.resizeSection(section, 700)  # wider than the view: it scrolls sideways
    bar = grid.view.horizontalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    bar.setValue(bar.maximum())

    def aligned() -> bool:
        return all(
            editor.x() == header.sectionViewportPosition(i) and editor.width() == header.sectionSize(i)
            for i, editor in enumerate(header.editors)
        )

    qtbot.waitUntil(aligned, timeout=5000)
    assert header.sectionViewportPosition(0) < 0  # really scrolled: the first box moved off to the left
    assert header.editors[0].y() > 0 and header.height() > header.editors[0].height()  # under the titles
