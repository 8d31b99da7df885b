"""Dead letters made by the real writer's mapper and sink, then listed, shown, replayed, resolved, purged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from desktop_app.core import dead_letters as dl
from desktop_app.core.database import connect_write
from desktop_app.core.ingest.mapping import (
    BINARY_MESSAGE,
    DEAD_LETTER_TABLE,
    INVALID_JSON,
    TOO_LARGE,
    UNKNOWN_FIELD,
    WRONG_TYPE,
    Chunk,
    MessageMapper,
    parse_columns,
)
from desktop_app.core.ingest.sink import SQLiteSink

OLD_DEAD_LETTER_SQL = (  # as sink.py created the table before status and note existed
    f"CREATE TABLE {DEAD_LETTER_TABLE}(id INTEGER PRIMARY KEY, received_at REAL NOT NULL, "
    "target_table TEXT NOT NULL, reason TEXT NOT NULL, raw BLOB NOT NULL) STRICT"
)


def ingest(path: Path, mapper: MessageMapper, messages: list[str | bytes], received_at: float | None = None) -> None:
    """One batch through the writer's own mapper and sink."""
    sink = SQLiteSink(path, mapper)
    sink.open()
    try:
        chunk: Chunk = (time.time() if received_at is None else received_at, list(messages))
        batch = mapper.map_batch([chunk])
        sink.prepare(mapper.settle(sink.existing_columns(mapper.table), batch))
        if batch.pending_objects:
            mapper.finish(batch)
        sink.write_batch(batch, time.time())
    finally:
        sink.close()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[apsw.Connection]:
    connection = connect_write(tmp_path / "dl.db", create=True)
    yield connection
    connection.close()


def scalar(connection: apsw.Connection, sql: str, *params: object) -> object:
    row = connection.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def open_letters(connection: apsw.Connection) -> int:
    return int(scalar(connection, f"SELECT count(*) FROM {DEAD_LETTER_TABLE} WHERE status = 'open'"))  # type: ignore[arg-type]


def rows_in(connection: apsw.Connection, table: str) -> int:
    return int(scalar(connection, f"SELECT count(*) FROM {table}"))  # type: ignore[arg-type]


@pytest.fixture
def typed_file(tmp_path: Path) -> Path:
    """readings(device TEXT, temp INTEGER): text temperatures and a stray field become dead letters."""
    path = tmp_path / "dl.db"
    mapper = MessageMapper("readings", columns=parse_columns("device:TEXT,temp:INTEGER"))
    ingest(path, mapper, [
        '{"device": "a", "temp": 20}',
        '{"device": "b", "temp": "21.5"}',  # a text temperature: refused by the INTEGER column
        '{"device": "c", "temp": "warm"}',
        '{"device": "d", "temp": 22, "humidity": 40}',  # a field the table has no column for
        "{broken",
        b"\x00\x01\xff",
    ], received_at=time.time() - 7200)
    return path


def test_listing_filters_by_reason_time_status_and_table(typed_file: Path) -> None:
    connection = connect_write(typed_file)
    try:
        letters = dl.list_letters(connection)
        assert [letter.id for letter in letters] == sorted((letter.id for letter in letters), reverse=True)
        reasons = [letter.reason for letter in letters]
        assert sum(reason.startswith(WRONG_TYPE) for reason in reasons) == 2
        assert sum(reason.startswith(UNKNOWN_FIELD) for reason in reasons) == 1
        assert {letter.status for letter in letters} == {"open"}
        assert len(dl.list_letters(connection, dl.LetterFilter(reason="FIT THE column"))) == 2  # any case
        assert dl.list_letters(connection, dl.LetterFilter(since=dl.parse_time("1h"))) == []
        assert len(dl.list_letters(connection, dl.LetterFilter(since=dl.parse_time("3h")))) == 5
        assert len(dl.list_letters(connection, dl.LetterFilter(table="READINGS"))) == 5
        assert dl.list_letters(connection, dl.LetterFilter(status="resolved")) == []
        first_page = dl.list_letters(connection, limit=2)
        second = dl.list_letters(connection, limit=2, after_id=first_page[-1].id)
        assert len(first_page) == len(second) == 2 and second[0].id < first_page[-1].id
    finally:
        connection.close()


def test_show_gives_text_or_a_hex_dump(typed_file: Path) -> None:
    connection = connect_write(typed_file)
    try:
        by_reason = {letter.reason.split(":")[0]: letter for letter in dl.list_letters(connection)}
        binary = dl.show(connection, by_reason[BINARY_MESSAGE].id)
        assert binary.raw == b"\x00\x01\xff" and binary.size == 3
        kind, dump = dl.render_raw(binary.raw)
        assert kind == "hex" and dump.startswith("00000000  00 01 ff  ") and dump.endswith("  |...|")
        assert len(dl.hex_dump(bytes(range(40))).splitlines()) == 3
        broken = dl.show(connection, by_reason[INVALID_JSON].id)
        assert dl.render_raw(broken.raw or b"") == ("text", "{broken")
        assert broken.to_dict(with_raw=True)["raw_text"] == "{broken"
        with pytest.raises(dl.DeadLetterError, match="no dead letter with id 999"):
            dl.show(connection, 999)
    finally:
        connection.close()


