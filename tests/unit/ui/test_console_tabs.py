"""The console's tabs: new / close / rename, kept per database across reopen, saved queries, .sql files,
and Execute file on the session's writer (line-numbered errors, nothing kept after one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.database import connect_read
from desktop_app.core.errors import DatabaseReadOnly
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.console import ConsolePanel
from desktop_app.ui.settings import AppSettings
from tests.unit.ui.conftest import open_in, resolve

pytestmark = pytest.mark.gui


@pytest.fixture
def console(qtbot, settings: AppSettings, scripted: ScriptedDialogs, open_session, db_path: Path) -> Iterator[ConsolePanel]:
    panel = ConsolePanel(settings, scripted)
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    panel.set_session(open_session(db_path))
    yield panel
    panel.set_session(None)


def titles(console: ConsolePanel) -> list[str]:
    return [console.query_tabs.tabText(index) for index in range(console.query_tabs.count())]


def count(db_path: Path, sql: str) -> int:
    connection = connect_read(db_path)
    try:
        return int(connection.execute(sql).fetchall()[0][0])
    finally:
        connection.close()


def test_ctrl_t_opens_a_tab_ctrl_w_closes_it_and_double_click_renames(qtbot, console: ConsolePanel, scripted) -> None:
    assert titles(console) == ["Query 1"]
    console.editor.setFocus()
    qtbot.waitUntil(console.editor.hasFocus, timeout=2000)
    qtbot.keyClick(console.editor, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert titles(console) == ["Query 1", "Query 2"]
    assert console.query_tabs.currentIndex() == 1
    console.editor.setPlainText("SELECT 2")

    scripted.texts.append("Devices")
    console.query_tabs.tabBarDoubleClicked.emit(1)
    assert titles(console) == ["Query 1", "Devices"]

    qtbot.waitUntil(console.editor.hasFocus, timeout=2000)
    qtbot.keyClick(console.editor, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert titles(console) == ["Query 1"]
    assert scripted.confirmations == []  # nothing file-backed was unsaved: no question


def test_each_tab_runs_its_own_statement_and_cancel_stops_only_its_own(qtbot, console: ConsolePanel) -> None:
    first = console.tab
    first.run("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
    qtbot.waitUntil(lambda: first.busy, timeout=2000)
    second = console.new_tab("SELECT device FROM readings ORDER BY id LIMIT 2")
    assert console.run_button.isEnabled()  # the new tab is not busy
    second.run()
    with qtbot.waitSignal(first.query_failed, timeout=5000):
        console.query_tabs.setCurrentWidget(first)
        console.cancel_button.click()
    qtbot.waitUntil(lambda: second.last_result is not None, timeout=5000)
    assert second.last_error is None and second.result_model.rows() == [("dev0",), ("dev1",)]
    assert console.current_result() is None  # the first tab's run was cancelled
    console.query_tabs.setCurrentWidget(second)
    shown = console.current_result()
    assert shown is not None and shown.columns == ["device"] and shown.rows == [("dev0",), ("dev1",)]


def test_tabs_and_their_text_come_back_when_the_file_is_opened_again(
    qtbot, console: ConsolePanel, settings: AppSettings, scripted, open_session, db_path: Path, tmp_path: Path
) -> None:
    console.editor.setPlainText("SELECT 1")
    console.new_tab("SELECT count(*) FROM readings", title="Counts")
    script = tmp_path / "report.sql"
    script.write_text("SELECT 3;\n")
    qtbot.waitUntil(console.files.open(script).done, timeout=5000)
    console.editor.setPlainText("SELECT 4;\n")  # changed, not saved
    console.query_tabs.setCurrentIndex(1)
    console.set_session(None)  # the file closes: its tabs are kept for it

    again = ConsolePanel(settings, scripted)
    qtbot.addWidget(again)
    again.set_session(open_session(db_path))
    assert titles(again) == ["Query 1", "Counts", "report.sql *"]
    assert [tab.editor.toPlainText() for tab in again.all_tabs()] == ["SELECT 1", "SELECT count(*) FROM readings", "SELECT 4;\n"]
    assert again.all_tabs()[2].file == script and again.all_tabs()[2].modified
    assert again.query_tabs.currentIndex() == 1
    assert script.read_text() == "SELECT 3;\n"
    again.set_session(None)


def test_another_file_gets_its_own_tabs(qtbot, console: ConsolePanel, open_session, delete_mode_db: Path, db_path: Path) -> None:
    console.editor.setPlainText("SELECT * FROM readings")
    console.new_tab("SELECT 2", title="Second")
    console.set_session(open_session(delete_mode_db))  # nothing kept for it: the tabs stay as they are
    console.all_tabs()[0].editor.setPlainText("SELECT * FROM notes")
    console.set_session(open_session(db_path))
    assert titles(console) == ["Query 1", "Second"]
    assert console.all_tabs()[0].editor.toPlainText() == "SELECT * FROM readings"
    console.set_session(open_session(delete_mode_db))
    assert [tab.editor.toPlainText() for tab in console.all_tabs()] == ["SELECT * FROM notes", "SELECT 2"]


def test_saved_queries_open_rename_and_delete_per_database(qtbot, console: ConsolePanel, scripted, settings, db_path: Path) -> None:
    console.editor.setPlainText("SELECT device, count(*) FROM readings GROUP BY device")
    scripted.texts.append("Per device")
    console.saved_menu.save_action.trigger()
    assert [query.name for query in settings.saved_queries_for(db_path)] == ["Per device"]
    console.saved_menu.aboutToShow.emit()
    opened = next(action for action in console.saved_menu.actions() if action.text() == "Per device")
    opened.trigger()
    assert titles(console) == ["Query 1", "Per device"]
    assert console.editor.toPlainText() == "SELECT device, count(*) FROM readings GROUP BY device"

    console.saved_menu.rename("Per device", "Devices")
    console.saved_menu.aboutToShow.emit()  # filled again: the old entries go, Save Query As… stays
    entries = [action.text() for action in console.saved_menu.actions() if action.text()]
    assert entries == ["Save Query As…", "Devices", "Rename", "Delete"]
    console.saved_menu.delete("Nothing of that name")
    assert [(q.name, q.sql) for q in settings.saved_queries_for(db_path)] == [
        ("Devices", "SELECT device, count(*) FROM readings GROUP BY device")
    ]
    console.saved_menu.delete("Devices")
    assert settings.saved_queries_for(db_path) == []
    assert count(db_path, "SELECT count(*) FROM sqlite_schema") == 2  # the table and its index: nothing added


def test_open_edit_save_and_confirm_closing_unsaved_changes(qtbot, console: ConsolePanel, scripted, tmp_path: Path) -> None:
    script = tmp_path / "q.sql"
    script.write_text("SELECT 1;\n", encoding="utf-8")
    scripted.paths.append(script)
    with qtbot.waitSignal(console.files.file_opened, timeout=5000):
        console.files.open_action.trigger()
    assert titles(console)[-1] == "q.sql"
    console.editor.setFocus()
    qtbot.waitUntil(console.editor.hasFocus, timeout=2000)
    qtbot.keyClicks(console.editor, "-- x")
    assert titles(console)[-1] == "q.sql *"

    scripted.confirm_answer = False
    qtbot.keyClick(console.editor, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert scripted.confirmations == ["Close tab"] and titles(console)[-1] == "q.sql *"  # kept

    with qtbot.waitSignal(console.files.file_saved, timeout=5000):
        qtbot.keyClick(console.editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert script.read_text(encoding="utf-8") == "-- xSELECT 1;\n"
    assert titles(console)[-1] == "q.sql"

    other = tmp_path / "copy.sql"
    scripted.paths.append(other)
    with qtbot.waitSignal(console.files.file_saved, timeout=5000):
        console.files.save_as_action.trigger()
    assert titles(console)[-1] == "copy.sql" and other.read_text(encoding="utf-8") == "-- xSELECT 1;\n"


def test_the_database_itself_is_never_opened_as_a_sql_file(qtbot, console: ConsolePanel, db_path: Path, tmp_path: Path) -> None:
    qtbot.waitUntil(console.files.open(db_path).done, timeout=5000)
    assert "open database's own file" in console.error_label.text()
    assert titles(console) == ["Query 1"]
    binary = tmp_path / "image.sql"
    binary.write_bytes(b"SELECT 1;\n\xff\xfe")
    qtbot.waitUntil(console.files.open(binary).done, timeout=5000)
    assert "line 2: not UTF-8" in console.error_label.text()


def test_execute_file_stops_at_the_failing_line_and_keeps_nothing(qtbot, console: ConsolePanel, scripted, db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "load.sql"
    script.write_text(
        "CREATE TABLE extra(id INTEGER PRIMARY KEY, name TEXT);\n"
        "INSERT INTO extra(name) VALUES ('a');\n"
        "\n"
        "INSERT INTO no_such_table VALUES (1);\n"
        "INSERT INTO extra(name) VALUES ('b');\n"
    )
    scripted.paths.append(script)
    with qtbot.waitSignal(console.files.script_failed, timeout=10_000) as blocker:
        console.files.execute_action.trigger()
    assert scripted.confirmations == ["Execute SQL file"]
    assert getattr(blocker.args[0], "line", None) == 4
    text = console.error_label.text()
    assert "Line 4" in text and "no_such_table" in text and "nothing of the file was kept" in text
    assert count(db_path, "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'") == 0
    assert not console.files.script_bar.isVisible()


def test_execute_file_as_written_keeps_what_ran_before_the_error(qtbot, console: ConsolePanel, db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "load.sql"
    script.write_text("CREATE TABLE extra(name TEXT);\nINSERT INTO extra VALUES ('a');\nINSERT INTO nope VALUES (1);\n")
    console.files.one_transaction_action.setChecked(False)
    with qtbot.waitSignal(console.files.script_failed, timeout=10_000):
        console.files.execute(script, confirm=False)
    text = console.error_label.text()
    assert "Line 3" in text and "before it committed was kept" in text
    assert count(db_path, "SELECT count(*) FROM extra") == 1


def test_execute_file_runs_every_statement_with_progress(qtbot, console: ConsolePanel, db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "load.sql"
    script.write_text("".join(f"INSERT INTO readings(device, value) VALUES ('x{i}', {i});\n" for i in range(300)))
    with (
        qtbot.waitSignal(console.database_changed_by_query, timeout=10_000),  # the schema view re-reads
        qtbot.waitSignal(console.files.script_finished, timeout=10_000) as blocker,
    ):
        console.files.execute(script, confirm=False)
    assert blocker.args[0].statements == 300
    assert console.files.script_bar.last_progress is not None
    assert console.files.script_bar.last_progress.bytes_done == script.stat().st_size
    assert "300 statements ran" in console.status_label.text()
    assert count(db_path, "SELECT count(*) FROM readings") == 800


def test_execute_file_can_be_stopped_and_rolls_back(qtbot, console: ConsolePanel, db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "slow.sql"
    script.write_text(
        "INSERT INTO readings(device, value) VALUES ('first', 0);\n"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n;\n"
    )
    console.files.execute(script, confirm=False)
    qtbot.waitUntil(lambda: console.files.script_bar.isVisible(), timeout=5000)
    with qtbot.waitSignal(console.files.script_failed, timeout=5000):
        console.files.script_bar.stop_button.click()
    assert "was stopped" in console.error_label.text()
    assert count(db_path, "SELECT count(*) FROM readings WHERE device = 'first'") == 0


def test_execute_file_is_refused_on_a_read_only_open(qtbot, console: ConsolePanel, open_session, db_path: Path, tmp_path: Path) -> None:
    console.set_session(open_session(db_path, read_only=True))
    assert not console.files.execute_action.isEnabled()
    script = tmp_path / "w.sql"
    script.write_text("DELETE FROM readings;\n")
    with qtbot.waitSignal(console.files.script_failed, timeout=5000) as blocker:
        console.files.execute(script, confirm=False)
    assert isinstance(blocker.args[0], DatabaseReadOnly)
    assert "read-only" in console.error_label.text()
    assert count(db_path, "SELECT count(*) FROM readings") == 500


def test_ctrl_w_in_the_editor_closes_the_tab_not_the_database(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    console = window.console
    window.show()
    console.new_tab("SELECT 1")
    window.docks["console"].raise_()
    console.editor.setFocus()
    qtbot.waitUntil(console.editor.hasFocus, timeout=2000)
    qtbot.keyClick(console.editor, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert console.query_tabs.count() == 1
    assert window.workspace.session is not None  # still open
    menus = [action.text() for action in window.menuBar().actions()]
    assert "&Query" in menus and console.files.execute_action in console.file_menu.actions()


def test_bad_stored_state_is_ignored(qtbot, settings: AppSettings, scripted, open_session, db_path: Path) -> None:
    settings.set_console_state_for(db_path, {"tabs": [{"title": 3}, "junk"], "current": 9})
    panel = ConsolePanel(settings, scripted)
    qtbot.addWidget(panel)
    panel.set_session(open_session(db_path))
    assert titles(panel) == ["Query 1"]
    panel.set_session(None)


def test_following_the_workspace_the_tabs_are_kept_when_the_file_closes(
    qtbot, workspace, settings: AppSettings, scripted, db_path: Path
) -> None:
    panel = ConsolePanel(settings, scripted, workspace=workspace)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.catalog_loaded, timeout=5000) as blocker:
        resolve(qtbot, workspace.open(db_path))
    assert blocker.args[0].tables["readings"] == ("id", "device", "value")
    panel.new_tab("SELECT max(value) FROM readings", title="Peak")
    resolve(qtbot, workspace.close())
    assert panel.status_label.text() == "No database open."
    kept = settings.console_state_for(db_path)
    assert [tab["title"] for tab in kept["tabs"]] == ["Query 1", "Peak"] and kept["current"] == 1
