"""The window keeps SQLite's promises: it holds its locks through every Tools action and another process's
writes, every view follows the open file, switching files leaves nothing of the old one, flags clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.database import connect_write
from desktop_app.ui.dialogs import ScriptedDialogs
from tests.odd_files import bloat

from .conftest import open_in

pytestmark = pytest.mark.gui

WRITER = """
import sys, apsw
path, cycles = sys.argv[1], int(sys.argv[2])
for i in range(cycles):
    connection = apsw.Connection(path)
    connection.set_busy_timeout(5000)
    with connection:
        connection.execute("INSERT INTO readings(device, value) VALUES ('outside', ?)", (i,))
    connection.close()  # the last connection of this process: SQLite would delete the WAL if it could
"""


def read_locks(pid: int, path: Path) -> list[str]:
    """The kinds (READ / WRITE) of POSIX locks `pid` holds on `path`, from /proc/locks, matched by inode."""
    inode = os.stat(path).st_ino
    kinds = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:  # a lock waiting on another: not held
            continue
        # "1: POSIX  ADVISORY  READ 1234 08:01:5678 128 128"
        held_by_us = len(fields) >= 8 and fields[1] == "POSIX" and int(fields[4]) == pid
        if held_by_us and int(fields[5].split(":")[2]) == inode:
            kinds.append(fields[3])
    return kinds


def finished(qtbot, window, start, timeout: int = 20_000):
    with qtbot.waitSignal(window.maintenance.finished, timeout=timeout) as blocker:
        start()
    return tuple(blocker.args)


def run_query(qtbot, window, sql: str):
    console = window.console
    console.editor.setPlainText(sql)
    with qtbot.waitSignal(console.query_finished, timeout=10_000) as blocker:
        console.run()
    return blocker.args[0], console.result_model.rows()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_window_keeps_its_locks_through_every_tool_and_outside_writers(
    qtbot, window, scripted: ScriptedDialogs, db_path: Path, tmp_path: Path
) -> None:
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 2, timeout=5000)

    assert finished(qtbot, window, window.integrity_action.trigger)[1].ok
    for mode, action in window.checkpoint_actions.items():
        assert finished(qtbot, window, action.trigger)[1].mode == mode
    assert finished(qtbot, window, window.vacuum_action.trigger)[0] == "vacuum"  # scripted: confirmed
    scripted.paths.append(tmp_path / "backup.db")
    assert not finished(qtbot, window, window.backup_action.trigger)[1].cancelled
    assert finished(qtbot, window, window.optimize_action.trigger)[0] == "optimize"
    scripted.paths.append(tmp_path / "compact.db")
    assert finished(qtbot, window, window.vacuum_into_action.trigger)[0] == "vacuum_into"

    writer = subprocess.run(
        [sys.executable, "-c", WRITER, str(db_path), "20"], capture_output=True, text=True, timeout=60
    )
    assert writer.returncode == 0, writer.stderr
    assert Path(f"{db_path}-wal").exists()  # the writer's close could not delete it under us

    result, rows = run_query(qtbot, window, "SELECT count(*), sum(device = 'outside') FROM readings")
    assert rows == [(520, 20)] and result.row_count == 1
    check = finished(qtbot, window, window.integrity_action.trigger)[1]
    assert check.ok, check.messages
    assert not scripted.errors

    assert "READ" in read_locks(os.getpid(), db_path), Path("/proc/locks").read_text()
    assert "READ" in read_locks(os.getpid(), Path(f"{db_path}-shm")), Path("/proc/locks").read_text()


def test_views_follow_the_file_when_another_process_writes(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: "readings" in [o.name for o in window.schema.objects], timeout=5000)
    window.schema.select("readings")
    qtbot.waitUntil(lambda: window.schema.model is not None and window.schema.model.rowCount() == 500, timeout=5000)
    connection = connect_write(db_path)
    with connection:
        connection.execute("DELETE FROM readings WHERE id <= 10")
        connection.execute("INSERT INTO readings(device, value) VALUES ('new', 1)")
    connection.close()
    model = window.schema.model
    qtbot.waitUntil(lambda: model.rowCount() == 491, timeout=5000)
    ids = [row[0] for row in model.rows()]
    assert ids[0] == 11 and model.rows()[-1][1] == "new"

    connection = connect_write(db_path)
    connection.execute("CREATE TABLE extra(x)")
    connection.close()
    qtbot.waitUntil(lambda: "extra" in [o.name for o in window.schema.objects], timeout=5000)  # no Refresh needed


def test_refresh_and_f5_reload_the_data_view(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: "readings" in [o.name for o in window.schema.objects], timeout=5000)
    window.schema.select("readings")
    qtbot.waitUntil(lambda: window.schema.model is not None and window.schema.model.rowCount() == 500, timeout=5000)
    model = window.schema.model
    reloads = model.reloads
    assert window.refresh_action.shortcut().toString() == "F5"
    window.refresh_action.trigger()
    qtbot.waitUntil(lambda: model.reloads > reloads, timeout=5000)


def test_switching_files_leaves_nothing_of_the_old_one_on_screen(
    qtbot, window, db_path: Path, delete_mode_db: Path
) -> None:
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 2, timeout=5000)
    run_query(qtbot, window, "SELECT id, device FROM readings LIMIT 5")
    with qtbot.waitSignal(window.console.plan_ready, timeout=10_000):
        window.console.explain_plan("SELECT * FROM readings WHERE value > 1")
    with qtbot.waitSignal(window.console.bytecode_ready, timeout=10_000):
        window.console.explain_bytecode("SELECT 1")
    window.console.editor.setPlainText("SELECT * FROM nowhere")
    with qtbot.waitSignal(window.console.query_failed, timeout=10_000):
        window.console.run()
    qtbot.waitUntil(lambda: "readings" in [o.name for o in window.schema.objects], timeout=5000)
    window.schema.select("readings")
    qtbot.waitUntil(lambda: window.schema.model is not None and window.schema.model.rowCount() > 0, timeout=5000)
    old_bytes = window.last_sample.data_bytes

    with qtbot.waitSignal(window.database_opened, timeout=10_000):
        window.open_path(delete_mode_db)
    console, schema, dashboard = window.console, window.schema, window.dashboard
    assert window.windowTitle() == "legacy.db — SQLite Pulse"
    assert console.result_model.columns == [] and console.result_model.received_count == 0
    assert console.plan_tree.topLevelItemCount() == 0
    assert console.bytecode_model.rowCount() == 0
    assert console.error_label.isHidden() and console.last_result is None
    assert "legacy.db" in console.status_label.text()
    assert schema.model is None and schema.data_view.model() is None and schema.current_table is None
    assert schema.sql_view.toPlainText() == ""
    names = [o.name for o in schema.objects]
    assert "notes" in names and "readings" not in names
    assert window.status_labels["file"].text() == "legacy.db"
    qtbot.waitUntil(lambda: window.status_labels["journal"].text() == "journal: DELETE", timeout=5000)
    assert dashboard.point_count() >= 1
    new = window.last_sample
    assert new.page_size == 4096 and new.journal_mode == "delete"  # the tiles show legacy.db's numbers
    assert dashboard.latest()["db_mb"] == pytest.approx(new.data_bytes / 1e6)
    assert dashboard.latest()["db_mb"] != pytest.approx(old_bytes / 1e6)


def test_closing_empties_every_view(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 2, timeout=5000)
    run_query(qtbot, window, "SELECT 1")
    with qtbot.waitSignal(window.database_closed, timeout=5000):
        window.close_action.trigger()
    assert window.dashboard.point_count() == 0
    assert window.console.result_model.columns == []
    assert window.schema.tree.topLevelItemCount() == 0
    assert window.status_labels["journal"].text() == ""


def flag_codes(window) -> set[str]:
    sample = window.last_sample
    return {flag.code for flag in sample.red_flags} if sample is not None else set()


def test_a_flag_clears_in_the_window_once_its_cause_is_fixed(qtbot, window, db_path: Path) -> None:
    bloat(db_path)
    open_in(qtbot, window, db_path)
    qtbot.waitUntil(lambda: "freelist_high" in flag_codes(window), timeout=5000)
    assert not window.dashboard.banner.isHidden()
    assert "freelist" in window.dashboard.banner.text()
    action, result = finished(qtbot, window, window.vacuum_action.trigger)
    assert action == "vacuum" and result.after_bytes < result.before_bytes
    qtbot.waitUntil(lambda: window.last_sample is not None and "freelist_high" not in flag_codes(window), timeout=5000)
    qtbot.waitUntil(window.dashboard.banner.isHidden, timeout=5000)
    assert flag_codes(window) == set()  # and the app's own VACUUM raised none


def test_the_apps_own_vacuum_raises_no_flag_on_a_rollback_journal_file(qtbot, window, delete_mode_db: Path) -> None:
    open_in(qtbot, window, delete_mode_db)
    qtbot.waitUntil(lambda: window.last_sample is not None, timeout=5000)
    seen = []
    window.sample_received.connect(seen.append)
    finished(qtbot, window, window.vacuum_action.trigger)
    # Wait for the sample that saw VACUUM's change (marked as ours), then a few more.
    qtbot.waitUntil(lambda: any(sample.own_change for sample in seen), timeout=5000)
    first_own = next(i for i, sample in enumerate(seen) if sample.own_change)
    qtbot.waitUntil(lambda: len(seen) >= first_own + 5, timeout=5000)
    assert all(not sample.red_flags for sample in seen), [f.code for s in seen for f in s.red_flags]
    assert window.dashboard.banner.isHidden()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_reopening_the_same_file_keeps_the_locks(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    open_in(qtbot, window, db_path, read_only=True)  # the old session closes fully before the new one opens
    qtbot.waitUntil(lambda: window.dashboard.point_count() >= 2, timeout=5000)
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, str(db_path), "5"], capture_output=True, text=True, timeout=60
    )
    assert writer.returncode == 0, writer.stderr
    assert Path(f"{db_path}-wal").exists()
    assert "READ" in read_locks(os.getpid(), db_path)
    assert "READ" in read_locks(os.getpid(), Path(f"{db_path}-shm"))
    _result, rows = run_query(qtbot, window, "SELECT count(*) FROM readings")
    assert rows == [(505,)]
