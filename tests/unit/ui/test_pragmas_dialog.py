"""Tools ▸ Pragmas… on a real file: a stored pragma changed on the write connection, refused read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QLineEdit

from desktop_app.core.database import connect_read
from desktop_app.core.errors import DatabaseReadOnly
from desktop_app.core.pragmas import set_value
from desktop_app.ui.panels.pragmas import PragmasDialog

from .conftest import open_in, resolve

pytestmark = pytest.mark.gui


def user_version(path: Path) -> int:
    connection = connect_read(path)
    try:
        return int(connection.execute("PRAGMA user_version").fetchall()[0][0])
    finally:
        connection.close()


def opened(qtbot, workspace, path: Path, *, read_only: bool) -> PragmasDialog:
    resolve(qtbot, workspace.open(path, read_only=read_only))
    dialog = PragmasDialog(workspace)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: "user_version" in dialog.values, timeout=5000)
    return dialog


def test_user_version_is_changed_and_kept(qtbot, workspace, db_path: Path) -> None:
    dialog = opened(qtbot, workspace, db_path, read_only=False)
    editor = dialog.editors["user_version"]
    assert isinstance(editor, QLineEdit) and editor.isEnabled() and editor.text() == "0"
    assert "per connection" in [dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())]
    editor.setText("31337")
    assert dialog.changes() == {"user_version": "31337"}
    with qtbot.waitSignal(dialog.applied, timeout=5000) as blocker:
        dialog.apply_button.click()
    assert blocker.args[0] == [("user_version", "user_version is now 31337.")]
    assert user_version(db_path) == 31337  # in the file, for every connection
    qtbot.waitUntil(lambda: dialog.values.get("user_version") == "31337", timeout=5000)
    editor = dialog.editors["user_version"]
    assert isinstance(editor, QLineEdit)
    editor.setText("not a number")
    with qtbot.waitSignal(dialog.applied, timeout=5000) as blocker:
        dialog.apply_changes()
    assert "whole number" in blocker.args[0][0][1] and user_version(db_path) == 31337


def test_a_read_only_open_changes_nothing(qtbot, workspace, db_path: Path) -> None:
    dialog = opened(qtbot, workspace, db_path, read_only=True)
    assert not dialog.editors["user_version"].isEnabled() and not dialog.apply_button.isEnabled()
    assert "read-only" in dialog.note.text()
    with pytest.raises(DatabaseReadOnly):
        resolve(qtbot, workspace.session.write(lambda c: set_value(c, "user_version", "5")))
    assert user_version(db_path) == 0


def test_closing_the_window_while_it_reads_is_quiet(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    dialog = window.show_pragmas()  # Tools ▸ Pragmas…: reading starts at once
    assert window.pragmas_action.isEnabled()
    gone: list[bool] = []
    dialog.destroyed.connect(lambda *_: gone.append(True))
    dialog.close()
    qtbot.waitUntil(lambda: bool(gone), timeout=5000)
    resolve(qtbot, window.session.browse(lambda c: None))  # the read queued before it has come back
