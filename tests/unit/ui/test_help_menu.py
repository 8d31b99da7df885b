"""Help: the shortcuts in an aligned two-column table, and F1 saying why when the README cannot be opened."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget

from desktop_app.ui.main_window import MainWindow

pytestmark = pytest.mark.gui


def test_shortcuts_are_a_table_of_keys_and_actions(qtbot, window: MainWindow) -> None:
    dialog = window.show_shortcuts()
    qtbot.waitExposed(dialog)
    table = dialog.findChild(QTableWidget, "shortcutsTable")
    assert table.columnCount() == 2
    assert [table.horizontalHeaderItem(c).text() for c in range(2)] == ["Keys", "Action"]
    assert table.rowCount() == len(window.shortcut_list()) > 5
    for row in range(table.rowCount()):
        keys, action = table.item(row, 0).text(), table.item(row, 1).text()
        assert keys and action and "\t" not in keys + action
        assert not table.item(row, 0).flags() & Qt.ItemFlag.ItemIsEditable
    assert ("Ctrl+Q", "Quit") in dialog.rows()
    # Aligned: every action starts at the same x, whatever the width of the keys before it.
    assert len({table.visualRect(table.model().index(row, 1)).left() for row in range(table.rowCount())}) == 1
    dialog.close()


def test_f1_says_why_when_the_readme_is_missing(qtbot, window: MainWindow, scripted, tmp_path: Path) -> None:
    window.readme_file = tmp_path / "bundle" / "README.md"
    assert window.readme_action.shortcut().toString() == "F1"
    window.readme_action.trigger()
    title, text = scripted.errors[-1]
    assert title == "No README" and str(window.readme_file) in text and "missing" in text
    assert window.statusBar().currentMessage().startswith("Cannot open the README: The README is missing")
