"""Message mapping against real SQLite files: inferred STRICT tables, raw mode, and every dead-letter reason."""

from __future__ import annotations

import json
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_write, create_database
from desktop_app.core.errors import QueryError
from desktop_app.core.ingest.mapping import (
    BATCH_LEDGER_TABLE,
    DEAD_LETTER_TABLE,
    Column,
    MappedBatch,
    MessageMapper,
    SequenceTracker,
    check_table_name,
    infer_columns,
    parse_columns,
    quote_identifier,
    valid_identifier,
)
from desktop_app.core.ingest.sink import SQLiteSink


@pytest.fixture
def connection(tmp_path: Path) -> apsw.Connection:
    path = tmp_path / "ingest.db"
    create_database(path)
    connection = connect_write(path)
    yield connection
    connection.close()


_SINKS: dict[int, SQLiteSink] = {}


def sink_for(mapper: MessageMapper, connection: apsw.Connection) -> SQLiteSink:
    sink = _SINKS.get(id(mapper))
    if sink is None or sink.mapper is not mapper:
        sink = _SINKS[id(mapper)] = SQLiteSink(connection.filename, mapper)
        sink.attach(connection)
    return sink


def prepare(mapper: MessageMapper, connection: apsw.Connection, batch: MappedBatch | None = None) -> SQLiteSink:
    """What the writer does before a batch while the table is not settled: settle, create, finish."""
    sink = sink_for(mapper, connection)
    batch = batch if batch is not None else MappedBatch()
    if not mapper.settled:
        sink.prepare(mapper.settle(sink.existing_columns(mapper.table), batch))
    mapper.finish(batch)
    return sink


def write(mapper: MessageMapper, connection: apsw.Connection, messages: list) -> MappedBatch:
    """One batch the way the writer does it: map, settle the table, write in one transaction."""
    batch = mapper.map_batch([(1000.0, messages)])
    sink = prepare(mapper, connection, batch)
    sink.write_batch(batch, 2000.0)
    return batch


def dead_letters(connection: apsw.Connection) -> list[tuple[str, bytes]]:
    return connection.execute(f"SELECT reason, raw FROM {DEAD_LETTER_TABLE} ORDER BY id").fetchall()


def reading(seq: int, **extra: object) -> str:
    return json.dumps({"device_id": f"d{seq % 3}", "seq": seq, "temperature": 20.5 + seq, "ok": True, **extra})


def test_identifiers_are_validated_and_quoted() -> None:
    assert valid_identifier("temperature_c")
    assert not valid_identifier("temp-c")
    assert not valid_identifier("1st")
    assert not valid_identifier("sqlite_master")
    assert not valid_identifier("x" * 65)
    assert quote_identifier('we"ird') == '"we""ird"'
    assert check_table_name("readings") == "readings"
    for bad in ("drop table x", "sqlite_stat1", DEAD_LETTER_TABLE, ""):
        with pytest.raises(QueryError):
            check_table_name(bad)


def test_parse_columns() -> None:
    assert parse_columns("a:integer, b:REAL,c") == (Column("a", "INTEGER"), Column("b", "REAL"), Column("c", "ANY"))
    for bad in ("a:DATE", "a-b:TEXT", "a:TEXT,A:REAL", " , "):
        with pytest.raises(QueryError):
            parse_columns(bad)


def test_inference_picks_the_majority_type_and_keeps_key_order() -> None:
    objects = [{"id": i, "value": i * 1.5, "name": "n", "tags": [1], "maybe": None} for i in range(9)]
    objects.append({"id": 10, "value": "broken", "name": "n", "tags": [2], "maybe": None, "bad-key": 1})
    columns = infer_columns(objects)
    assert columns == (
        Column("id", "INTEGER"),
        Column("value", "REAL"),  # 9 numbers and one string: numbers win, the string ends as a dead letter
        Column("name", "TEXT"),
        Column("tags", "TEXT", json=True),
        Column("maybe", "ANY"),  # only nulls seen
    )
    assert infer_columns([{"x": 1}, {"x": "a"}]) == (Column("x", "ANY"),)  # no clear majority


def test_sequence_tracker_counts_gaps_missing_and_resets() -> None:
    tracker = SequenceTracker()
    for seq in (1, 2, 3, 7, 8, 10, 1, 2):
        tracker.see(seq)
    assert (tracker.gaps, tracker.missing, tracker.resets) == (2, 4, 1)