def test_replay_after_the_column_type_is_fixed_moves_each_letter_exactly_once(typed_file: Path) -> None:
    connection = connect_write(typed_file)
    try:
        dl.migrate(connection)
        before_rows, before_open = rows_in(connection, "readings"), open_letters(connection)
        # The user fixes the table: temp becomes ANY (keeps "21.5" and "warm" as they are), humidity is added.
        with connection:
            connection.execute("ALTER TABLE readings RENAME TO readings_old")
            connection.execute("CREATE TABLE readings(device TEXT, temp ANY, humidity INTEGER) STRICT")
            connection.execute("INSERT INTO readings(device, temp) SELECT device, temp FROM readings_old")
            connection.execute("DROP TABLE readings_old")
        result = dl.replay(connection, dl.LetterFilter(status="open"), chunk=2)
        assert result.selected == before_open == 5
        assert result.written + result.still_dead == result.selected
        assert result.written == 3  # both temperatures and the humidity reading
        assert rows_in(connection, "readings") == before_rows + result.written
        assert rows_in(connection, "readings") + open_letters(connection) == before_rows + before_open
        replayed = {letter.id: letter for letter in dl.list_letters(connection, dl.LetterFilter(status="replayed"))}
        assert set(replayed) == {letter for letter, _, _ in result.rows}
        for letter_id, table, rowid in result.rows:
            assert replayed[letter_id].note == f"replayed into {table} as rowid {rowid}"
            assert scalar(connection, "SELECT count(*) FROM readings WHERE rowid = ?", rowid) == 1
        assert scalar(connection, "SELECT temp FROM readings WHERE device = 'c'") == "warm"
        # The ledger still adds up to what the table received (a row per chunk that wrote).
        assert scalar(connection, "SELECT sum(rows) FROM pulse_ingest_batches") == rows_in(connection, "readings")
        assert scalar(connection, "SELECT humidity FROM readings WHERE device = 'd'") == 40
        # The two that still fail are still open, with their (new) reasons.
        assert sorted(reason.split(":")[0] for _, reason in result.failures) == [BINARY_MESSAGE, INVALID_JSON]
        assert {letter.id for letter in dl.list_letters(connection, dl.LetterFilter(status="open"))} == {
            letter for letter, _ in result.failures
        }
        # A second replay finds only those two, and writes nothing twice.
        again = dl.replay(connection, dl.LetterFilter())
        assert (again.selected, again.written, again.still_dead) == (2, 0, 2)
    finally:
        connection.close()


def test_a_letter_that_still_fails_keeps_open_with_its_new_reason(tmp_path: Path) -> None:
    path = tmp_path / "dl.db"
    mapper = MessageMapper("readings", columns=parse_columns("device:TEXT,temp:INTEGER"))
    ingest(path, mapper, ['{"device": "a", "temp": 1}', '{"device": "b", "temp": 2, "extra": 1}'])
    connection = connect_write(path)
    try:
        dl.migrate(connection)
        (letter,) = dl.list_letters(connection)
        assert letter.reason.startswith(UNKNOWN_FIELD)
        with connection:  # "fixed" badly: the column now exists, but as INTEGER NOT NULL CHECK extra > 5
            connection.execute("ALTER TABLE readings ADD COLUMN extra INTEGER CHECK (extra > 5)")
        result = dl.replay(connection, dl.LetterFilter(ids=(letter.id,)))
        assert (result.selected, result.written, result.still_dead) == (1, 0, 1)
        again = dl.show(connection, letter.id)
        assert again.status == "open" and again.reason.startswith(WRONG_TYPE) and "CHECK" in again.reason
        assert rows_in(connection, "readings") == 1
    finally:
        connection.close()


def test_replay_in_raw_mode_and_unknown_ids_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "dl.db"
    ingest(path, MessageMapper("events", raw=True), ['{"a": 1}', "not json", '{"b": 2}'])
    connection = connect_write(path)
    try:
        dl.migrate(connection)
        (letter,) = dl.list_letters(connection)
        result = dl.replay(connection, dl.LetterFilter(ids=(letter.id, 999)))
        assert result.not_open == [999]
        assert (result.selected, result.written, result.still_dead) == (1, 0, 1)
        assert dl.show(connection, letter.id).reason.startswith(INVALID_JSON)
        assert rows_in(connection, "events") == 2
    finally:
        connection.close()


def test_an_oversized_letter_is_never_replayed_from_its_cut_head(tmp_path: Path) -> None:
    path = tmp_path / "dl.db"
    mapper = MessageMapper("events", raw=True, max_message_bytes=64)
    ingest(path, mapper, ['{"payload": "' + "x" * 200 + '"}'])
    connection = connect_write(path)
    try:
        dl.migrate(connection)
        result = dl.replay(connection, dl.LetterFilter())
        assert (result.written, result.still_dead) == (0, 1)
        assert result.failures[0][1].startswith(TOO_LARGE)
    finally:
        connection.close()


