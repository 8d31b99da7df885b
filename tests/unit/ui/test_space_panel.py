from __future__ import annotations

from pathlib import Path

import apsw
import pytest
from PySide6.QtCore import Qt

from desktop_app.core.errors import QueryInterrupted
from desktop_app.core.workspace import Workspace
from desktop_app.ui.panels.space import SIZE_COLUMN, SpacePanel
from tests.unit.ui.conftest import resolve

pytestmark = pytest.mark.gui
TABLES = 300  # enough objects that a Cancel clicked right after Scan lands while it runs


@pytest.fixture
def many_objects(tmp_path: Path) -> Path:
    path = tmp_path / "many.db"
    connection = apsw.Connection(str(path))
    with connection:
        for i in range(TABLES):
            connection.execute(f"CREATE TABLE t{i}(id INTEGER PRIMARY KEY, body BLOB)")
        connection.execute("CREATE INDEX t0_size ON t0(length(body))")
        connection.executemany("INSERT INTO t0(body) VALUES (randomblob(?))", [(n % 5000,) for n in range(400)])
    connection.close()
    return path


@pytest.fixture
def panel(qtbot, workspace: Workspace) -> SpacePanel:
    widget = SpacePanel(workspace=workspace)
    qtbot.addWidget(widget)
    widget.resize(1000, 500)
    widget.show()
    return widget


def test_a_scan_lists_every_object_largest_first(qtbot, panel: SpacePanel, workspace: Workspace, many_objects: Path) -> None:
    assert panel.objectName() == "space"
    assert not panel.scan_button.isEnabled()
    resolve(qtbot, workspace.open(many_objects))
    assert panel.scan_button.isEnabled()
    with qtbot.waitSignal(panel.scanned, timeout=15_000) as blocker:
        panel.scan_button.click()
    report = blocker.args[0]
    model = panel.model
    assert model.rowCount() == len(report.objects) == TABLES + 2  # and t0_size, sqlite_schema
    assert model.index(0, 0).data() == "t0"  # the only table with rows is the largest
    sizes = [o.bytes for o in model.objects]
    assert sizes == sorted(sizes, reverse=True)
    assert model.index(0, SIZE_COLUMN).data(Qt.ItemDataRole.ToolTipRole) == f"{report.objects[0].bytes:,} bytes"
    text = panel.summary_label.text()
    assert f"in {TABLES + 1} tables and 1 index" in text and text.endswith("= file size")
    assert report.total_bytes == many_objects.stat().st_size
    assert not panel.progress.isVisible() and not panel.cancel_button.isVisible()
    assert panel.progress.value() == panel.progress.maximum() == TABLES + 2

    panel.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # a header click: by name
    names = [o.name.lower() for o in model.objects]
    assert names == sorted(names)


def test_cancel_stops_the_scan_and_a_new_scan_works(qtbot, panel: SpacePanel, workspace: Workspace, many_objects: Path) -> None:
    resolve(qtbot, workspace.open(many_objects))
    with qtbot.waitSignal(panel.failed, timeout=15_000) as blocker:
        panel.scan_button.click()
        assert panel.cancel_button.isVisible() and panel.progress.isVisible()
        panel.cancel_button.click()
    assert isinstance(blocker.args[0], QueryInterrupted)
    assert "Cancelled" in panel.summary_label.text()
    assert not panel.cancel_button.isVisible() and panel.scan_button.isEnabled()
    assert panel.model.rowCount() == 0

    with qtbot.waitSignal(panel.scanned, timeout=15_000):
        panel.scan_button.click()
    assert panel.model.rowCount() == TABLES + 2


def test_a_new_file_clears_the_panel(qtbot, panel: SpacePanel, workspace: Workspace, many_objects: Path, db_path: Path) -> None:
    resolve(qtbot, workspace.open(many_objects))
    with qtbot.waitSignal(panel.scanned, timeout=15_000):
        panel.scan_button.click()
    resolve(qtbot, workspace.open(db_path))
    assert panel.model.rowCount() == 0 and panel.report is None
    with qtbot.waitSignal(panel.scanned, timeout=15_000):
        panel.scan_button.click()
    assert {o.name for o in panel.model.objects} == {"sqlite_schema", "readings", "readings_device"}
    resolve(qtbot, workspace.close())
    assert panel.model.rowCount() == 0 and not panel.scan_button.isEnabled()


def test_a_failed_scan_says_why(qtbot, panel: SpacePanel, workspace: Workspace, many_objects: Path) -> None:
    resolve(qtbot, workspace.open(many_objects))
    many_objects.unlink()  # the open session keeps its own connections; a new one cannot open the path
    with qtbot.waitSignal(panel.failed, timeout=15_000):
        panel.scan_button.click()
    qtbot.waitUntil(lambda: panel.summary_label.text().startswith("⚠"), timeout=5000)
    assert "does not exist" in panel.summary_label.text()
    assert panel.scan_button.isEnabled()
