"""Opening and creating databases: typed errors for every bad file, and opening never changes the file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from desktop_app.core import errors
from desktop_app.core.database import (
    connect_read,
    connect_write,
    create_database,
    open_database,
    pragma,
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_open_read_only_leaves_delete_mode_database_identical(delete_mode_db: Path) -> None:
    before = digest(delete_mode_db)
    database = open_database(delete_mode_db)
    connection = database.connect_read()
    assert pragma(connection, "journal_mode") == "delete"
    assert connection.execute("SELECT count(*) FROM notes").fetchall() == [(200,)]
    connection.close()
    assert digest(delete_mode_db) == before
    assert sorted(p.name for p in delete_mode_db.parent.iterdir()) == ["legacy.db"]


def test_read_connection_cannot_write(db_path: Path) -> None:
    connection = connect_read(db_path)
    with pytest.raises(apsw.ReadOnlyError):
        connection.execute("INSERT INTO readings(device, value) VALUES ('x', 1)")
    connection.close()


def test_read_connection_sets_trusted_schema_off(db_path: Path) -> None:
    connection = connect_read(db_path)
    assert pragma(connection, "trusted_schema") == 0
    connection.close()


def test_closing_read_connection_keeps_the_wal_it_watches(db_path: Path) -> None:
    writer = connect_write(db_path)
    writer.execute("INSERT INTO readings(device, value) VALUES ('late', 1)")
    wal = Path(f"{db_path}-wal")
    wal_before = wal.read_bytes()
    db_before = digest(db_path)
    reader = connect_read(db_path)
    assert reader.execute("SELECT count(*) FROM readings").fetchall() == [(501,)]
    reader.close()
    assert wal.read_bytes() == wal_before
    assert digest(db_path) == db_before
    writer.close()


def test_create_database_uses_production_settings(tmp_path: Path) -> None:
    database = create_database(tmp_path / "new.db")
    connection = database.connect_write()
    assert pragma(connection, "journal_mode") == "wal"
    assert pragma(connection, "page_size") == 8192
    assert pragma(connection, "synchronous") == 1  # NORMAL
    assert pragma(connection, "trusted_schema") == 0
    connection.close()


def test_create_database_refuses_to_overwrite(db_path: Path) -> None:
    with pytest.raises(errors.DatabaseExists, match="already exists"):
        create_database(db_path)


def test_create_database_in_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(errors.DatabaseMissing, match="folder"):
        create_database(tmp_path / "nope" / "x.db")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(errors.DatabaseMissing, match="does not exist"):
        open_database(tmp_path / "absent.db")


def test_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(errors.NotADatabase, match="folder"):
        open_database(tmp_path)


def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("hello, this is plain text and certainly not SQLite\n" * 10)
    with pytest.raises(errors.NotADatabase, match="not a SQLite database"):
        open_database(path)


def test_header_only_fragment_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "tiny.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 20)
    with pytest.raises(errors.DatabaseCorrupt, match="truncated"):
        open_database(path)


def test_truncated_database(db_path: Path, tmp_path: Path) -> None:
    checkpointed = tmp_path / "copy.db"
    source = connect_write(db_path)
    source.execute(f"VACUUM INTO '{checkpointed}'")
    source.close()
    data = checkpointed.read_bytes()
    assert len(data) > 3 * 8192
    checkpointed.write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.DatabaseCorrupt, match="truncated"):
        open_database(checkpointed)


def test_garbage_after_valid_header_is_corrupt(delete_mode_db: Path) -> None:
    data = bytearray(delete_mode_db.read_bytes())
    data[100:4096] = os.urandom(4096 - 100)  # page 1 after the header: sqlite_schema's b-tree
    delete_mode_db.write_bytes(bytes(data))
    with pytest.raises((errors.DatabaseCorrupt, errors.NotADatabase)) as caught:
        open_database(delete_mode_db)
    assert "legacy.db" in str(caught.value)


def test_empty_file_opens_as_empty_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    database = open_database(path)
    assert database.read_only
    assert path.stat().st_size == 0


def test_read_write_open_of_read_only_file(delete_mode_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI runs as root, which bypasses permission bits; the permission check itself is what is under test.
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK)
    with pytest.raises(errors.DatabaseReadOnly, match="not writable"):
        open_database(delete_mode_db, read_only=False)
    assert open_database(delete_mode_db, read_only=True).read_only


def test_read_only_database_refuses_write_connection(db_path: Path) -> None:
    with pytest.raises(errors.DatabaseReadOnly, match="read-only"):
        open_database(db_path).connect_write()


HOLD_LOCK = """
import sys, time, apsw
c = apsw.Connection(sys.argv[1])
c.execute("BEGIN EXCLUSIVE")
c.execute("INSERT INTO notes(body) VALUES ('held')")
print("locked", flush=True)
sys.stdin.readline()
"""


def test_locked_database_names_the_holder(delete_mode_db: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(delete_mode_db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(errors.DatabaseLocked) as caught:
            open_database(delete_mode_db)
        message = str(caught.value)
        assert "locked" in message
        assert f"process {holder.pid}" in message
    finally:
        holder.communicate("done\n", timeout=10)


SQLITE_DEFAULT_MAX_LENGTH = 1_000_000_000


def test_read_connections_cap_one_value_and_the_ingest_writer_does_not(db_path: Path) -> None:
    from desktop_app.core.ingest.mapping import MessageMapper
    from desktop_app.core.ingest.sink import SQLiteSink

    before = digest(db_path)
    reader = open_database(db_path).connect_read()
    try:
        assert reader.limit(apsw.SQLITE_LIMIT_LENGTH, -1) == errors.MAX_VALUE_BYTES
        assert reader.execute("SELECT length(zeroblob(?))", (errors.MAX_VALUE_BYTES,)).fetchall() == [
            (errors.MAX_VALUE_BYTES,)  # up to the cap is fine (a zeroblob's length needs no memory)
        ]
        with pytest.raises(apsw.TooBigError):
            reader.execute("SELECT zeroblob(?)", (errors.MAX_VALUE_BYTES + 1,)).fetchall()
    finally:
        reader.close()
    assert digest(db_path) == before  # a per-connection limit: nothing about it is stored in the file

    sink = SQLiteSink(db_path, MessageMapper("t"))
    sink.open()
    try:
        assert sink._conn().limit(apsw.SQLITE_LIMIT_LENGTH, -1) == SQLITE_DEFAULT_MAX_LENGTH
    finally:
        sink.close()


def test_a_too_big_value_translates_to_a_message_that_says_what_to_do(db_path: Path) -> None:
    reader = connect_read(db_path)
    try:
        with pytest.raises(apsw.TooBigError) as caught:
            reader.execute("SELECT printf('%.*c', 900000000, 'x')").fetchall()
    finally:
        reader.close()
    error = errors.translate(caught.value, db_path)
    assert isinstance(error, errors.ValueTooBig) and isinstance(error, errors.QueryError)
    assert "larger than 256 MiB" in str(error) and "Leave that column" in str(error)
