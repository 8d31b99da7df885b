"""Create Table, Modify Table, Create Index and Drop, driven like a user would, on real files offscreen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu

from desktop_app.core.database import connect_write
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.schema import OBJECT_ROLE, SchemaPanel
from desktop_app.ui.structure_dialogs import NAME, PK, TYPE, IndexDialog, TableDialog
from tests.unit.ui.conftest import resolve
from tests.unit.ui.test_schema import groups

pytestmark = pytest.mark.gui


def make_panel(qtbot, session) -> SchemaPanel:
    panel = SchemaPanel()
    qtbot.addWidget(panel)
    panel.structure.dialogs = ScriptedDialogs()
    with qtbot.waitSignal(panel.schema_loaded, timeout=5000):
        panel.set_session(session)
    return panel


@pytest.fixture
def panel(qtbot, open_session, rich_db: Path) -> Iterator[SchemaPanel]:
    schema = make_panel(qtbot, open_session(rich_db))
    yield schema
    schema.set_session(None)


def item_named(panel: SchemaPanel, name: str):
    for index in range(panel.tree.topLevelItemCount()):
        group = panel.tree.topLevelItem(index)
        for child in (group.child(i) for i in range(group.childCount())):
            if child.data(0, OBJECT_ROLE).name == name:
                return child
    raise AssertionError(f"{name} is not in the tree")


def menu_entries(menu: QMenu) -> dict[str, tuple[bool, str]]:
    return {a.text(): (a.isEnabled(), a.toolTip()) for a in menu.actions() if a.text()}


def trigger(menu: QMenu, text: str) -> None:
    next(a for a in menu.actions() if a.text() == text).trigger()


def opened_dialog(qtbot, panel: SchemaPanel, kind: type):
    qtbot.waitUntil(lambda: isinstance(panel.structure.dialog, kind), timeout=5000)
    return panel.structure.dialog


def wait_for_plan(qtbot, dialog, text: str) -> None:
    qtbot.waitUntil(lambda: dialog.apply_button.isEnabled() and text in dialog.preview.toPlainText(), timeout=5000)


def test_create_table_dialog_makes_the_table_the_tree_shows_and_undo_removes_it(qtbot, panel: SchemaPanel) -> None:
    panel.structure.create_table_action.trigger()
    dialog = opened_dialog(qtbot, panel, TableDialog)
    dialog.name_edit.setText('Order "Lines"')
    row = dialog.add_row(None)
    dialog.grid.item(row, NAME).setText("line no")
    dialog.grid.cellWidget(row, TYPE).setCurrentText("INTEGER")
    dialog.grid.item(row, PK).setCheckState(Qt.CheckState.Checked)  # with id: a composite key
    dialog.strict_box.setChecked(True)
    wait_for_plan(qtbot, dialog, 'PRIMARY KEY (id, "line no")')
    assert dialog.preview.toPlainText().startswith('CREATE TABLE "Order ""Lines""" (')
    assert dialog.preview.toPlainText().rstrip().endswith(") STRICT;")
    assert "Undo puts it back" in dialog.notes.text()
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: 'Order "Lines"' in groups(panel)["Tables"], timeout=5000)
    assert not dialog.isVisible()
    assert panel.structure.undo_action.isEnabled()
    panel.structure.undo_action.trigger()
    qtbot.waitUntil(lambda: 'Order "Lines"' not in groups(panel)["Tables"], timeout=5000)
    assert not panel.structure.undo_action.isEnabled()


def test_errors_show_in_the_dialog_which_stays_open(qtbot, panel: SchemaPanel, rich_db: Path) -> None:
    panel.structure.create_table()
    dialog = opened_dialog(qtbot, panel, TableDialog)
    dialog.name_edit.setText("Readings")
    qtbot.waitUntil(lambda: "already a table named readings" in dialog.error.text(), timeout=5000)
    assert not dialog.apply_button.isEnabled()
    dialog.name_edit.setText("fresh")
    wait_for_plan(qtbot, dialog, "CREATE TABLE fresh")
    connection = connect_write(rich_db)  # another program changes the schema before Apply
    connection.execute("CREATE TABLE other(x)")
    connection.close()
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: "schema changed since" in dialog.error.text(), timeout=5000)
    assert dialog.isVisible()
    assert "fresh" not in groups(panel)["Tables"]
    qtbot.waitUntil(dialog.apply_button.isEnabled, timeout=5000)  # made again from the schema as it is now
    assert "schema changed since" in dialog.error.text()  # still in view until the next edit
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: "fresh" in groups(panel)["Tables"], timeout=5000)
    assert not dialog.isVisible()


