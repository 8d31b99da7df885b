"""A cell to a file and back: "Export cell to file…" (a BLOB's exact bytes, text as UTF-8) and, with Allow
edits on, "Replace from file…" (the file's bytes as a BLOB, through the grid's edit path: one transaction,
Ctrl+Z undoes).

Files are read and written on a thread of the loop's executor, never on the GUI thread. A file over
`MAX_VALUE_BYTES` (the longest value the app's connections take) is refused before it is read, and the
open database's own files are never chosen: opening and closing them here would drop SQLite's locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from desktop_app.core.errors import MAX_VALUE_BYTES, PulseError
from desktop_app.core.sql_files import read_bounded, refuse_database_files
from desktop_app.ui.aio import spawn

if TYPE_CHECKING:
    from PySide6.QtWidgets import QLabel, QTableView

    from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
    from desktop_app.ui.models.table_model import TableModel
    from desktop_app.ui.table_edit import TableEditor

ALL_FILES = "All files (*)"


class CellFileError(PulseError):
    """A cell cannot be written to, or read from, this file; the message says why."""


class CellGrid(Protocol):
    """What this needs of the data view (which is one)."""

    @property
    def view(self) -> QTableView: ...

    model: TableModel | None
    editing: TableEditor


def cell_bytes(value: object) -> bytes:
    """What "Export cell" writes: a BLOB as it is, anything else as its text in UTF-8 (NULL: nothing)."""
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    return (repr(value) if isinstance(value, float) else str(value)).encode("utf-8")


NOT_A_DATABASE_FILE = "{name} is a file of the open database: choose another file."


def write_file(path: Path, data: bytes) -> int:
    path.write_bytes(data)
    return len(data)


def read_file(path: Path, limit: int = MAX_VALUE_BYTES) -> bytes:
    """The file's bytes, refused (before reading) when it is larger than `limit`."""
    return read_bounded(
        path, limit,
        lambda size: f"{path.name} is {size:,} bytes; a cell holds at most {limit:,} bytes ({limit >> 20} MiB) here.",
        CellFileError,
    )


class CellFiles(QObject):
    def __init__(self, grid: CellGrid, dialogs: Callable[[], Dialogs | ScriptedDialogs], message: QLabel) -> None:
        super().__init__(grid.view)
        self.grid = grid
        self._dialogs = dialogs
        self.message = message
        self.export_action = QAction("Export cell to file…", grid.view)
        self.export_action.triggered.connect(lambda _checked=False: self.export_current())
        self.replace_action = QAction("Replace from file…", grid.view)
        self.replace_action.triggered.connect(lambda _checked=False: self.replace_current())

    def actions(self) -> list[QAction]:
        """For the grid's context menu: export any cell; replace only where the grid may be edited."""
        has_cell = self.grid.model is not None and self.grid.view.currentIndex().isValid()
        self.export_action.setEnabled(has_cell)
        self.replace_action.setEnabled(has_cell and self.grid.editing.editable)
        self.replace_action.setToolTip(self.grid.editing.reason() or "Set this cell to a file's bytes (a BLOB)")
        return [self.export_action, self.replace_action]

    def export_current(self) -> None:
        model, index = self.grid.model, self.grid.view.currentIndex()
        if model is None or not index.isValid():
            return
        value, column = model.value(index.row(), index.column()), model.columns[index.column()]
        suggested = f"{model.table}-{column}.{'bin' if isinstance(value, bytes) else 'txt'}"
        self._dialogs().ask_save_path(
            f"Export {column} to a file…", lambda path: self.export_to(path, value, model.session.path),
            suggested=suggested, file_filter=ALL_FILES,
        )

    def export_to(self, path: Path, value: object, database: Path) -> asyncio.Task:
        return spawn(self._export(path, cell_bytes(value), database))

    async def _export(self, path: Path, data: bytes, database: Path) -> None:
        try:
            refuse_database_files(path, database, NOT_A_DATABASE_FILE)
            written = await asyncio.get_running_loop().run_in_executor(None, write_file, path, data)
        except PulseError as error:
            self._say(f"⚠ {error}")
            return
        except OSError as exc:
            self._say(f"⚠ Cannot write {path}: {exc.strerror or exc}.")
            return
        self._say(f"Wrote {written:,} bytes to {path}.")

    def replace_current(self) -> None:
        model, index = self.grid.model, self.grid.view.currentIndex()
        if model is None or not index.isValid():
            return
        why = self.grid.editing.reason()
        if why:
            self._say(why)
            return
        key = model.row_key(index.row())
        if key is None:
            return
        column, old = model.columns[index.column()], model.value(index.row(), index.column())
        self._dialogs().ask_open_path(
            f"Replace {column} with a file's bytes…",
            lambda path: self.replace_from(path, key, column, old), file_filter=ALL_FILES,
        )

    def replace_from(self, path: Path, key: tuple, column: str, old: object) -> asyncio.Task:
        """Set `column` of the row `key` (which held `old`) to the bytes of `path`."""
        return spawn(self._replace(path, key, column, old))

    async def _replace(self, path: Path, key: tuple, column: str, old: object) -> None:
        model = self.grid.model
        if model is None:
            return
        try:
            refuse_database_files(path, model.session.path, NOT_A_DATABASE_FILE)
            data = await asyncio.get_running_loop().run_in_executor(None, read_file, path)
        except PulseError as error:  # CellFileError, or one of the database's own files
            self._say(f"⚠ {error}")
            return
        if model is self.grid.model:  # still the same table: the edit path writes it (undoable)
            self.grid.editing.replace_value(key, column, old, data)

    def _say(self, text: str) -> None:
        self.message.setText(text)
