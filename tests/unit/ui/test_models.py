from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QTableView

from desktop_app.core.database import connect_write
from desktop_app.core.query import ResultPage
from desktop_app.core.session import Session
from desktop_app.ui.models.result_model import REVEAL_ROWS, ResultModel
from desktop_app.ui.models.rows_model import display_text
from desktop_app.ui.models.table_model import TableModel

pytestmark = pytest.mark.gui


@pytest.fixture
def big_db(db_path: Path) -> Path:
    connection = connect_write(db_path)
    with connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
            "INSERT INTO readings(device, value) SELECT 'bulk', i FROM n"
        )
    connection.execute("CREATE TABLE blobs(k TEXT PRIMARY KEY, data BLOB, note TEXT) WITHOUT ROWID")
    with connection:
        connection.executemany(
            "INSERT INTO blobs VALUES (?, ?, ?)", [(f"k{i:03}", bytes(range(i % 40)), None) for i in range(120)]
        )
    connection.close()
    return db_path


@pytest.fixture
def session(big_db: Path, open_session) -> Session:
    return open_session(big_db)


def test_table_model_pages_in_by_key(session: Session, qtbot) -> None:
    model = TableModel(session, "readings", page_rows=1000)
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.start()
    assert model.rowCount() == 1000
    assert model.columns == ["id", "device", "value"]
    assert model.canFetchMore()
    while model.canFetchMore():
        with qtbot.waitSignal(model.page_loaded, timeout=5000):
            model.fetchMore()
    assert model.rowCount() == 5500  # 500 from the fixture + 5000
    ids = [row[0] for row in model.rows()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert model.exhausted and not model.canFetchMore()


def test_table_model_picks_up_rows_appended_later(session: Session, big_db: Path, qtbot) -> None:
    model = TableModel(session, "readings", page_rows=10_000)
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.start()
    assert model.exhausted
    connection = connect_write(big_db)
    with connection:
        connection.executemany("INSERT INTO readings(device, value) VALUES ('late', ?)", [(i,) for i in range(3)])
    connection.close()
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.look_for_new_rows()
    assert model.rowCount() == 5503
    assert [row[1] for row in model.rows()[-3:]] == ["late"] * 3


def shown_in_a_view(model: TableModel, qtbot) -> QTableView:
    """A real 400x300 table view showing `model`, so scrolling asks it for rows as a person's would."""
    view = QTableView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.setModel(model)
    view.show()
    return view


def test_view_scrolling_fetches_more(session: Session, qtbot) -> None:
    model = TableModel(session, "readings", page_rows=200)
    view = shown_in_a_view(model, qtbot)
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.start()
    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > 200, timeout=5000)


def test_without_rowid_table_pages_by_offset_and_shows_blobs_and_nulls(session: Session, qtbot) -> None:
    model = TableModel(session, "blobs", page_rows=50)
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.start()
    while model.canFetchMore():
        with qtbot.waitSignal(model.page_loaded, timeout=5000):
            model.fetchMore()
    assert model.rowCount() == 120
    blob = model.index(5, 1)
    assert model.data(blob).startswith("BLOB 5 bytes: 00 01 02 03 04")
    null = model.index(0, 2)
    assert model.data(null) == "NULL"
    assert model.data(null, Qt.ItemDataRole.FontRole).italic()
    assert model.headerData(0, Qt.Orientation.Horizontal) == "k"
    assert model.headerData(0, Qt.Orientation.Vertical) == "1"


def test_missing_table_reports_an_error(session: Session, qtbot) -> None:
    model = TableModel(session, "no_such_table")
    with qtbot.waitSignal(model.failed, timeout=5000) as blocker:
        model.start()
    assert "no_such_table" in str(blocker.args[0])
    assert not model.canFetchMore()


def test_closed_model_ignores_late_pages(session: Session, qtbot) -> None:
    model = TableModel(session, "readings")
    model.start()
    task = model._task
    model.close()
    qtbot.waitUntil(task.done, timeout=5000)
    assert model.rowCount() == 0


def test_refresh_reloads_the_rows_shown_in_place(session: Session, big_db: Path, qtbot) -> None:
    model = TableModel(session, "readings", page_rows=100)
    view = shown_in_a_view(model, qtbot)
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.start()
    with qtbot.waitSignal(model.page_loaded, timeout=5000):
        model.fetchMore()
    assert model.rowCount() == 200
    view.scrollTo(model.index(150, 0))
    scrolled = view.verticalScrollBar().value()
    assert scrolled > 0
    connection = connect_write(big_db)
    with connection:
        connection.execute("DELETE FROM readings WHERE id IN (2, 3)")
        connection.execute("UPDATE readings SET device = 'changed' WHERE id = 1")
    connection.close()
    with qtbot.waitSignal(model.refreshed, timeout=5000):
        model.refresh()
    ids = [row[0] for row in model.rows()]
    assert ids == [1, *range(4, ids[-1] + 1)] and ids[-1] >= 200  # the rows shown, two of them gone
    assert model.rows()[0][1] == "changed"
    assert view.verticalScrollBar().value() == scrolled


def test_an_endless_view_can_be_cancelled_and_others_still_browse(session: Session, big_db: Path, qtbot) -> None:
    connection = connect_write(big_db)
    connection.execute(
        "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT i FROM n WHERE i < 0"
    )
    connection.close()
    endless = TableModel(session, "endless")
    endless.start()
    qtbot.waitUntil(lambda: endless.fetching, timeout=5000)
    with qtbot.waitSignal(endless.failed, timeout=5000) as blocker:
        endless.cancel()
    assert "Cancelled" in str(blocker.args[0])
    other = TableModel(session, "readings")
    with qtbot.waitSignal(other.page_loaded, timeout=5000):
        other.start()
    assert other.rowCount() == 500


def test_result_model_reveals_rows_a_screenful_at_a_time() -> None:
    model = ResultModel()
    model.add_page(ResultPage(columns=["n"], rows=[(i,) for i in range(REVEAL_ROWS + 150)]))
    assert model.received_count == REVEAL_ROWS + 150
    assert model.rowCount() == REVEAL_ROWS
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == REVEAL_ROWS + 150
    assert not model.canFetchMore(QModelIndex())


def test_result_model_keeps_columns_of_an_empty_result() -> None:
    model = ResultModel()
    model.set_columns(["a", "b"])
    assert model.columnCount() == 2 and model.rowCount() == 0


def test_display_text() -> None:
    assert display_text(None) == "NULL"
    assert display_text(1.5) == "1.5"
    assert display_text("line\nbreak") == "line⏎ break"
    assert display_text("x" * 1000).endswith("…")
    assert display_text(b"\x00" * 20).endswith("…")


def test_a_memory_error_is_shown_and_reaches_the_excepthook(session: Session, qtbot, monkeypatch) -> None:
    async def exhausted(*_args, **_kwargs):
        raise MemoryError("a row too big to hold")

    monkeypatch.setattr(session, "browse", exhausted)
    model = TableModel(session, "readings")
    with qtbot.captureExceptions() as exceptions:
        with qtbot.waitSignal(model.failed, timeout=5000) as blocker:
            model.start()
        qtbot.waitUntil(lambda: not model.fetching, timeout=5000)
        qtbot.waitUntil(lambda: bool(exceptions), timeout=5000)
    assert "MemoryError" in str(blocker.args[0])
    assert exceptions[0][0] is MemoryError  # not swallowed: the app's excepthook shows it
    assert not model.canFetchMore()
