"""The Ingest panel's Keep row: a policy typed there reaches the ingest child, which trims as it writes; a value
that does not parse is said in the panel and nothing starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios import rows, wait_for

from .conftest import open_in, resolve
from .test_ingest_panel import ServerThread, rows_in

pytestmark = pytest.mark.gui


def test_keep_last_rows_from_the_panel(qtbot, qloop, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    keep = panel.keep
    assert not keep.value_edit.isVisibleTo(panel)  # "everything": no value to type
    keep.kind_combo.setCurrentIndex(keep.kind_combo.findText("last D of time"))
    assert keep.column_edit.isVisibleTo(panel)
    keep.value_edit.setText("soon")
    panel.table_edit.setText("kept")
    panel.start_button.click()
    assert "not a duration" in panel.error_label.text() and not controller.running
    keep.kind_combo.setCurrentIndex(keep.kind_combo.findText("last N rows"))
    assert not keep.column_edit.isVisibleTo(panel)
    keep.value_edit.setText("300")
    finals: list = []
    controller.stopped.connect(finals.append)

    async def scenario() -> None:
        panel.url_edit.setText(server.url)
        panel.start_button.click()
        await wait_for(lambda: not keep.kind_combo.isEnabled(), 20)  # fixed while the run lasts
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written >= 2000, 30)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)

    with ServerThread(count=2000) as server:
        resolve(qtbot, scenario(), timeout=90_000)
    assert controller.config is not None and controller.config.retain_rows == 300
    assert rows_in(db_path, "kept") == 300
    assert rows(db_path, "SELECT sum(rows) - sum(trimmed) FROM pulse_ingest_batches WHERE target_table = 'kept'") == [
        (300,)]
    assert keep.kind_combo.isEnabled()
