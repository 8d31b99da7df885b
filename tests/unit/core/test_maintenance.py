"""Maintenance on real files: checkpoints in all modes, online backup with progress and cancel, VACUUM, checks."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import apsw
import pytest

from desktop_app.core import errors
from desktop_app.core.database import connect_read, connect_write
from desktop_app.core.maintenance import (
    CHECKPOINT_MODES,
    backup,
    checkpoint,
    integrity_check,
    optimize,
    vacuum,
    vacuum_into,
)
from tests.odd_files import make_indexed_table
from tests.scenarios import rows


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def held_writer(path: Path) -> apsw.Connection:
    """A write connection kept open, so closing other connections does not checkpoint the WAL away."""
    connection = connect_write(path)
    connection.execute("PRAGMA wal_autocheckpoint = 0")  # frames stay in the WAL until we checkpoint
    return connection


def add_rows(connection: apsw.Connection, count: int, device: str = "extra") -> None:
    with connection:
        connection.executemany(
            "INSERT INTO readings(device, value) VALUES (?, ?)", [(device, float(i)) for i in range(count)]
        )


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ----- checkpoint -----


@pytest.mark.parametrize("mode", CHECKPOINT_MODES)
def test_checkpoint_copies_every_frame_in_each_mode(db_path: Path, mode: str) -> None:
    writer = held_writer(db_path)
    add_rows(writer, 300)
    wal = Path(f"{db_path}-wal")
    frames_before = wal.stat().st_size
    result = checkpoint(db_path, mode)
    assert result.mode == mode and result.busy == 0
    assert result.checkpointed_frames == result.log_frames
    if mode == "truncate":  # the WAL is emptied and truncated, so SQLite reports 0 of 0
        assert (result.log_frames, wal.stat().st_size) == (0, 0)
    else:
        assert result.log_frames > 0 and wal.stat().st_size == frames_before
    assert rows(db_path, "SELECT count(*) FROM readings") == [(800,)]
    writer.close()


def test_passive_checkpoint_stops_at_a_pinned_reader(db_path: Path) -> None:
    writer = held_writer(db_path)
    add_rows(writer, 50)
    reader = connect_read(db_path)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM readings").fetchall() == [(550,)]  # snapshot pinned here
    add_rows(writer, 200)
    result = checkpoint(db_path, "passive")
    assert result.busy == 0
    assert 0 < result.checkpointed_frames < result.log_frames
    reader.execute("COMMIT")
    assert checkpoint(db_path, "passive").checkpointed_frames == result.log_frames
    reader.close()
    writer.close()


def test_checkpoint_on_a_rollback_journal_database(delete_mode_db: Path) -> None:
    result = checkpoint(delete_mode_db, "full")
    assert (result.busy, result.log_frames, result.checkpointed_frames) == (0, -1, -1)


def test_checkpoint_rejects_an_unknown_mode(db_path: Path) -> None:
    with pytest.raises(ValueError, match="passive"):
        checkpoint(db_path, "eager")


# ----- backup -----


def test_backup_copies_a_live_wal_database_with_progress(db_path: Path, tmp_path: Path) -> None:
    writer = held_writer(db_path)
    add_rows(writer, 2000)  # these rows live only in the WAL so far
    calls: list[tuple[int, int]] = []
    destination = tmp_path / "copy.db"
    result = backup(db_path, destination, pages_per_step=2, progress=lambda done, total: calls.append((done, total)))
    writer.close()
    assert result.cancelled is False and result.destination == destination
    assert result.pages == calls[-1][1] and calls[-1][0] == calls[-1][1]
    assert len(calls) >= 3
    assert [done for done, _total in calls] == sorted(done for done, _total in calls)
    assert not [name for name in files_in(tmp_path) if ".partial-" in name or name.startswith("copy.db-")]
    assert rows(destination, "SELECT count(*) FROM readings") == [(2500,)]
    assert rows(destination, "PRAGMA integrity_check") == [("ok",)]


def test_backup_of_a_rollback_journal_database(delete_mode_db: Path, tmp_path: Path) -> None:
    destination = tmp_path / "notes-copy.db"
    before = digest(delete_mode_db)
    backup(delete_mode_db, destination, pages_per_step=1)
    assert rows(destination, "SELECT count(*) FROM notes") == [(200,)]
    assert digest(delete_mode_db) == before


def test_cancelled_backup_leaves_no_file(db_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    cancel = threading.Event()
    result = backup(
        db_path, folder / "copy.db", pages_per_step=1, progress=lambda done, total: cancel.set(), cancel=cancel
    )
    assert result.cancelled is True
    assert files_in(folder) == []


def test_failed_progress_callback_leaves_no_file(db_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()

    def explode(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backup(db_path, folder / "copy.db", pages_per_step=1, progress=explode)
    assert files_in(folder) == []


def test_backup_finishes_while_another_connection_keeps_writing(db_path: Path, tmp_path: Path) -> None:
    writer = connect_write(db_path)
    add_rows(writer, 3000)
    steps = 0

    def write_between_steps(done: int, total: int) -> None:
        nonlocal steps
        steps += 1
        add_rows(writer, 1, device=f"during-{steps}")  # every write by another connection restarts the copy

    destination = tmp_path / "copy.db"
    result = backup(db_path, destination, pages_per_step=4, progress=write_between_steps)
    writer.close()
    assert result.cancelled is False
    assert steps < 50  # it switched to one step instead of restarting forever
    copied = rows(destination, "SELECT count(*) FROM readings WHERE device LIKE 'during-%'")[0][0]
    assert 1 <= copied <= steps


def test_backup_refuses_to_overwrite_unless_asked(db_path: Path, tmp_path: Path) -> None:
    destination = tmp_path / "copy.db"
    destination.write_bytes(b"precious")
    with pytest.raises(errors.DatabaseExists, match="already exists"):
        backup(db_path, destination)
    assert destination.read_bytes() == b"precious"
    backup(db_path, destination, overwrite=True)
    assert rows(destination, "SELECT count(*) FROM readings") == [(500,)]


def test_backup_refuses_a_destination_with_a_live_wal(db_path: Path, tmp_path: Path) -> None:
    destination = tmp_path / "copy.db"
    backup(db_path, destination)
    Path(f"{destination}-wal").write_bytes(b"x" * 100)
    with pytest.raises(errors.DatabaseLocked, match="-wal"):
        backup(db_path, destination, overwrite=True)


def test_backup_bad_paths(db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(errors.DatabaseExists, match="source database itself"):
        backup(db_path, db_path, overwrite=True)
    with pytest.raises(errors.DatabaseMissing, match="folder"):
        backup(db_path, tmp_path / "no-such-folder" / "copy.db")
    with pytest.raises(errors.DatabaseMissing):
        backup(tmp_path / "missing.db", tmp_path / "copy.db")
    with pytest.raises(errors.DatabaseExists, match="folder"):
        backup(db_path, tmp_path, overwrite=True)


# ----- vacuum -----


def make_free_pages(path: Path) -> None:
    writer = connect_write(path)
    with writer:
        writer.executemany(
            "INSERT INTO readings(device, value) VALUES (?, ?)", [(f"bulk-{i}" * 20, 0.0) for i in range(5000)]
        )
    writer.execute("DELETE FROM readings WHERE device LIKE 'bulk-%'")
    writer.close()


def test_vacuum_shrinks_a_wal_database(db_path: Path) -> None:
    make_free_pages(db_path)
    free_before = rows(db_path, "PRAGMA freelist_count")[0][0]
    assert free_before > 50
    result = vacuum(db_path)
    assert result.destination is None
    assert result.after_bytes < result.before_bytes
    assert result.after_bytes == db_path.stat().st_size
    assert rows(db_path, "PRAGMA freelist_count") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM readings") == [(500,)]
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_vacuum_into_writes_a_compact_copy_and_leaves_the_source(db_path: Path, tmp_path: Path) -> None:
    make_free_pages(db_path)
    before = digest(db_path)
    destination = tmp_path / "compact.db"
    result = vacuum_into(db_path, destination)
    assert result.destination == destination
    assert result.after_bytes == destination.stat().st_size < result.before_bytes
    assert rows(destination, "SELECT count(*) FROM readings") == [(500,)]
    assert digest(db_path) == before
    with pytest.raises(errors.DatabaseExists):
        vacuum_into(db_path, destination)
    with pytest.raises(errors.DatabaseMissing):
        vacuum_into(db_path, tmp_path / "nowhere" / "compact.db")


def test_vacuum_of_a_locked_database_says_locked(delete_mode_db: Path) -> None:
    holder = apsw.Connection(str(delete_mode_db))
    holder.execute("BEGIN EXCLUSIVE; DELETE FROM notes")
    try:
        with pytest.raises(errors.DatabaseLocked, match="locked by another connection"):
            vacuum(delete_mode_db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rows(delete_mode_db, "SELECT count(*) FROM notes") == [(200,)]


# ----- integrity -----


def corrupt_last_page(path: Path) -> None:
    """Scribble over the content of the last page (an index leaf here), as a bad disk would."""
    page_size = rows(path, "PRAGMA page_size")[0][0]
    page_count = rows(path, "PRAGMA page_count")[0][0]
    data = bytearray(path.read_bytes())
    start = (page_count - 1) * page_size + page_size // 2
    data[start : start + 200] = b"X" * 200
    path.write_bytes(bytes(data))


@pytest.fixture
def indexed_db(tmp_path: Path) -> Path:
    path = tmp_path / "indexed.db"
    make_indexed_table(path)
    return path


def test_integrity_check_ok(indexed_db: Path) -> None:
    before = digest(indexed_db)
    assert integrity_check(indexed_db) == integrity_check(indexed_db, quick=False)
    result = integrity_check(indexed_db, quick=True)
    assert (result.ok, result.messages, result.quick) == (True, ["ok"], True)
    assert digest(indexed_db) == before


def test_integrity_check_finds_damage(indexed_db: Path) -> None:
    corrupt_last_page(indexed_db)
    full = integrity_check(indexed_db)
    assert full.ok is False and full.quick is False
    assert any("missing from index ts" in message for message in full.messages)
    quick = integrity_check(indexed_db, quick=True)
    assert quick.ok is False and len(quick.messages) < len(full.messages)
    limited = integrity_check(indexed_db, max_errors=3)
    assert len(limited.messages) == 3


def test_integrity_check_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(errors.DatabaseMissing):
        integrity_check(tmp_path / "gone.db")


# ----- optimize -----


def test_optimize_analyzes_tables_that_need_it(db_path: Path) -> None:
    ran = optimize(db_path)
    assert any("ANALYZE" in statement and "readings" in statement for statement in ran)
    stats = rows(db_path, "SELECT tbl, idx FROM sqlite_stat1")
    assert ("readings", "readings_device") in stats
    assert optimize(db_path) == []  # fresh statistics: nothing left to do

