"""A cell to a file and back, on a real file: exact bytes out, a file's bytes in as an undoable edit."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_app.core.database import connect_write
from desktop_app.ui.cell_files import CellFileError, read_file
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.data_view import DataView
from tests.conftest import write_database

pytestmark = pytest.mark.gui
PAYLOAD = bytes(range(256)) * 400 + b"\x00\xff end"


@pytest.fixture
def blob_db(tmp_path: Path) -> Path:
    path = tmp_path / "blobs.db"
    return write_database(path, "CREATE TABLE files(id INTEGER PRIMARY KEY, name TEXT, data BLOB);"
                                "INSERT INTO files VALUES (1, 'héllo wörld', ?), (2, 'two', x'00')", (PAYLOAD,))


@pytest.fixture
def grid(qtbot, data_view, blob_db: Path) -> DataView:
    view = data_view(blob_db)
    view.open_table("files")
    qtbot.waitUntil(lambda: view.model is not None and view.model.rowCount() == 2 and not view.model.fetching, timeout=5000)
    return view


def stored(blob_db: Path, row_id: int) -> object:
    connection = connect_write(blob_db)
    try:
        return connection.execute("SELECT data FROM files WHERE id = ?", (row_id,)).fetchall()[0][0]
    finally:
        connection.close()


def test_export_writes_a_blob_exactly_and_text_as_utf8(qtbot, grid: DataView, scripted: ScriptedDialogs, tmp_path: Path) -> None:
    out_blob, out_text = tmp_path / "cell.bin", tmp_path / "cell.txt"
    scripted.paths.extend([out_blob, out_text])
    grid.view.setCurrentIndex(grid.model.index(0, 2))
    assert [a.isEnabled() for a in grid.cell_files.actions()] == [True, False]  # replace needs Allow edits
    grid.cell_files.export_action.trigger()
    qtbot.waitUntil(lambda: "Wrote" in grid.editing.message.text(), timeout=5000)
    assert out_blob.read_bytes() == PAYLOAD
    grid.view.setCurrentIndex(grid.model.index(0, 1))
    grid.cell_files.export_current()
    qtbot.waitUntil(lambda: out_text.exists() and out_text.read_bytes() == "héllo wörld".encode(), timeout=5000)


def test_export_refuses_the_database_own_files(qtbot, grid: DataView, scripted: ScriptedDialogs, blob_db: Path) -> None:
    wal = Path(f"{blob_db}-wal")

    def state() -> tuple[int, int] | None:  # the -wal the export was pointed at: written, it would change
        return (wal.stat().st_size, wal.stat().st_mtime_ns) if wal.exists() else None

    before = state()
    scripted.paths.append(wal)
    grid.view.setCurrentIndex(grid.model.index(0, 2))
    grid.cell_files.export_current()
    qtbot.waitUntil(lambda: "file of the open database" in grid.editing.message.text(), timeout=5000)
    assert state() == before


def test_replace_from_file_is_an_undoable_edit(qtbot, grid: DataView, scripted: ScriptedDialogs, blob_db: Path, tmp_path: Path) -> None:
    source = tmp_path / "new.bin"
    source.write_bytes(b"\x01\x02 new bytes \x00")
    grid.view.setCurrentIndex(grid.model.index(1, 2))
    scripted.paths.append(source)
    grid.cell_files.replace_current()  # Allow edits is off: refused, with the reason
    assert "Allow edits" in grid.editing.message.text() and scripted.paths
    assert stored(blob_db, 2) == b"\x00"
    grid.editing.allow_box.setChecked(True)
    assert all(a.isEnabled() for a in grid.cell_files.actions())
    grid.cell_files.replace_action.trigger()
    qtbot.waitUntil(lambda: stored(blob_db, 2) == source.read_bytes(), timeout=5000)
    qtbot.waitUntil(lambda: grid.model.value(1, 2) == source.read_bytes(), timeout=5000)
    assert grid.model.data(grid.model.index(1, 2), Qt.ItemDataRole.DisplayRole).startswith("BLOB 14 bytes")
    grid.editing.undo()
    qtbot.waitUntil(lambda: stored(blob_db, 2) == b"\x00", timeout=5000)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(CellFileError, match="at most 1,024 bytes"):
        read_file(big, limit=1024)
    assert read_file(big, limit=4096) == b"x" * 2048
    with pytest.raises(CellFileError, match="Cannot read"):
        read_file(tmp_path / "missing.bin")
