from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from desktop_app.core.database import connect_read
from desktop_app.core.errors import QueryError, QueryInterrupted
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.console import TAB_BYTECODE, TAB_PLAN, ConsolePanel
from desktop_app.ui.settings import AppSettings

pytestmark = pytest.mark.gui

# Runs for minutes unless interrupted: a cross join of 10^9 rows, computed without touching disk.
ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
    "SELECT count(*) FROM n a, n b, n c"
)


@pytest.fixture
def console(qtbot, settings: AppSettings, scripted: ScriptedDialogs, open_session, db_path: Path) -> Iterator[ConsolePanel]:
    panel = ConsolePanel(settings, scripted)
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    panel.show()
    panel.set_session(open_session(db_path))
    yield panel
    panel.set_session(None)


def run(qtbot, console: ConsolePanel, sql: str | None = None):
    with qtbot.waitSignal(console.query_finished, timeout=10_000) as blocker:
        console.run(sql)
        qtbot.waitUntil(lambda: not console.busy, timeout=10_000)
        assert console.last_error is None, console.last_error
    return blocker.args[0]


def fail(qtbot, console: ConsolePanel, sql: str):
    with qtbot.waitSignal(console.query_failed, timeout=10_000) as blocker:
        console.run(sql)
    return blocker.args[0]


def test_runs_a_query_and_shows_rows_elapsed_and_count(qtbot, console: ConsolePanel) -> None:
    result = run(qtbot, console, "SELECT id, device FROM readings ORDER BY id LIMIT 3")
    assert result.row_count == 3
    assert console.result_model.columns == ["id", "device"]
    assert console.result_model.rows() == [(1, "dev0"), (2, "dev1"), (3, "dev2")]
    assert console.status_label.text().startswith("3 rows")
    assert "ms" in console.status_label.text()
    assert not console.error_label.isVisible()


