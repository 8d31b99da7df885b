"""migrate's snapshot of a rollback-journal source: a readable copy in a temporary folder, and no folder left
behind when it is not finished (cancelled)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import apsw
import pytest

from desktop_app.core.postgres.snapshot import Cancelled, needs_snapshot, open_snapshot


def snapshot_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("pulse-migrate-*"))


def source(path: Path, journal: str) -> Path:
    connection = apsw.Connection(str(path))
    connection.execute(f"PRAGMA journal_mode={journal}").fetchall()
    connection.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    with connection:
        connection.executemany("INSERT INTO t(v) VALUES (?)", ((f"value {i}",) for i in range(2000)))
    connection.close()
    return path


def test_a_rollback_journal_source_needs_a_snapshot_and_a_wal_source_does_not(tmp_path: Path) -> None:
    for journal, needed in (("delete", True), ("truncate", True), ("persist", True), ("wal", False)):
        connection = apsw.Connection(str(source(tmp_path / f"{journal}.db", journal)))
        assert needs_snapshot(connection) is needed, journal
        connection.close()


def test_the_snapshot_reads_as_the_source_and_a_cancelled_one_leaves_no_folder(tmp_path: Path) -> None:
    db = source(tmp_path / "s.db", "delete")
    before = snapshot_folders()
    connection, folder = open_snapshot(db, threading.Event())
    try:
        assert connection.execute("SELECT count(*), max(v) FROM t").fetchone() == (2000, "value 999")
        assert folder in snapshot_folders() - before
    finally:
        connection.close()
        shutil.rmtree(folder)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        open_snapshot(db, cancel)
    assert snapshot_folders() == before
