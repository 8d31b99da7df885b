from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.database import connect_write
from desktop_app.ui.panels.schema import OBJECT_ROLE, SchemaPanel

pytestmark = pytest.mark.gui


@pytest.fixture
def schema(qtbot, open_session, rich_db: Path) -> Iterator[SchemaPanel]:
    panel = SchemaPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 500)
    panel.show()
    with qtbot.waitSignal(panel.schema_loaded, timeout=5000):
        panel.set_session(open_session(rich_db))
    yield panel
    panel.set_session(None)


def groups(panel: SchemaPanel) -> dict[str, list[str]]:
    result = {}
    for index in range(panel.tree.topLevelItemCount()):
        group = panel.tree.topLevelItem(index)
        title = group.text(0).split(" (")[0]
        result[title] = [group.child(i).data(0, OBJECT_ROLE).name for i in range(group.childCount())]
    return result


def test_lists_tables_views_indexes_and_triggers(schema: SchemaPanel) -> None:
    assert groups(schema) == {
        "Tables": ["audit", "readings"],
        "Views": ["busy_devices"],
        "Indexes": ["readings_device"],
        "Triggers": ["readings_audit"],
    }


def test_selecting_a_table_shows_its_sql_and_first_rows(qtbot, schema: SchemaPanel) -> None:
    with qtbot.waitSignal(schema.table_opened, timeout=5000):
        assert schema.select("readings")
    assert "CREATE TABLE readings" in schema.sql_view.toPlainText()
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.rowCount() > 0, timeout=5000)
    qtbot.waitUntil(lambda: schema.estimated_rows is not None, timeout=5000)
    assert schema.estimated_rows == 500
    assert schema.model.columns == ["id", "device", "value"]
    assert "about 500 rows" in schema.info_label.text()


def test_views_browse_too_and_triggers_show_sql_only(qtbot, schema: SchemaPanel) -> None:
    with qtbot.waitSignal(schema.table_opened, timeout=5000):
        schema.select("busy_devices")
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.rowCount() == 7, timeout=5000)
    schema.select("readings_audit")
    assert "CREATE TRIGGER readings_audit" in schema.sql_view.toPlainText()
    assert schema.current_table == "busy_devices"  # the data view keeps the last table


def test_refresh_sees_new_objects_and_keeps_the_selection(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    schema.select("readings")
    connection = connect_write(rich_db)
    connection.execute("CREATE TABLE later(x)")
    connection.close()
    with qtbot.waitSignal(schema.schema_loaded, timeout=5000):
        schema.refresh_button.click()
    assert "later" in groups(schema)["Tables"]
    assert schema.tree.currentItem().data(0, OBJECT_ROLE).name == "readings"


def test_appended_rows_appear_after_an_external_write(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    schema.select("audit")
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.exhausted, timeout=5000)
    assert schema.model.rowCount() == 0
    connection = connect_write(rich_db)
    with connection:
        connection.execute("INSERT INTO readings(device, value) VALUES ('x', 1)")
    connection.close()
    # No call from the test: the session sees data_version move and the view follows the file.
    qtbot.waitUntil(lambda: schema.model.rowCount() == 1, timeout=5000)


def test_deleted_rows_leave_the_view_and_the_estimate_follows(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    schema.select("readings")
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.rowCount() == 500, timeout=5000)
    qtbot.waitUntil(lambda: "500" in schema.info_label.text(), timeout=5000)
    connection = connect_write(rich_db)
    with connection:
        connection.execute("DELETE FROM readings WHERE id > 400")
    connection.close()
    qtbot.waitUntil(lambda: schema.model.rowCount() == 400, timeout=5000)
    qtbot.waitUntil(lambda: "400 rows" in schema.info_label.text(), timeout=5000)  # both ends shown: exact


def test_a_dropped_table_closes_with_a_note(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    schema.select("audit")
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.exhausted, timeout=5000)
    connection = connect_write(rich_db)
    connection.execute("DROP TRIGGER readings_audit; DROP TABLE audit")
    connection.close()
    qtbot.waitUntil(lambda: schema.model is None, timeout=5000)
    assert "audit is no longer in the database" in schema.info_label.text()
    assert "audit" not in groups(schema)["Tables"]


def test_a_failing_view_shows_its_error(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    connection = connect_write(rich_db)
    connection.execute("CREATE TABLE tmp(x); CREATE VIEW broken AS SELECT x FROM tmp; DROP TABLE tmp")
    connection.close()
    qtbot.waitUntil(lambda: "broken" in groups(schema)["Views"], timeout=5000)
    with qtbot.waitSignal(schema.failed, timeout=5000):
        schema.select("broken")
    assert schema.info_label.text().startswith("⚠")
    assert "loading" not in schema.info_label.text()


def test_an_endless_view_shows_cancel_and_does_not_block_other_tables(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    connection = connect_write(rich_db)
    connection.execute(
        "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT i FROM n WHERE i < 0"
    )
    connection.close()
    qtbot.waitUntil(lambda: "endless" in groups(schema)["Views"], timeout=5000)
    schema.select("endless")
    qtbot.waitUntil(schema.cancel_button.isVisible, timeout=5000)
    assert "loading" in schema.info_label.text()
    with qtbot.waitSignal(schema.table_opened, timeout=5000):
        schema.select("readings")  # moving on interrupts the endless read
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.rowCount() == 500, timeout=5000)
    schema.select("endless")
    qtbot.waitUntil(schema.cancel_button.isVisible, timeout=5000)
    schema.cancel_button.click()
    qtbot.waitUntil(lambda: not schema.cancel_button.isVisible(), timeout=5000)
    assert "Cancelled" in schema.info_label.text()


def test_closing_clears_the_panel(schema: SchemaPanel) -> None:
    schema.set_session(None)
    assert schema.tree.topLevelItemCount() == 0
    assert schema.model is None


def test_a_table_whose_columns_change_is_read_afresh(qtbot, schema: SchemaPanel, rich_db: Path) -> None:
    schema.select("readings")
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.rowCount() == 500, timeout=5000)
    connection = connect_write(rich_db)
    connection.execute("ALTER TABLE readings ADD COLUMN unit TEXT DEFAULT 'C'")
    connection.close()
    qtbot.waitUntil(lambda: schema.model is not None and schema.model.columns == ["id", "device", "value", "unit"], timeout=5000)
    qtbot.waitUntil(lambda: schema.model.rowCount() == 500 and schema.model.rows()[0][3] == "C", timeout=5000)


def test_a_failed_refresh_shows_its_error_under_the_grid(qtbot, schema: SchemaPanel, monkeypatch) -> None:
    from desktop_app.core.errors import PulseError

    session = schema._session
    assert session is not None

    async def refuse() -> list:
        raise PulseError("the file went away")

    monkeypatch.setattr(session, "refresh_schema", refuse)
    with qtbot.waitSignal(schema.failed, timeout=5000) as failed:
        schema.refresh()
    assert str(failed.args[0]) == "the file went away"
    assert "the file went away" in schema.browser.info_label.text()