def test_rename_from_the_context_menu_and_undo(qtbot, panel: SchemaPanel) -> None:
    trigger(panel.context_menu(item_named(panel, "audit")), "Rename…")
    rename = panel.structure.rename_dialog
    assert rename is not None and rename.textValue() == "audit"
    rename.setTextValue("audit trail")
    rename.accept()
    qtbot.waitUntil(lambda: "audit trail" in groups(panel)["Tables"], timeout=5000)
    assert "audit trail" in (item_named(panel, "readings_audit").data(0, OBJECT_ROLE).sql or "")  # the trigger follows
    panel.structure.undo()
    qtbot.waitUntil(lambda: "audit" in groups(panel)["Tables"], timeout=5000)
    trigger(panel.context_menu(item_named(panel, "audit")), "Rename…")
    assert panel.structure.rename_dialog is not None
    panel.structure.set_session(None)  # another file: a rename asked for this one goes with it
    assert panel.structure.rename_dialog is None


def test_modify_table_reorders_columns_with_a_confirmed_rebuild_and_the_view_still_works(qtbot, panel: SchemaPanel) -> None:
    menu = panel.context_menu(item_named(panel, "readings"))
    trigger(menu, "Modify Table…")
    dialog = opened_dialog(qtbot, panel, TableDialog)
    assert [dialog.grid.item(r, NAME).text() for r in range(dialog.grid.rowCount())] == ["id", "device", "value"]
    qtbot.waitUntil(lambda: "nothing to change yet" in dialog.notes.text(), timeout=5000)
    assert dialog.error.text() == "" and not dialog.apply_button.isEnabled()
    dialog.grid.setCurrentCell(2, NAME)
    dialog.findChild(type(dialog.apply_button), "moveUp").click()
    wait_for_plan(qtbot, dialog, "INSERT INTO new_readings (id, value, device) SELECT id, value, device FROM readings")
    assert "cannot be undone" in dialog.notes.text()
    scripted = panel.structure.dialogs
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: "value REAL,\n  device" in (item_named(panel, "readings").data(0, OBJECT_ROLE).sql or ""), timeout=5000)
    assert scripted.confirmations == ["Rebuild table readings"]
    session = panel._session
    assert resolve(qtbot, session.browse(lambda c: c.execute("SELECT count(*) FROM busy_devices").fetchall())) == [(7,)]
    assert {"readings_device", "readings_audit"} <= {name for kind in ("Indexes", "Triggers") for name in groups(panel)[kind]}


def test_create_index_and_drop_it_from_the_context_menu_then_undo(qtbot, panel: SchemaPanel) -> None:
    trigger(panel.context_menu(item_named(panel, "audit")), "Create Index…")
    dialog = opened_dialog(qtbot, panel, IndexDialog)
    assert dialog.table_box.currentText() == "audit"
    dialog.column_list.item(1).setCheckState(Qt.CheckState.Checked)
    dialog.where_edit.setText("what IS NOT NULL")
    wait_for_plan(qtbot, dialog, "CREATE INDEX idx_audit_what ON audit (what) WHERE what IS NOT NULL")
    dialog.apply_button.click()
    qtbot.waitUntil(lambda: "idx_audit_what" in groups(panel)["Indexes"], timeout=5000)

    trigger(panel.context_menu(item_named(panel, "idx_audit_what")), "Drop…")
    qtbot.waitUntil(lambda: "idx_audit_what" not in groups(panel)["Indexes"], timeout=5000)
    assert panel.structure.dialogs.confirmations == ["Drop index idx_audit_what"]
    panel.structure.undo()
    qtbot.waitUntil(lambda: "idx_audit_what" in groups(panel)["Indexes"], timeout=5000)


