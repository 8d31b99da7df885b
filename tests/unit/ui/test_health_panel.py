from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import apsw
import pytest
from PySide6.QtGui import QGuiApplication

from desktop_app.core.errors import QueryInterrupted
from desktop_app.core.workspace import Workspace
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.health import HealthPanel
from tests.unit.ui.conftest import resolve

pytestmark = pytest.mark.gui


def make_panel(qtbot, workspace: Workspace, scripted: ScriptedDialogs) -> HealthPanel:
    panel = HealthPanel(workspace=workspace, dialogs=scripted)
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    return panel


def audited(qtbot, panel: HealthPanel) -> set[str]:
    with qtbot.waitSignal(panel.audit_finished, timeout=10_000):
        panel.run_button.click()
    assert panel.report is not None
    return panel.report.codes()


def gone(panel: HealthPanel, code: str) -> Callable[[], bool]:
    return lambda: not panel.running and panel.report is not None and code not in panel.report.codes()


def test_the_audit_lists_findings_worst_first(qtbot, workspace: Workspace, scripted: ScriptedDialogs,
                                              shop_db: Path) -> None:
    panel = make_panel(qtbot, workspace, scripted)
    assert not panel.run_button.isEnabled()  # nothing open yet
    resolve(qtbot, workspace.open(shop_db, read_only=False))
    assert panel.run_button.isEnabled()
    codes = audited(qtbot, panel)
    assert {"journal-mode", "fk-index", "user-version"} <= codes
    listed = [f.code for f in panel.listed]
    assert listed[:2] == ["journal-mode", "fk-index"]  # the warnings before the notes
    assert panel.version_label.text() == "Schema version (user_version): 0"
    assert "2 warnings" in panel.summary_label.text()
    assert not panel.cancel_button.isVisible() and not panel.progress.isVisible()
    panel.select("fk-index")
    assert "orders" in panel.evidence_label.text()
    assert panel.copy_button.isVisible() and panel.fix_button.isVisible()
    panel.copy_button.click()
    assert QGuiApplication.clipboard().text() == panel.current_finding.fix_sql  # type: ignore[union-attr]
    panel.select("user-version")  # no SQL, no fix
    assert not panel.copy_button.isVisible() and not panel.fix_button.isVisible()


def test_a_confirmed_fix_is_applied_and_its_finding_goes(qtbot, workspace: Workspace, scripted: ScriptedDialogs,
                                                         shop_db: Path) -> None:
    panel = make_panel(qtbot, workspace, scripted)
    resolve(qtbot, workspace.open(shop_db, read_only=False))
    audited(qtbot, panel)
    for code in ("fk-index", "journal-mode"):
        assert panel.select(code) is not None
        with qtbot.waitSignal(panel.fix_applied, timeout=10_000):
            panel.fix_button.click()
        qtbot.waitUntil(gone(panel, code), timeout=10_000)  # the audit ran again without it
    assert scripted.confirmations == ["Apply fix", "Apply fix"]
    assert panel.notice_label.text() == "✓ shop.db is now in WAL mode."
    assert resolve(qtbot, workspace.session.browse(lambda c: c.execute("PRAGMA journal_mode").fetchall())) == [("wal",)]  # type: ignore[union-attr]
    assert not panel.report.has_problems  # type: ignore[union-attr]


def test_a_refused_confirmation_changes_nothing(qtbot, workspace: Workspace, shop_db: Path) -> None:
    scripted = ScriptedDialogs(confirm_answer=False)
    panel = make_panel(qtbot, workspace, scripted)
    resolve(qtbot, workspace.open(shop_db, read_only=False))
    audited(qtbot, panel)
    panel.select("fk-index")
    panel.fix_button.click()  # ScriptedDialogs answers at once: no fix was started
    assert scripted.confirmations == ["Apply fix"]
    assert not panel.running and panel.fix_button.isEnabled()
    assert "fk-index" in audited(qtbot, panel)


def test_a_read_only_session_shows_no_fix_button(qtbot, workspace: Workspace, scripted: ScriptedDialogs,
                                                 shop_db: Path) -> None:
    panel = make_panel(qtbot, workspace, scripted)
    resolve(qtbot, workspace.open(shop_db, read_only=True))
    codes = audited(qtbot, panel)
    assert {"journal-mode", "fk-index"} <= codes
    for finding in panel.listed:
        panel.select(finding.code)
        assert not panel.fix_button.isVisible(), finding.code
    panel.select("fk-index")
    assert panel.copy_button.isVisible()  # the SQL is still there to copy


def test_cancel_stops_a_running_audit(qtbot, workspace: Workspace, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    connection = apsw.Connection(str(path))
    connection.execute(
        "CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) "
        "INSERT INTO t SELECT randomblob(200) FROM n; CREATE INDEX t_x ON t(x);"
    )
    connection.close()
    panel = make_panel(qtbot, workspace, scripted)
    resolve(qtbot, workspace.open(path, read_only=True))
    with qtbot.waitSignal(panel.audit_failed, timeout=10_000) as failed:
        panel.run_button.click()
        assert panel.cancel_button.isVisible() and panel.running
        panel.cancel_button.click()
    assert isinstance(failed.args[0], QueryInterrupted)
    assert panel.summary_label.text() == "Audit cancelled."
    assert not panel.running and panel.run_button.isEnabled() and not panel.cancel_button.isVisible()


def test_closing_the_file_clears_the_panel(qtbot, workspace: Workspace, scripted: ScriptedDialogs,
                                           shop_db: Path) -> None:
    panel = make_panel(qtbot, workspace, scripted)
    resolve(qtbot, workspace.open(shop_db, read_only=False))
    audited(qtbot, panel)
    resolve(qtbot, workspace.close())
    assert panel.findings.count() == 0 and panel.report is None
    assert not panel.run_button.isEnabled() and panel.version_label.text() == ""
