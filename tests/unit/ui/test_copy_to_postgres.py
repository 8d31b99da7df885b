from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from desktop_app.core.postgres.migrate import MigrateResult
from desktop_app.ui.copy_to_postgres import CopyToPostgresDialog
from tests.scenarios import wait_for

from .conftest import open_in, resolve

pytestmark = pytest.mark.gui


def test_dialog_copies_with_progress_and_refuses_a_password_in_the_url(qtbot, qloop, db_path: Path, pg_url: str) -> None:
    dialog = CopyToPostgresDialog(db_path)
    qtbot.addWidget(dialog)
    outcomes: list = []
    dialog.finished_copy.connect(outcomes.append)
    dialog.url_edit.setText(pg_url.replace("pulse@", "pulse:hunter2@"))
    dialog.start()
    assert "Password field" in dialog.status.text() and "hunter2" not in dialog.url_edit.text()
    assert not dialog.running

    async def scenario():
        dialog.url_edit.setText(pg_url)
        dialog.start()
        await wait_for(lambda: bool(outcomes), 30)
        await wait_for(lambda: dialog.progress.value() == dialog.progress.maximum(), 5)
        dialog.close()

    resolve(qtbot, scenario(), timeout=60_000)
    assert isinstance(outcomes[0], MigrateResult), outcomes[0]
    assert dialog.progress.value() == dialog.progress.maximum()
    assert "counts verified" in dialog.status.text()
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT count(*) FROM readings").fetchone()[0] == 500


def test_tools_menu_opens_the_dialog_for_the_open_file(qtbot, window, db_path: Path) -> None:
    assert not window.copy_to_postgres_action.isEnabled()  # nothing open yet
    open_in(qtbot, window, db_path)
    assert window.copy_to_postgres_action.isEnabled()
    assert window.copy_to_postgres_action in window.menus["tools"].actions()
    dialog = window.ask_copy_to_postgres()
    assert dialog is not None and dialog.isVisible()
    assert dialog.source == window.database.path
    dialog.reject()


def test_a_failed_table_is_reported_as_not_copied_not_as_verified(qtbot, qloop, tmp_path: Path, pg_url: str) -> None:
    import apsw

    source = tmp_path / "mixed.db"
    connection = apsw.Connection(str(source))
    connection.execute("CREATE TABLE good(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO good(v) VALUES ('a'), ('b');"
                       "CREATE TABLE bad(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO bad(v) VALUES (CAST(x'ff' AS TEXT))")
    connection.close()
    dialog = CopyToPostgresDialog(source)
    qtbot.addWidget(dialog)
    outcomes: list = []
    dialog.finished_copy.connect(outcomes.append)
    dialog.url_edit.setText(pg_url)

    async def scenario():
        dialog.start()
        await wait_for(lambda: bool(outcomes), 30)
        dialog.close()

    resolve(qtbot, scenario(), timeout=60_000)
    first, *rest = dialog.status.text().splitlines()
    assert "1 table FAILED: bad (not copied); the counts of the 1 other table are verified" in first
    assert "counts verified" not in first
    assert rest[0].startswith("Failed: bad — column v, rowid 1: the text is not valid UTF-8")


def test_the_dates_box_converts_iso_dates_through_the_windows_session(qtbot, qloop, window, tmp_path: Path,
                                                                       pg_url: str) -> None:
    import apsw

    source = tmp_path / "dated.db"
    connection = apsw.Connection(str(source))
    connection.execute("CREATE TABLE visits(id INTEGER PRIMARY KEY, day DATE, at DATETIME);"
                       "INSERT INTO visits(day, at) VALUES ('2024-02-29', '2024-02-29 10:11:12.5'), (NULL, NULL)")
    connection.close()
    open_in(qtbot, window, source)
    dialog = window.ask_copy_to_postgres()
    assert dialog is not None and dialog.session is not None and not dialog.convert_dates_box.isChecked()
    outcomes: list = []
    dialog.finished_copy.connect(outcomes.append)
    dialog.url_edit.setText(pg_url)
    dialog.convert_dates_box.setChecked(True)

    async def scenario():
        dialog.start()
        await wait_for(lambda: bool(outcomes), 30)
        dialog.close()

    resolve(qtbot, scenario(), timeout=60_000)
    assert isinstance(outcomes[0], MigrateResult), outcomes[0]
    with psycopg.connect(pg_url) as pg:
        assert pg.execute("SELECT pg_typeof(day)::text, pg_typeof(at)::text, day::text, at::text FROM visits "
                          "WHERE id = 1").fetchone() == ("date", "timestamp without time zone", "2024-02-29",
                                                          "2024-02-29 10:11:12.5")
