from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.database import connect_write
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.maintenance import MaintenanceActions, human_bytes
from tests.odd_files import bloat

pytestmark = pytest.mark.gui


@pytest.fixture
def actions(qtbot, open_session, scripted: ScriptedDialogs, db_path: Path) -> MaintenanceActions:
    statuses: list[str] = []
    maintenance = MaintenanceActions(scripted, statuses.append)
    maintenance.statuses = statuses
    maintenance.set_session(open_session(db_path))
    return maintenance


def finished(qtbot, actions: MaintenanceActions, start) -> tuple[str, object]:
    with qtbot.waitSignal(actions.finished, timeout=20_000) as blocker:
        start()
    return tuple(blocker.args)


@pytest.mark.parametrize("mode", ["passive", "full", "restart", "truncate"])
def test_checkpoint_modes_report_busy_log_and_checkpointed(qtbot, actions: MaintenanceActions, mode: str) -> None:
    action, result = finished(qtbot, actions, lambda: actions.checkpoint(mode))
    assert action == "checkpoint" and result.mode == mode
    assert result.busy == 0 and result.checkpointed_frames == result.log_frames
    assert any(f"Checkpoint ({mode.upper()}): busy=0" in text for text in actions.statuses)


def test_backup_copies_with_progress(qtbot, actions: MaintenanceActions, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    destination = tmp_path / "copy.db"
    scripted.paths.append(destination)
    action, result = finished(qtbot, actions, actions.backup)
    assert action == "backup" and not result.cancelled and result.destination == destination
    assert scripted.progress_updates and scripted.progress_updates[-1][0] == scripted.progress_updates[-1][1]
    copy = connect_write(destination)
    assert copy.execute("SELECT count(*) FROM readings").fetchall()[0][0] == 500
    copy.close()
    assert "Backed up" in scripted.infos[-1][1]


def test_cancelled_backup_leaves_nothing(qtbot, actions: MaintenanceActions, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    scripted.cancel_progress = True
    destination = tmp_path / "cancelled.db"
    action, result = finished(qtbot, actions, lambda: actions.backup_to(destination))
    assert result.cancelled
    assert not destination.exists()
    assert "cancelled" in scripted.infos[-1][1]


def test_vacuum_asks_first_and_reports_sizes(qtbot, actions: MaintenanceActions, scripted: ScriptedDialogs, db_path: Path) -> None:
    bloat(db_path)
    scripted.confirm_answer = False
    actions.vacuum()
    assert scripted.confirmations == ["VACUUM"]
    qtbot.wait(50)
    assert "vacuum" not in actions.running
    scripted.confirm_answer = True
    action, result = finished(qtbot, actions, actions.vacuum)
    assert action == "vacuum" and result.after_bytes < result.before_bytes
    assert "→" in scripted.infos[-1][1] and "saved" in scripted.infos[-1][1]


def test_vacuum_into_writes_a_compact_copy(qtbot, actions: MaintenanceActions, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    destination = tmp_path / "compact.db"
    scripted.paths.append(destination)
    action, result = finished(qtbot, actions, actions.vacuum_into)
    assert action == "vacuum_into" and result.destination == destination and destination.exists()


def test_integrity_check_and_optimize(qtbot, actions: MaintenanceActions, scripted: ScriptedDialogs) -> None:
    action, result = finished(qtbot, actions, actions.integrity_check)
    assert action == "integrity_check" and result.ok
    assert "passed" in scripted.infos[-1][1]
    action, statements = finished(qtbot, actions, actions.optimize)
    assert action == "optimize" and isinstance(statements, list)
    assert scripted.infos[-1][0] == "Optimize"


def test_write_actions_refuse_a_read_only_database(actions: MaintenanceActions, scripted: ScriptedDialogs, open_session, db_path: Path) -> None:
    actions.set_session(open_session(db_path, read_only=True))
    for start in (lambda: actions.checkpoint("passive"), actions.vacuum, actions.optimize):
        start()
    assert len(scripted.errors) == 3
    assert all("read-only" in text for _title, text in scripted.errors)
    assert not actions.running


def test_no_database_means_an_explanation(actions: MaintenanceActions, scripted: ScriptedDialogs) -> None:
    actions.set_session(None)
    actions.backup()
    assert scripted.errors == [("Backup", "Open a database first.")]


def test_failures_become_error_dialogs(qtbot, actions: MaintenanceActions, scripted: ScriptedDialogs, db_path: Path) -> None:
    with qtbot.waitSignal(actions.failed, timeout=10_000) as blocker:
        actions.backup_to(db_path)  # onto itself: refused
    assert blocker.args[0] == "backup"
    assert scripted.errors and scripted.errors[-1][0] == "Backup failed"
    assert not actions.running


def test_human_bytes() -> None:
    assert human_bytes(512) == "512 bytes"
    assert human_bytes(1_500_000) == "1.5 MB"
