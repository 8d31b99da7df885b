from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QProgressDialog, QPushButton, QWidget

from desktop_app.core.errors import NotADatabase
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.excepthook import install_excepthook

pytestmark = pytest.mark.gui


@pytest.fixture
def parent(qtbot) -> QWidget:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def open_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]


def test_error_box_opens_without_blocking_and_closes(qtbot, parent: QWidget) -> None:
    dialogs = Dialogs(parent)
    dialogs.show_error("Cannot open x.db", "x.db is not a SQLite database.", "details")
    box = next(w for w in parent.findChildren(QMessageBox))  # we got here: open() did not block
    assert box.isVisible()
    assert box.text() == "x.db is not a SQLite database."
    assert box.detailedText() == "details"
    box.accept()
    qtbot.waitUntil(lambda: not parent.findChildren(QMessageBox), timeout=2000)  # deleted on close


def test_confirm_calls_back_only_on_accept(qtbot, parent: QWidget) -> None:
    dialogs = Dialogs(parent)
    answers: list[str] = []
    dialogs.confirm("VACUUM", "Run it?", lambda: answers.append("yes"), accept_label="Run VACUUM")
    box = parent.findChildren(QMessageBox)[0]
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert answers == []
    dialogs.confirm("VACUUM", "Run it?", lambda: answers.append("yes"), accept_label="Run VACUUM")
    box = [b for b in parent.findChildren(QMessageBox) if b.isVisible()][0]
    accept = next(button for button in box.buttons() if button.text() == "Run VACUUM")
    accept.click()
    assert answers == ["yes"]


def test_file_dialog_reports_the_chosen_path(qtbot, parent: QWidget, tmp_path: Path) -> None:
    dialogs = Dialogs(parent)
    chosen: list[Path] = []
    dialogs.ask_save_path("Back up to…", chosen.append, suggested=str(tmp_path / "b.db"))
    dialog = parent.findChildren(QFileDialog)[0]
    assert dialog.isVisible()
    dialog.fileSelected.emit(str(tmp_path / "b.db"))
    dialog.reject()
    assert chosen == [tmp_path / "b.db"]


def test_progress_dialog_cancel_calls_back(qtbot, parent: QWidget) -> None:
    dialogs = Dialogs(parent)
    cancelled: list[bool] = []
    progress = dialogs.progress("Backup", "Backing up…", lambda: cancelled.append(True))
    progress.update(5, 10)
    dialog = parent.findChildren(QProgressDialog)[0]
    assert dialog.value() == 5 and dialog.maximum() == 10
    cancel_button = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
    cancel_button.click()
    assert cancelled == [True]
    progress.close()


def test_scripted_dialogs_answer_from_the_script(tmp_path: Path) -> None:
    scripted = ScriptedDialogs()
    scripted.paths.append(tmp_path / "a.db")
    got: list[Path] = []
    scripted.ask_open_path("Open", got.append)
    scripted.ask_open_path("Open", got.append)  # nothing scripted: like pressing Cancel
    assert got == [tmp_path / "a.db"]
    scripted.show_error("t", "m")
    assert scripted.errors == [("t", "m")]


def test_excepthook_shows_bugs_and_user_errors_in_a_dialog(capsys) -> None:
    shown: list[tuple[str, str, str | None]] = []
    original = sys.excepthook
    restore = install_excepthook(lambda title, text, detail: shown.append((title, text, detail)))
    try:
        try:
            raise ValueError("boom")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
        error = NotADatabase("x.db is not a SQLite database.")
        sys.excepthook(NotADatabase, error, None)
    finally:
        restore()
    assert shown[0][0] == "Unexpected error" and "ValueError: boom" in shown[0][1]
    assert "Traceback" in shown[0][2]
    assert shown[1] == ("SQLite Pulse", "x.db is not a SQLite database.", None)
    assert "ValueError: boom" in capsys.readouterr().err
    assert sys.excepthook is original