def test_typed_mode_creates_a_strict_table_from_the_first_messages(connection: apsw.Connection) -> None:
    mapper = MessageMapper("readings")
    batch = write(mapper, connection, [reading(i) for i in range(1, 51)])
    assert len(batch.rows) == 50 and not batch.dead
    (sql,) = connection.execute("SELECT sql FROM sqlite_schema WHERE name = 'readings'").fetchone()
    assert sql.endswith("STRICT")
    assert '"temperature" REAL' in sql and '"seq" INTEGER' in sql and '"ok" INTEGER' in sql
    rows = connection.execute("SELECT device_id, seq, temperature, ok FROM readings ORDER BY seq LIMIT 2").fetchall()
    assert rows == [("d1", 1, 21.5, 1), ("d2", 2, 22.5, 1)]
    # The next batch uses the fast path: keys in another order still land in the right columns.
    shuffled = json.dumps({"ok": False, "temperature": 1.25, "seq": 51, "device_id": "z"})
    write(mapper, connection, [shuffled])
    assert connection.execute("SELECT device_id, temperature, ok FROM readings WHERE seq = 51").fetchone() == (
        "z",
        1.25,
        0,
    )


def test_every_kind_of_bad_message_is_a_dead_letter_with_its_raw_bytes(connection: apsw.Connection) -> None:
    mapper = MessageMapper("readings", max_message_bytes=500)
    write(mapper, connection, [reading(1), reading(2)])
    bad = [
        b"\x00\x01binary",
        "x" * 501,
        '{"seq": 3,',
        "[1, 2, 3]",
        "null",
        json.dumps({"seq": 4, "unexpected": 1}),
        json.dumps({"seq": 5, "bad key!": 1}),
        json.dumps({"device_id": "d", "seq": 6, "temperature": "hot", "ok": True}),
        json.dumps({"device_id": {"nested": 1}, "seq": 7}),  # an object where TEXT is expected: JSON text
    ]
    batch = write(mapper, connection, [reading(8), *bad, reading(9)])
    assert batch.messages == 11
    assert len(batch.rows) + len(batch.dead) == batch.messages
    reasons = [reason for reason, _raw in dead_letters(connection)]
    assert len(reasons) == 8
    for expected in (
        "binary message",
        "message too large",
        "not valid JSON",
        "JSON is not an object",
        "field has no column in the table: 'unexpected'",
        "field name cannot be a column name: 'bad key!'",
        "value does not fit the column type",
    ):
        assert any(reason.startswith(expected) for reason in reasons), expected
    raws = [raw for _reason, raw in dead_letters(connection)]
    assert b"\x00\x01binary" in raws and b'{"seq": 3,' in raws and b"x" * 500 in raws  # cut to the limit
    assert any("501 bytes" in reason for reason in reasons)
    seqs = [seq for (seq,) in connection.execute("SELECT seq FROM readings ORDER BY rowid")]
    assert seqs == [1, 2, 8, 7, 9]
    assert connection.execute("SELECT device_id FROM readings WHERE seq = 7").fetchone() == ('{"nested":1}',)
    table, rows, dead = connection.execute(
        f"SELECT target_table, rows, dead_letters FROM {BATCH_LEDGER_TABLE} ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert (table, rows, dead) == ("readings", 3, 8)


def test_raw_mode_stores_messages_as_received(connection: apsw.Connection) -> None:
    mapper = MessageMapper("stream", raw=True)
    text = '{"seq": 1,   "spacing": "kept"}'
    batch = write(mapper, connection, [text, "not json", b"\xff", '{"seq": 3}'])
    assert (len(batch.rows), len(batch.dead)) == (2, 2)
    assert connection.execute("SELECT received_at, payload FROM stream ORDER BY id").fetchall() == [
        (1000.0, text),
        (1000.0, '{"seq": 3}'),
    ]
    assert (mapper.sequence.gaps, mapper.sequence.missing) == (1, 1)  # nothing in between shows a number


@pytest.mark.parametrize("raw", [False, True])
def test_a_broken_message_is_not_blamed_as_a_missing_sequence_number(
    connection: apsw.Connection, raw: bool
) -> None:
    """A dead letter arrived: its number is not missing. When its number shows but cannot be read reliably (the
    JSON is cut at the number, or is not JSON), the gap before the next good message is its, one number each."""
    mapper = MessageMapper("readings", raw=raw, max_message_bytes=2000)
    write(mapper, connection, [reading(1), "garbage seq 2"])  # the first batch, before the columns exist
    write(mapper, connection, [
        reading(3),
        '{"device_id":"a","seq": 4',  # cut: "4" could be the start of "41", so it is not read
        reading(5),
        "garbage seq 6",
        reading(7),
        '{"seq": 8, "temperature": }',  # not JSON, but its number is readable: 8 arrived
        reading(9),
        "seq 10 " + "x" * 3000,  # over the size limit, and not JSON: may be 10
        '{"device_id": "b", "seq": 11, "blob": "' + "y" * 3000 + '"}',  # over the limit, 11 readable
    ])
    assert (mapper.sequence.gaps, mapper.sequence.missing) == (0, 0)
    # ... but no more than that: 12 is its, 13 and 14 are missing, in the next batch as well.
    write(mapper, connection, ['{"seq":12,"temperature":'])
    write(mapper, connection, [reading(15), reading(16)])
    assert (mapper.sequence.gaps, mapper.sequence.missing) == (1, 2)
    # A message that shows no number does not excuse a gap, broken or not.
    write(mapper, connection, ["[1, 2]", reading(18), '{"device_id": "a", "seq":', b"\xff\xfe", reading(20)])
    assert (mapper.sequence.gaps, mapper.sequence.missing, mapper.sequence.resets) == (3, 4, 0)


def test_an_existing_table_is_used_as_it_is(connection: apsw.Connection) -> None:
    connection.execute("CREATE TABLE readings(id INTEGER PRIMARY KEY, device TEXT NOT NULL, value REAL)")
    mapper = MessageMapper("readings")
    prepare(mapper, connection)
    assert [column.name for column in mapper.columns] == ["id", "device", "value"]
    write(mapper, connection, [json.dumps({"device": "a", "value": 1.5}), json.dumps({"value": 2.0})])
    assert connection.execute("SELECT id, device, value FROM readings").fetchall() == [(1, "a", 1.5)]
    (reason,) = connection.execute(f"SELECT reason FROM {DEAD_LETTER_TABLE}").fetchone()
    assert "NOT NULL constraint failed" in reason


def test_explicit_columns_create_the_table_up_front(connection: apsw.Connection) -> None:
    mapper = MessageMapper("metrics", columns=parse_columns("name:TEXT,value:REAL"))
    prepare(mapper, connection)
    assert connection.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'metrics'").fetchone() == (1,)
    write(mapper, connection, [json.dumps({"name": "cpu", "value": 3}), json.dumps({"name": "x", "value": "y"})])
    assert connection.execute("SELECT name, value FROM metrics").fetchall() == [("cpu", 3.0)]


def test_raw_mode_refuses_an_unrelated_existing_table(connection: apsw.Connection) -> None:
    connection.execute("CREATE TABLE stream(a, b)")
    with pytest.raises(QueryError, match="received_at and payload"):
        prepare(MessageMapper("stream", raw=True), connection)


def test_a_view_is_not_a_target(connection: apsw.Connection) -> None:
    connection.execute("CREATE VIEW readings AS SELECT 1 AS x")
    with pytest.raises(QueryError, match="is a view"):
        prepare(MessageMapper("readings"), connection)


def test_insert_can_be_repeated_after_a_rollback(connection: apsw.Connection) -> None:
    """The writer retries a batch after a lock or a full disk: the second attempt must not double anything."""
    mapper = MessageMapper("readings")
    write(mapper, connection, [reading(1)])
    batch = mapper.map_batch([(1.0, [reading(2), json.dumps({"device_id": "d", "seq": 3, "temperature": "x"})])])
    sink = prepare(mapper, connection, batch)
    connection.exec_trace = lambda _cursor, sql, _bindings: sql.strip().upper() != "COMMIT"  # fail at the end
    with pytest.raises(apsw.ExecTraceAbort):
        sink.write_batch(batch, 1.0)
    connection.exec_trace = None
    sink.write_batch(batch, 1.0)
    assert connection.execute("SELECT count(*) FROM readings").fetchone() == (2,)
    assert connection.execute(f"SELECT count(*) FROM {DEAD_LETTER_TABLE}").fetchone() == (1,)


def test_objects_without_any_usable_field_wait_for_better_messages(connection: apsw.Connection) -> None:
    mapper = MessageMapper("readings")
    batch = write(mapper, connection, ["{}", json.dumps({"bad key": 1})])
    assert len(batch.dead) == 2 and mapper.columns is None
    write(mapper, connection, [reading(1)])
    assert connection.execute("SELECT count(*) FROM readings").fetchone() == (1,)
