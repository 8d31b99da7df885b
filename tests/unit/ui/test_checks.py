"""Tools ▸ Foreign Key Check and Quick Check in the window, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import maintenance
from desktop_app.core.database import connect_write
from desktop_app.core.errors import QueryInterrupted
from desktop_app.core.worker import Job
from desktop_app.ui.checks import ROW_ROLE

from .conftest import open_in

pytestmark = pytest.mark.gui


def test_a_foreign_key_violation_is_listed_and_opens_its_row(qtbot, window, db_path: Path) -> None:
    connection = connect_write(db_path)
    connection.execute(
        """
        CREATE TABLE notes(id INTEGER PRIMARY KEY, reading_id INTEGER REFERENCES readings(id), text TEXT);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
        INSERT INTO notes SELECT i, i % 400 + 1, 'note ' || i FROM n;
        UPDATE notes SET reading_id = 9999 WHERE id = 1100;
        """
    )
    connection.close()
    open_in(qtbot, window, db_path)
    dialog = window.show_check("foreign_keys")
    with qtbot.waitSignal(dialog.finished_check, timeout=10_000) as blocker:
        pass
    report = blocker.args[0]
    assert [(v.table, v.rowid) for v in report.violations] == [("notes", 1100)]
    item = dialog.results.item(0)
    assert item.data(ROW_ROLE) == ("notes", 1100) and "notes row 1100" in item.text()
    dialog.results.itemActivated.emit(item)
    grid = window.schema.browser
    qtbot.waitUntil(lambda: grid.current_table == "notes" and grid.view.currentIndex().isValid(), timeout=5000)
    row = grid.view.currentIndex().row()
    assert grid.model.value(row, 0) == 1100 and grid.model.value(row, 1) == 9999
    assert grid.view.selectionModel().isRowSelected(row)


def test_quick_check_reports_ok_and_a_cancel_stops_it(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    dialog = window.show_check("quick")
    if not dialog.job.done():
        with qtbot.waitSignal(dialog.finished_check, timeout=10_000) as blocker:
            pass
        assert blocker.args[0].ok
    qtbot.waitUntil(lambda: "passed" in dialog.status.text(), timeout=5000)
    assert dialog.results.count() == 0 and dialog.run_button.isEnabled()
    job = dialog.run()
    assert job is not None and dialog.cancel_button.isEnabled()
    dialog.cancel()  # before or during the check: it ends, and says so when it did not finish
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=5000)
    assert job.done() and ("Cancelled" in dialog.status.text() or "passed" in dialog.status.text())
    assert dialog.windowTitle() == "Quick Check" and window.quick_check_action.isEnabled()


def test_a_cancelled_check_job_stops_its_statement(qloop, db_path: Path) -> None:
    job = Job("integrity_check", lambda _job: None, qloop)
    job.cancel()  # what Cancel does; the check's connection is the job's to interrupt
    with pytest.raises(QueryInterrupted):
        maintenance.integrity_check(db_path, quick=True, interrupts=job.interrupts)
    assert maintenance.integrity_check(db_path, quick=True).ok


def test_closing_a_check_window_while_it_runs_stops_the_job_quietly(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    dialog = window.show_check("foreign_keys")
    job = dialog.job
    gone: list[bool] = []
    dialog.destroyed.connect(lambda *_: gone.append(True))
    dialog.close()  # deleted on close: the job is cancelled, and its result is shown nowhere
    qtbot.waitUntil(lambda: bool(gone), timeout=5000)
    dialog._progress(1, 2)  # a progress report the job sent before its cancel, arriving now: nothing to move
    qtbot.waitUntil(job.done, timeout=5000)
    qtbot.waitUntil(lambda: not window.session.jobs, timeout=5000)
