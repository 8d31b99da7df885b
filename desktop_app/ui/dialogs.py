"""Every question and message the window puts to the user, without nested event loops.

Dialogs are opened with `open()`/`show()` and answer through callbacks, so nothing runs `exec()` inside the
qasync loop. `ScriptedDialogs` answers from a script and records what would have been shown: the self-test
and the tests use it, so no window ever waits for a click.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QWidget,
)

from desktop_app.ui.widgets.job_bar import OneJob

DB_FILTER = "SQLite databases (*.db *.sqlite *.sqlite3 *.db3);;All files (*)"


class Progress:
    """A progress display for a long job; `update` and `close` are called on the GUI thread."""

    def update(self, done: int, total: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class Dialogs:
    """Real Qt dialogs, all window-modal and non-blocking."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent
        self._open: list[QWidget] = []  # keeps Python wrappers alive while a dialog is shown

    def _keep(self, dialog: QWidget) -> None:
        self._open.append(dialog)
        dialog.destroyed.connect(lambda *_: self._open.remove(dialog) if dialog in self._open else None)

    def _message(self, icon: QMessageBox.Icon, title: str, text: str, detail: str | None = None) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self.parent)
        box.setObjectName("pulseMessage")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        if detail:
            box.setDetailedText(detail)
        self._keep(box)
        box.open()
        return box

    def show_error(self, title: str, text: str, detail: str | None = None) -> None:
        self._message(QMessageBox.Icon.Warning, title, text, detail)

    def show_info(self, title: str, text: str) -> None:
        self._message(QMessageBox.Icon.Information, title, text)

    def confirm(self, title: str, text: str, on_yes: Callable[[], object], *, accept_label: str = "OK") -> None:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, self.parent)
        accept = box.addButton(accept_label, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: on_yes() if box.clickedButton() is accept else None)
        self._keep(box)
        box.open()

    def ask_text(self, title: str, label: str, on_chosen: Callable[[str], object], *, text: str = "") -> None:
        """A line of text (a name); `on_chosen(text)` only when the user accepts with something typed."""
        dialog = QInputDialog(self.parent)
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setTextValue(text)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.textValueSelected.connect(lambda value: on_chosen(value) if value.strip() else None)
        self._keep(dialog)
        dialog.open()

    def ask_open_path(self, title: str, on_chosen: Callable[[Path], object], *, file_filter: str = DB_FILTER) -> None:
        dialog = QFileDialog(self.parent, title, "", file_filter)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        self._open_file_dialog(dialog, on_chosen)

    def ask_save_path(
        self, title: str, on_chosen: Callable[[Path], object], *, suggested: str = "", file_filter: str = DB_FILTER
    ) -> None:
        dialog = QFileDialog(self.parent, title, suggested, file_filter)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self._open_file_dialog(dialog, on_chosen)

    def _open_file_dialog(self, dialog: QFileDialog, on_chosen: Callable[[Path], object]) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: on_chosen(Path(name)) if name else None)
        self._keep(dialog)
        dialog.open()

    def progress(self, title: str, label: str, on_cancel: Callable[[], None]) -> Progress:
        return _QtProgress(self.parent, title, label, on_cancel)


class _QtProgress(Progress):
    def __init__(self, parent: QWidget, title: str, label: str, on_cancel: Callable[[], None]) -> None:
        self.dialog = QProgressDialog(label, "Cancel", 0, 0, parent)
        self.dialog.setObjectName("pulseProgress")
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(300)  # quick jobs finish before a dialog flashes up
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(on_cancel)
        self.dialog.setValue(0)

    def update(self, done: int, total: int) -> None:
        if total > 0:
            self.dialog.setMaximum(total)
            self.dialog.setValue(min(done, total))

    def close(self) -> None:
        self.dialog.canceled.disconnect()
        self.dialog.close()
        self.dialog.deleteLater()


class JobDialog(OneJob, QDialog):
    """A dialog that runs one job at a time (`job` while it runs) and says how it goes in `status`: its Cancel
    button cancels the job, or closes the dialog when none is running."""

    status: QLabel

    def cancel(self) -> None:
        if not self.cancel_job(self.status, "Cancelling…"):
            self.reject()


@dataclass
class ScriptedDialogs:
    """Answers from a script, shows nothing, remembers everything (the self-test and the tests use it)."""

    paths: deque[Path] = field(default_factory=deque)  # answers to ask_open_path / ask_save_path, in order
    texts: deque[str] = field(default_factory=deque)  # answers to ask_text, in order
    questions: list[str] = field(default_factory=list)  # titles of ask_text
    confirm_answer: bool = True
    cancel_progress: bool = False  # press Cancel as soon as a progress display appears
    errors: list[tuple[str, str]] = field(default_factory=list)
    infos: list[tuple[str, str]] = field(default_factory=list)
    confirmations: list[str] = field(default_factory=list)
    progress_updates: list[tuple[int, int]] = field(default_factory=list)

    def show_error(self, title: str, text: str, detail: str | None = None) -> None:
        self.errors.append((title, text))

    def show_info(self, title: str, text: str) -> None:
        self.infos.append((title, text))

    def confirm(self, title: str, text: str, on_yes: Callable[[], object], *, accept_label: str = "OK") -> None:
        self.confirmations.append(title)
        if self.confirm_answer:
            on_yes()

    def ask_text(self, title: str, label: str, on_chosen: Callable[[str], object], *, text: str = "") -> None:
        self.questions.append(title)
        if self.texts:
            on_chosen(self.texts.popleft())

    def ask_open_path(self, title: str, on_chosen: Callable[[Path], object], *, file_filter: str = DB_FILTER) -> None:
        if self.paths:
            on_chosen(self.paths.popleft())

    def ask_save_path(
        self, title: str, on_chosen: Callable[[Path], object], *, suggested: str = "", file_filter: str = DB_FILTER
    ) -> None:
        if self.paths:
            on_chosen(self.paths.popleft())

    def progress(self, title: str, label: str, on_cancel: Callable[[], None]) -> Progress:
        if self.cancel_progress:
            on_cancel()
        return _RecordedProgress(self)


class _RecordedProgress(Progress):
    def __init__(self, owner: ScriptedDialogs) -> None:
        self.owner = owner
        self.closed = False

    def update(self, done: int, total: int) -> None:
        self.owner.progress_updates.append((done, total))

    def close(self) -> None:
        self.closed = True