def test_ctrl_enter_runs_the_selection_only(qtbot, console: ConsolePanel) -> None:
    console.editor.setPlainText("SELECT 1 AS one;\nSELECT 2 AS two;")
    cursor = console.editor.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.Start)
    cursor.movePosition(QTextCursor.MoveOperation.EndOfLine, QTextCursor.MoveMode.KeepAnchor)
    console.editor.setTextCursor(cursor)
    console.editor.setFocus()
    qtbot.waitUntil(console.editor.hasFocus, timeout=2000)
    with qtbot.waitSignal(console.query_finished, timeout=10_000):
        qtbot.keyClick(console.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert console.result_model.columns == ["one"]
    assert console.editor.toPlainText() == "SELECT 1 AS one;\nSELECT 2 AS two;"  # no newline was typed


def test_large_results_stream_into_a_lazy_grid(qtbot, console: ConsolePanel) -> None:
    result = run(qtbot, console, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000) SELECT i FROM n")
    assert result.row_count == 3000
    qtbot.waitUntil(lambda: console.result_model.received_count == 3000, timeout=5000)
    assert console.result_model.rowCount() < 3000  # revealed as the grid scrolls
    console.result_view.scrollToBottom()
    qtbot.waitUntil(lambda: console.result_model.rowCount() > 500, timeout=5000)


def test_errors_show_inline(qtbot, console: ConsolePanel) -> None:
    error = fail(qtbot, console, "SELECT * FROM no_such_table")
    assert isinstance(error, QueryError)
    assert console.error_label.isVisible()
    assert "no_such_table" in console.error_label.text()
    run(qtbot, console, "SELECT 1")
    assert not console.error_label.isVisible()


def test_cancel_interrupts_a_long_query(qtbot, console: ConsolePanel) -> None:
    console.run(ENDLESS)
    qtbot.waitUntil(lambda: console.busy, timeout=2000)
    assert console.cancel_button.isEnabled() and not console.run_button.isEnabled()
    qtbot.wait(100)
    with qtbot.waitSignal(console.query_failed, timeout=5000) as blocker:
        console.cancel_button.click()
    assert isinstance(blocker.args[0], QueryInterrupted)
    assert console.status_label.text().startswith("Cancelled after")
    assert not console.busy and console.run_button.isEnabled()


def test_writes_need_the_toggle(qtbot, console: ConsolePanel, db_path: Path) -> None:
    error = fail(qtbot, console, "DELETE FROM readings")
    assert "enable writes" in str(error).lower() or "writes are disabled" in str(error).lower()
    connection = connect_read(db_path)
    assert connection.execute("SELECT count(*) FROM readings").fetchall()[0][0] == 500
    console.allow_writes.setChecked(True)
    with qtbot.waitSignal(console.database_changed_by_query, timeout=10_000):
        result = run(qtbot, console, "DELETE FROM readings WHERE id <= 10")
    assert result.changes == 10
    assert "10 changed" in console.status_label.text()
    assert connection.execute("SELECT count(*) FROM readings").fetchall()[0][0] == 490
    connection.close()


def test_read_only_database_refuses_writes(qtbot, console: ConsolePanel, open_session, db_path: Path) -> None:
    console.set_session(open_session(db_path, read_only=True))
    assert not console.allow_writes.isEnabled()
    error = fail(qtbot, console, "UPDATE readings SET value = 0")
    assert isinstance(error, QueryError)


def test_query_plan_tree_highlights_full_scans(qtbot, console: ConsolePanel) -> None:
    with qtbot.waitSignal(console.plan_ready, timeout=10_000) as blocker:
        console.explain_plan("SELECT * FROM readings WHERE value > 3")
    roots = blocker.args[0]
    assert roots and roots[0].full_scan
    assert console.tabs.currentIndex() == TAB_PLAN
    item = console.plan_tree.topLevelItem(0)
    assert item.text(0).startswith("⚠ SCAN readings")
    assert item.foreground(0).color() == console.full_scan_colors[1]
    assert "1 full scan" in console.status_label.text()

    with qtbot.waitSignal(console.plan_ready, timeout=10_000) as blocker:
        console.explain_plan("SELECT * FROM readings WHERE device = 'dev1'")
    assert not any(node.full_scan for node in blocker.args[0])
    assert "USING INDEX readings_device" in console.plan_tree.topLevelItem(0).text(0)


def test_bytecode_table(qtbot, console: ConsolePanel) -> None:
    with qtbot.waitSignal(console.bytecode_ready, timeout=10_000):
        console.explain_bytecode("SELECT count(*) FROM readings")
    assert console.tabs.currentIndex() == TAB_BYTECODE
    assert "opcode" in console.bytecode_model.columns
    opcodes = [row[console.bytecode_model.columns.index("opcode")] for row in console.bytecode_model.rows()]
    assert "Init" in opcodes and "Halt" in opcodes


def test_history_is_kept_across_runs_and_sessions(qtbot, console: ConsolePanel, settings: AppSettings, scripted) -> None:
    run(qtbot, console, "SELECT 1")
    run(qtbot, console, "SELECT 2")
    assert settings.query_history()[-2:] == ["SELECT 1", "SELECT 2"]
    again = ConsolePanel(settings, scripted)
    qtbot.addWidget(again)
    assert again.history.itemData(0) == "SELECT 2"  # newest first
    again.history.activated.emit(1)
    assert again.editor.toPlainText() == "SELECT 1"


def test_export_csv_and_json(qtbot, console: ConsolePanel, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    run(qtbot, console, "SELECT id, device, x'00ff' AS raw, NULL AS empty FROM readings ORDER BY id LIMIT 2")
    csv_path, json_path = tmp_path / "out.csv", tmp_path / "out.json"
    scripted.paths.extend([csv_path, json_path])
    with qtbot.waitSignal(console.exported, timeout=5000):
        console.export_csv_button.click()
    with qtbot.waitSignal(console.exported, timeout=5000):
        console.export_json_button.click()
    with csv_path.open(newline="") as handle:
        assert list(csv.reader(handle)) == [["id", "device", "raw", "empty"], ["1", "dev0", "AP8=", ""], ["2", "dev1", "AP8=", ""]]
    assert json.loads(json_path.read_text()) == [
        {"id": 1, "device": "dev0", "raw": "AP8=", "empty": None},
        {"id": 2, "device": "dev1", "raw": "AP8=", "empty": None},
    ]
    assert "Exported all 2 rows" in console.status_label.text()


def test_without_a_database_nothing_runs(qtbot, console: ConsolePanel) -> None:
    console.set_session(None)
    assert not console.run_button.isEnabled()
    console.run("SELECT 1")
    assert console.error_label.isVisible()
    assert "Open a database" in console.error_label.text()
