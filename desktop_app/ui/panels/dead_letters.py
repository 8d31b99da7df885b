"""Dead letters: the open file's `pulse_dead_letters`, filtered, with each letter's raw bytes, and the actions
of core/dead_letters.py (replay, resolve with a note, purge resolved).

Reads run on the session's browse thread (one short statement each); every write goes through the session's
one write connection (`session.write`), awaited on the loop. A file made before the status and note columns
existed is shown as it is (every letter open) and migrated only by the first write, after a confirmation.
The list reloads when another process commits (an ingest adding letters) and after each action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import apsw
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import dead_letters as dl
from desktop_app.core.errors import PulseError
from desktop_app.core.session import Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.panels import follow_workspace

T = TypeVar("T")
HEADERS = ("ID", "Received", "Table", "Reason", "Status", "Size")
STATUS_CHOICES = ("open", "All", "replayed", "resolved")  # open first: what still needs doing
PAGE = 500  # letters listed at most (the newest); narrow the filter for older ones
ID_ROLE = Qt.ItemDataRole.UserRole


class DeadLettersPanel(QWidget):
    loaded = Signal(object)  # list[Letter]
    shown = Signal(object)  # Letter (with raw)
    replayed = Signal(object)  # ReplayResult
    resolved = Signal(int)
    purged = Signal(int)
    failed = Signal(object)  # PulseError

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        workspace: Workspace | None = None,
        dialogs: Dialogs | ScriptedDialogs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("deadLetters")
        self.dialogs: Dialogs | ScriptedDialogs = dialogs if dialogs is not None else Dialogs(self)
        self._session: Session | None = None
        # A load or show answered for an older request (or file) is dropped; counted apart, so a click on a
        # letter does not drop the list being loaded.
        self._generation = 0
        self._shown_generation = 0
        self._busy = False
        self.letters: list[dl.Letter] = []
        self.has_table = False
        self.needs_migration = False
        self.current: dl.Letter | None = None

        self.reason_edit = QLineEdit()
        self.reason_edit.setObjectName("deadLettersReason")
        self.reason_edit.setPlaceholderText("Reason contains…")
        self.reason_edit.setClearButtonEnabled(True)
        self.reason_edit.returnPressed.connect(self.reload)
        self.status_box = QComboBox()
        self.status_box.setObjectName("deadLettersStatus")
        self.status_box.addItems(STATUS_CHOICES)
        self.status_box.currentIndexChanged.connect(lambda _index: self.reload())
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)

        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("deadLettersTable")
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.raw_view = QPlainTextEdit()
        self.raw_view.setObjectName("deadLettersRaw")
        self.raw_view.setReadOnly(True)
        self.raw_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.raw_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        self.note_edit = QLineEdit()
        self.note_edit.setObjectName("deadLettersNote")
        self.note_edit.setPlaceholderText("Note for Resolve: what was done about them")
        self.replay_button = QPushButton("Replay selected…")
        self.replay_button.setToolTip("Run the selected open letters through the mapping again, into their tables "
                                      "as they are now (after you fixed a column type or the mapping)")
        self.replay_button.clicked.connect(self.replay_selected)
        self.resolve_button = QPushButton("Resolve selected…")
        self.resolve_button.clicked.connect(self.resolve_selected)
        self.purge_button = QPushButton("Purge resolved…")
        self.purge_button.clicked.connect(self.purge_resolved)
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)

        filters = QHBoxLayout()
        filters.addWidget(QLabel("Status"))
        filters.addWidget(self.status_box)
        filters.addWidget(self.reason_edit, 1)
        filters.addWidget(self.refresh_button)
        actions = QHBoxLayout()
        actions.addWidget(self.replay_button)
        actions.addWidget(self.note_edit, 1)
        actions.addWidget(self.resolve_button)
        actions.addWidget(self.purge_button)

        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.detail_label)
        details_layout.addWidget(self.raw_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(filters)
        layout.addWidget(self.summary_label)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)
        layout.addWidget(self.notice_label)

        self.set_session(None)
        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            follow_workspace(self, workspace, self.set_session, self._let_go)

    # Session ----------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        if self._session is not None:
            self._session.events.data_changed.disconnect(self._on_data_changed)
        self._session = session
        self._generation += 1
        self._busy = False
        self.notice_label.clear()
        self._show_letters([], has_table=False, needs_migration=False)
        if session is None:
            self.summary_label.setText("Open a database an ingest writes to, to see its dead letters.")
            return
        session.events.data_changed.connect(self._on_data_changed)
        self.reload()

    def _let_go(self) -> None:
        if self._session is not None:
            self._session.events.data_changed.disconnect(self._on_data_changed)
        self._session = None
        self._generation += 1
        self._shown_generation += 1

    def _on_data_changed(self, _sample: object) -> None:
        if not self._busy:
            self.reload()

    # Reading ----------------------------------------------------------------------------------------------
    def letter_filter(self) -> dl.LetterFilter:
        status = self.status_box.currentText()
        return dl.LetterFilter(reason=self.reason_edit.text().strip() or None,
                               status=None if status == "All" else status)

    def reload(self) -> asyncio.Task | None:
        session = self._session
        if session is None or session.closed:
            return None
        self._generation += 1
        return spawn(self._load(session, self._generation, self.letter_filter()))

    async def _load(self, session: Session, generation: int, flt: dl.LetterFilter) -> None:
        def read(connection: apsw.Connection) -> tuple[bool, list[dl.Letter], bool]:
            if not dl.has_table(connection):
                return False, [], False
            return True, dl.list_letters(connection, flt, limit=PAGE), bool(dl.missing_columns(connection))

        try:
            has_table, letters, needs_migration = await session.browse(read)
        except PulseError as error:
            if generation == self._generation:
                self.summary_label.setText(f"⚠ {error}")
                self.failed.emit(error)
            return
        if generation != self._generation or session is not self._session:
            return
        self._show_letters(letters, has_table=has_table, needs_migration=needs_migration)
        self.loaded.emit(letters)

    def _show_letters(self, letters: list[dl.Letter], *, has_table: bool, needs_migration: bool) -> None:
        selected = set(self.selected_ids())
        self.letters, self.has_table, self.needs_migration = letters, has_table, needs_migration
        self.table.setRowCount(len(letters))
        for row, letter in enumerate(letters):
            cells = (str(letter.id), dl.iso_time(letter.received_at), letter.target_table, letter.reason,
                     letter.status, f"{letter.size:,}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(ID_ROLE, letter.id)
                if column in (0, 5):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if column == 3:
                    item.setToolTip(letter.reason)
                self.table.setItem(row, column, item)
        self.table.clearSelection()
        for row, letter in enumerate(letters):  # keep what the user had selected across a reload
            if letter.id in selected:
                self._add_row_to_selection(row)
        if self._session is not None:
            self.summary_label.setText(self._summary())
        self._update_buttons()

    def _add_row_to_selection(self, row: int) -> None:
        model = self.table.selectionModel()
        flags = model.SelectionFlag.Select | model.SelectionFlag.Rows
        model.select(self.table.model().index(row, 0), flags)

    def _summary(self) -> str:
        if not self.has_table:
            return "This file has no dead letters: no ingest has refused a message into it."
        count = len(self.letters)
        text = f"{count:,} letter{'s' * (count != 1)}" if count < PAGE else f"The newest {PAGE:,} letters"
        if self.needs_migration:
            text += " (a file from an older version: every letter reads as open until the first action)"
        return text + "."

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.letters[row].id for row in rows if row < len(self.letters)]

    def select_ids(self, ids: list[int]) -> None:
        """Select these letters (the tests and the self-test use it)."""
        self.table.clearSelection()
        for row, letter in enumerate(self.letters):
            if letter.id in ids:
                self._add_row_to_selection(row)

    def _selection_changed(self) -> None:
        self._update_buttons()
        ids = self.selected_ids()
        session = self._session
        if len(ids) != 1 or session is None or session.closed:
            self.current = None
            self.detail_label.setText(f"{len(ids):,} letters selected." if ids else "")
            self.raw_view.clear()
            return
        self._shown_generation += 1
        spawn(self._show(session, self._shown_generation, ids[0]))

    async def _show(self, session: Session, generation: int, letter_id: int) -> None:
        try:
            letter = await session.browse(lambda connection: dl.show(connection, letter_id))
        except PulseError as error:
            if generation == self._shown_generation:
                self.detail_label.setText(f"⚠ {error}")
            return
        if generation != self._shown_generation or session is not self._session:
            return
        self.current = letter
        kind, shown = dl.render_raw(letter.raw or b"")
        what = "UTF-8 text" if kind == "text" else "not UTF-8, shown as a hex dump"
        note = f" · note: {letter.note}" if letter.note else ""
        self.detail_label.setText(f"Letter {letter.id} for {letter.target_table} · {letter.status}{note}\n"
                                  f"{letter.reason}\nRaw: {letter.size:,} bytes, {what}")
        self.raw_view.setPlainText(shown)
        self.shown.emit(letter)

    # Writing ----------------------------------------------------------------------------------------------
    def _can_write(self) -> bool:
        session = self._session
        return session is not None and not session.closed and not session.read_only and self.has_table

    def _update_buttons(self) -> None:
        writable = self._can_write() and not self._busy
        selected = bool(self.selected_ids())
        self.replay_button.setEnabled(writable and selected)
        self.resolve_button.setEnabled(writable and selected)
        self.purge_button.setEnabled(writable)
        session = self._session
        tip = "Reopen the file read-write to act on its letters." if session is not None and session.read_only else ""
        for button in (self.replay_button, self.resolve_button, self.purge_button):
            button.setStatusTip(tip)

    def _migration_text(self) -> str:
        if not self.needs_migration:
            return ""
        return (f"\n\nFirst, status, note and resolved_at columns are added to {dl.DEAD_LETTER_TABLE} "
                "in this file (in place: no letter is rewritten or lost).")

    def replay_selected(self) -> None:
        ids = self.selected_ids()
        session = self._session
        if not ids or session is None or not self._can_write() or self._busy:
            return
        self.dialogs.confirm(
            "Replay dead letters",
            f"Replay {len(ids):,} letter{'s' * (len(ids) != 1)} of {session.path.name} through the mapping, into "
            "their tables as they are now? Each open letter becomes a row (and is marked replayed) or stays a dead "
            f"letter with its new reason.{self._migration_text()}",
            lambda: self._write(session, lambda c: dl.replay(c, dl.LetterFilter(ids=tuple(ids))), self._replayed),
            accept_label="Replay",
        )

    def resolve_selected(self) -> None:
        ids = self.selected_ids()
        session = self._session
        if not ids or session is None or not self._can_write() or self._busy:
            return
        note = self.note_edit.text().strip()
        if not note:
            self.dialogs.show_error("Resolve dead letters", "Type a note first: what was done about these letters.")
            self.note_edit.setFocus()
            return

        def resolve() -> None:
            self._write(session, lambda c: dl.resolve(c, dl.LetterFilter(ids=tuple(ids)), note), self._resolved)

        if self.needs_migration:
            self.dialogs.confirm("Resolve dead letters", f"Resolve {len(ids):,} letters?{self._migration_text()}",
                                 resolve, accept_label="Resolve")
        else:
            resolve()

    def purge_resolved(self) -> None:
        session = self._session
        if session is None or not self._can_write() or self._busy:
            return
        self.dialogs.confirm(
            "Purge resolved dead letters",
            f"Delete every resolved dead letter from {session.path.name}? Open and replayed letters stay."
            f"{self._migration_text()}",
            lambda: self._write(session, dl.purge, self._purged),
            accept_label="Delete",
        )

    def _write(self, session: Session, work: Callable[[apsw.Connection], T], done: Callable[[T], None]) -> None:
        if session is not self._session or self._busy:
            return
        self._busy = True
        self._update_buttons()
        spawn(self._run_write(session, work, done))

    async def _run_write(self, session: Session, work: Callable[[apsw.Connection], Any],
                         done: Callable[[Any], None]) -> None:
        def migrated_then(connection: apsw.Connection) -> Any:
            if dl.missing_columns(connection):  # asked for above, with the action
                dl.migrate(connection)
            return work(connection)

        try:
            result = await session.write(migrated_then)
        except PulseError as error:
            if session is self._session:
                self._busy = False
                self._update_buttons()
                self.dialogs.show_error("Dead letters", str(error))
                self.failed.emit(error)
            return
        if session is not self._session:
            return
        self._busy = False
        done(result)
        self.reload()

    def _replayed(self, result: dl.ReplayResult) -> None:
        text = f"Replayed {result.selected:,}: {result.written:,} written as rows, {result.still_dead:,} still dead"
        if result.failures:
            text += " (" + ", ".join(f"{count} {reason}" for reason, count in result.reasons().most_common(3)) + ")"
        if result.not_open:
            text += f"; {len(result.not_open):,} were no longer open and were left alone"
        self.notice_label.setText(text + ".")
        self.replayed.emit(result)

    def _resolved(self, count: int) -> None:
        self.notice_label.setText(f"Resolved {count:,} letter{'s' * (count != 1)}.")
        self.note_edit.clear()
        self.resolved.emit(count)

    def _purged(self, count: int) -> None:
        self.notice_label.setText(f"Deleted {count:,} resolved letter{'s' * (count != 1)}.")
        self.purged.emit(count)