def test_a_missing_target_table_keeps_the_letters(typed_file: Path) -> None:
    connection = connect_write(typed_file)
    try:
        dl.migrate(connection)
        with connection:
            connection.execute("DROP TABLE readings")
        result = dl.replay(connection, dl.LetterFilter())
        assert (result.selected, result.written, result.still_dead) == (5, 0, 5)
        assert all("does not exist" in reason for _, reason in result.failures)
        assert open_letters(connection) == 5
    finally:
        connection.close()


def test_resolve_with_a_note_then_purge(typed_file: Path) -> None:
    connection = connect_write(typed_file)
    try:
        dl.migrate(connection)
        with pytest.raises(dl.DeadLetterError, match="needs a note"):
            dl.resolve(connection, dl.LetterFilter(reason="binary"), "  ")
        assert dl.resolve(connection, dl.LetterFilter(reason="binary"), "a test client's noise", chunk=1) == 1
        assert dl.resolve(connection, dl.LetterFilter(reason="binary"), "again") == 0  # only open ones
        (resolved,) = dl.list_letters(connection, dl.LetterFilter(status="resolved"))
        assert resolved.note == "a test client's noise" and resolved.resolved_at is not None
        assert dl.purgeable(connection, older_than=3600) == 0
        assert dl.purgeable(connection) == 1
        assert dl.purge(connection, older_than=3600) == 0
        assert dl.purge(connection) == 1
        assert dl.list_letters(connection, dl.LetterFilter(status="resolved")) == []
        assert open_letters(connection) == 4  # open letters are never purged
        with pytest.raises(dl.DeadLetterError, match="resolved or replayed"):
            dl.purge(connection, status="open")
    finally:
        connection.close()


def test_an_old_table_is_read_as_open_and_migrated_in_place(writer: apsw.Connection) -> None:
    with writer:
        writer.execute(OLD_DEAD_LETTER_SQL)
        writer.executemany(
            f"INSERT INTO {DEAD_LETTER_TABLE}(received_at, target_table, reason, raw) VALUES (?, 'readings', ?, ?)",
            [(1000.0 + n, f"{INVALID_JSON}: {n}", f"bad {n}".encode()) for n in range(1200)],
        )
    before = writer.execute(f"SELECT id, received_at, target_table, reason, raw FROM {DEAD_LETTER_TABLE}").fetchall()
    schema_before = scalar(writer, "PRAGMA schema_version")
    # Reading changes nothing.
    letters = dl.list_letters(writer, dl.LetterFilter(status="open"), limit=10)
    assert len(letters) == 10 and letters[0].status == "open" and letters[0].note is None
    assert dl.show(writer, 1).raw == b"bad 0"
    assert dl.missing_columns(writer) == ["status", "note", "resolved_at"]
    assert scalar(writer, "PRAGMA schema_version") == schema_before
    with pytest.raises(dl.DeadLetterError, match="migrate"):
        dl.resolve(writer, dl.LetterFilter(), "x")
    assert dl.migrate(writer) == ["status", "note", "resolved_at"]
    assert dl.migrate(writer) == []
    after = writer.execute(f"SELECT id, received_at, target_table, reason, raw FROM {DEAD_LETTER_TABLE}").fetchall()
    assert after == before
    assert open_letters(writer) == 1200
    assert scalar(writer, "PRAGMA integrity_check") == "ok"


def test_new_files_get_the_columns_from_the_sink(typed_file: Path) -> None:
    connection = connect_write(typed_file)
    try:
        assert dl.missing_columns(connection) == []
    finally:
        connection.close()


def test_a_file_without_the_table_and_bad_input_say_what_to_do(writer: apsw.Connection) -> None:
    with pytest.raises(dl.DeadLetterError, match="no pulse_dead_letters table"):
        dl.list_letters(writer)
    with pytest.raises(dl.DeadLetterError, match="not a time"):
        dl.parse_time("yesterday")
    with pytest.raises(dl.DeadLetterError, match="not a list of letter ids"):
        dl.parse_ids("1,x")
    with pytest.raises(dl.DeadLetterError, match="Status must be"):
        dl.LetterFilter(status="done")
    assert dl.parse_time("2h", now=10_000) == 10_000 - 7200
    assert dl.parse_duration("7d") == 7 * 86400
    assert dl.parse_time("1700000000") == 1_700_000_000


def test_replay_waits_for_an_ingest_holding_the_write_lock(typed_file: Path) -> None:
    """Another connection (an ingest) mid-transaction: the replay waits its busy timeout, then goes on."""
    connection = connect_write(typed_file, busy_timeout_ms=5000)
    other = connect_write(typed_file)
    try:
        dl.migrate(connection)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO readings(device, temp) VALUES ('z', 1)")
        import threading  # noqa: PLC0415

        release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        release.start()
        result = dl.replay(connection, dl.LetterFilter())
        release.join()
        assert result.selected == 5 and result.written + result.still_dead == 5
        assert scalar(connection, "SELECT count(*) FROM readings WHERE device = 'z'") == 1
    finally:
        other.close()
        connection.close()
