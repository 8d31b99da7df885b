"""Odd files the core meets in the wild: FIFOs, sockets, devices, symlinks, hot journals, damaged pages."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import apsw
import pytest

from desktop_app.core import errors
from desktop_app.core.database import connect_read, connect_write, open_database
from desktop_app.core.maintenance import backup, integrity_check, vacuum_into
from desktop_app.core.metrics import MetricsSampler
from desktop_app.core.query import estimate_row_count
from tests.odd_files import committed_notes, make_damaged_index, make_hot_journal, make_indexed_table
from tests.scenarios import rows


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def special_files(tmp_path: Path):
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock = tmp_path / "sock.db"
    server.bind(str(sock))
    yield {"named pipe": fifo, "socket": sock, "character device": Path("/dev/zero")}
    server.close()


def test_fifos_sockets_and_devices_are_refused_at_once(special_files: dict[str, Path]) -> None:
    for kind, path in special_files.items():
        started = time.monotonic()
        for attempt in (open_database, MetricsSampler, connect_read, connect_write):
            with pytest.raises(errors.SpecialFile, match=kind):
                attempt(path)
        assert time.monotonic() - started < 2


def test_a_symlinked_wal_database_reports_the_real_wal(db_path: Path, tmp_path: Path) -> None:
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(db_path)
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with writer:
        writer.executemany("INSERT INTO readings(device, value) VALUES ('s', ?)", [(i,) for i in range(500)])
    assert open_database(link).path == db_path.resolve()
    with MetricsSampler(link) as through_link, MetricsSampler(db_path) as direct:
        linked, real = through_link.sample(), direct.sample()
    writer.close()
    assert linked.wal_bytes == real.wal_bytes > 0
    assert linked.wal_live_frames == real.wal_live_frames > 0
    assert not Path(f"{link}-wal").exists()


def test_a_hot_journal_is_named_and_left_alone_by_a_read_only_open(tmp_path: Path) -> None:
    path = tmp_path / "hot.db"
    make_hot_journal(path)
    journal = Path(f"{path}-journal")
    before = (digest(path), digest(journal))
    with pytest.raises(errors.HotJournal) as caught:
        open_database(path)
    message = str(caught.value)
    assert "hot journal" in message and "hot.db-journal" in message and "sqlite-pulse check" in message
    assert "permissions" not in message
    assert (digest(path), digest(journal)) == before


def test_check_rolls_a_hot_journal_back_and_keeps_every_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "hot.db"
    committed = make_hot_journal(path)
    result = integrity_check(path)
    assert result.rolled_back_journal and result.ok and result.messages == ["ok"]
    assert not Path(f"{path}-journal").exists()
    assert committed_notes(path) == committed
    assert not integrity_check(path).rolled_back_journal  # nothing left to roll back


def test_a_read_write_open_rolls_a_hot_journal_back_as_sqlite_does(tmp_path: Path) -> None:
    path = tmp_path / "hot.db"
    committed = make_hot_journal(path)
    assert not open_database(path, read_only=False).read_only
    assert not Path(f"{path}-journal").exists()
    assert committed_notes(path) == committed


def test_check_keeps_sqlite_lines_when_it_stops_on_damage(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    make_indexed_table(path)
    root = rows(path, "SELECT rootpage FROM sqlite_schema WHERE name = 't'")[0][0]
    data = bytearray(path.read_bytes())
    data[(root - 1) * 4096 : (root - 1) * 4096 + 12] = b"\xff" * 12  # the table's root page header
    path.write_bytes(bytes(data))
    result = integrity_check(path)
    assert not result.ok
    assert any("btreeInitPage" in message for message in result.messages)  # SQLite's own line
    assert result.messages[-1].startswith("The check stopped on damaged data")
    assert len(integrity_check(path, max_errors=1).messages) == 1


def test_backup_of_a_damaged_database_says_so_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "damaged.db"
    make_damaged_index(source)
    destination = tmp_path / "copy.db"
    with pytest.raises(errors.CopyDamaged, match="damaged.db is damaged") as caught:
        backup(source, destination)
    assert "quick_check" in str(caught.value) and "page" in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged.db"]


def test_vacuum_into_of_a_damaged_database_says_so_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "damaged.db"
    make_damaged_index(source)
    with pytest.raises(errors.CopyDamaged, match="damaged.db is damaged"):
        vacuum_into(source, tmp_path / "compact.db")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged.db"]


def test_verified_copies_of_a_healthy_database(db_path: Path, tmp_path: Path) -> None:
    assert backup(db_path, tmp_path / "copy.db").pages > 0
    assert vacuum_into(db_path, tmp_path / "compact.db").after_bytes > 0
    copies = sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("pulse.db"))
    assert copies == ["compact.db", "copy.db"]  # verifying left no -wal or -shm beside them


def test_row_estimates_are_sane(tmp_path: Path) -> None:
    path = tmp_path / "estimates.db"
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE sparse(id INTEGER PRIMARY KEY, v); CREATE TABLE dense(id INTEGER PRIMARY KEY, v)")
    with connection:
        connection.execute("INSERT INTO sparse(id, v) VALUES (-9223372036854775808, 1), (9223372036854775807, 2)")
        connection.executemany("INSERT INTO dense(v) VALUES (?)", [(i,) for i in range(300)])
        connection.execute("DELETE FROM dense WHERE id % 2 = 0")
    assert estimate_row_count(connection, "sparse") is None  # 2**64 rows cannot fit in this file
    assert estimate_row_count(connection, "dense") == 299  # an upper bound after deletes
    connection.execute("ANALYZE")
    assert estimate_row_count(connection, "sparse") == 2  # sqlite_stat1 wins when present
    assert estimate_row_count(connection, "dense") == 150
    connection.close()