def test_copy_entries_put_the_sql_and_the_quoted_name_on_the_clipboard(qtbot, panel: SchemaPanel) -> None:
    menu = panel.context_menu(item_named(panel, "busy_devices"))
    assert menu_entries(menu)["Modify Table…"][0] is False  # a view
    trigger(menu, "Copy CREATE SQL")
    assert QGuiApplication.clipboard().text().startswith("CREATE VIEW busy_devices")
    trigger(menu, "Copy Name")
    assert QGuiApplication.clipboard().text() == "busy_devices"


def test_a_read_only_open_disables_every_change_and_says_why(qtbot, open_session, rich_db: Path) -> None:
    panel = make_panel(qtbot, open_session(rich_db, read_only=True))
    entries = menu_entries(panel.context_menu(item_named(panel, "readings")))
    for text in ("Rename…", "Modify Table…", "Create Index…", "Drop…"):
        enabled, tip = entries[text]
        assert not enabled and "open read-only" in tip
    assert entries["Browse"][0] and entries["Copy Name"][0]
    assert not panel.structure.create_table_action.isEnabled()
    panel.structure.create_table()  # asked anyway (a shortcut): refused with the reason, nothing opens
    assert "open read-only" in panel.structure.dialogs.errors[-1][1]
    assert panel.structure.dialog is None
    panel.set_session(None)


def test_the_window_has_a_structure_menu(window) -> None:
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles.index("&Structure") == titles.index("&View") - 1
    assert not window.schema.structure.create_table_action.isEnabled()  # no file open
    assert isinstance(window.schema.structure.dialogs, ScriptedDialogs)


def test_a_change_ending_after_its_dialog_and_file_are_gone_touches_neither(
    qtbot, panel: SchemaPanel, open_session, tmp_path: Path, monkeypatch
) -> None:
    """Another file opens while Create Table runs: the dialog is deleted, and the change's end neither reaches
    it nor leaves an undo entry that would run on the file now open."""
    import asyncio

    from desktop_app.core.database import create_database
    from desktop_app.ui import structure_actions

    gate: asyncio.Future = asyncio.get_running_loop().create_future()
    ran: list[asyncio.Task] = []

    async def slow_change(session, plan) -> None:
        await gate

    def spawn(coro):
        task = asyncio.ensure_future(coro)
        ran.append(task)
        return task

    monkeypatch.setattr(structure_actions, "change", slow_change)
    monkeypatch.setattr(structure_actions, "spawn", spawn)
    panel.structure.create_table()
    qtbot.waitUntil(lambda: ran and ran[-1].done(), timeout=5000)
    dialog = panel.structure.dialog
    assert isinstance(dialog, TableDialog)
    dialog.name_edit.setText("fresh")
    wait_for_plan(qtbot, dialog, "CREATE TABLE fresh")
    dialog.apply_button.click()
    running = ran[-1]
    gone: list[object] = []
    dialog.destroyed.connect(lambda *_: gone.append(True))
    other = tmp_path / "other.db"
    create_database(other).connect_write().close()
    panel.structure.set_session(open_session(other))
    qtbot.waitUntil(lambda: bool(gone), timeout=5000)
    gate.set_result(None)
    qtbot.waitUntil(running.done, timeout=5000)
    assert running.exception() is None
    assert panel.structure.history is not None and len(panel.structure.history) == 0
    assert not panel.structure.undo_action.isEnabled()


def test_moving_a_column_while_a_reference_cannot_be_read_keeps_the_grid_and_says_why(qtbot, panel: SchemaPanel) -> None:
    from desktop_app.ui.structure_dialogs import REFERENCES

    panel.structure.create_table()
    dialog = opened_dialog(qtbot, panel, TableDialog)
    dialog.name_edit.setText("fresh")
    row = dialog.add_row(None)
    dialog.grid.item(row, NAME).setText("parent_id")
    dialog.grid.item(row, REFERENCES).setText("(")  # not a reference yet: still being typed
    qtbot.waitUntil(lambda: "reference" in dialog.error.text(), timeout=5000)
    dialog.grid.setCurrentCell(row, NAME)
    dialog.move_row(-1)  # a button's slot: the error shows, nothing is raised to the excepthook
    assert [dialog.grid.item(r, NAME).text() for r in range(dialog.grid.rowCount())] == ["id", "parent_id"]
    assert dialog.grid.item(1, REFERENCES).text() == "("
    assert "reference" in dialog.error.text()
