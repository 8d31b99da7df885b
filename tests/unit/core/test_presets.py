"""Presets on real files of each known layout (and their variants): detect finds exactly the right presets,
and every series it offers runs through query_series.run with the expected values."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import apsw
import pytest

from desktop_app.core.alerts import Alerts, parse_rule
from desktop_app.core.database import connect_read, create_database
from desktop_app.core.ingest.mapping import BINARY_MESSAGE, INVALID_JSON, Chunk, MessageMapper
from desktop_app.core.ingest.sink import SQLiteSink
from desktop_app.core.presets import PLACEHOLDER, PRESETS, Match, detect, read_tables
from desktop_app.core.query_series import QueryValue, check_sql, run


def make(path: Path, *statements: str, params: list[tuple[str, tuple[object, ...]]] | None = None) -> Path:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL")
    for statement in statements:
        connection.execute(statement)
    for sql, args in params or ():
        connection.execute(sql, args)
    connection.close()
    return path


@pytest.fixture
def reader() -> Iterator[list[apsw.Connection]]:
    opened: list[apsw.Connection] = []
    yield opened
    for connection in opened:
        connection.close()


def matches_of(path: Path, opened: list[apsw.Connection]) -> tuple[apsw.Connection, dict[str, Match]]:
    connection = connect_read(path)
    opened.append(connection)
    found = detect(connection)
    return connection, {match.preset.key: match for match in found}


def values(connection: apsw.Connection, match: Match) -> dict[str, QueryValue]:
    """Every series of the match, run as the sampler runs it; none may fail."""
    out = {}
    for series in match.series:
        assert check_sql(connection, series.sql) in (1, 2)
        value = run(connection, series)
        assert value.error == "", (series.name, value.error)
        assert not connection.in_transaction
        out[series.name] = value
    return out


def iso(seconds_ago: float) -> str:
    """A datetime as Django stores it in SQLite (UTC, microseconds)."""
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# -- SQLite Pulse's own ingest tables ---------------------------------------------------------------------


def ingest(path: Path, batches: list[tuple[float, list[str | bytes]]]) -> None:
    """Write batches through the writer's own sink and mapper: (committed_at, messages) each."""
    mapper = MessageMapper("readings", raw=True)
    sink = SQLiteSink(path, mapper)
    sink.open()
    try:
        for committed_at, messages in batches:
            chunk: Chunk = (committed_at - 0.01, list(messages))
            batch = mapper.map_batch([chunk])
            sink.prepare(mapper.settle(sink.existing_columns("readings"), batch))
            sink.write_batch(batch, committed_at)
    finally:
        sink.close()


def test_pulse_ingest_tables(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = tmp_path / "ingest.db"
    now = time.time()
    ingest(path, [
        (now - 180, ['{"a": 1}', "nope", "nope"]),  # three minutes ago: outside every window
        (now - 20, ['{"a": 2}', '{"a": 3}', "{broken", b"\x00\x01"]),
        (now - 5, ['{"a": 4}', "not json either"]),
    ])
    connection, found = matches_of(path, reader)
    assert set(found) == {"pulse_ingest"}
    match = found["pulse_ingest"]
    assert match.tables == ("pulse_dead_letters", "pulse_ingest_batches")
    got = values(connection, match)
    assert set(got) == {"ingest_dead_letters", "ingest_rows", "ingest_batches", "ingest_lag"}
    # Reasons without their details (the part after ':'), so one line per kind of failure.
    assert got["ingest_dead_letters"].labels == {INVALID_JSON: 2.0, BINARY_MESSAGE: 1.0}
    assert got["ingest_dead_letters"].value == 3.0
    assert got["ingest_rows"].value == 3.0
    assert got["ingest_batches"].value == 2.0
    lag = got["ingest_lag"].value
    assert lag is not None and 4.0 <= lag <= 60.0
    assert all(series.sql.count("{") == 0 for series in match.series)


def test_a_quiet_minute_is_zero_and_clears_the_rule(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = tmp_path / "ingest.db"
    ingest(path, [(time.time() - 3, ["bad"])])
    connection, found = matches_of(path, reader)
    series = next(item for item in found["pulse_ingest"].series if item.name == "ingest_dead_letters")
    alerts = Alerts([parse_rule(series.rule, query=series.name)])
    first = run(connection, series)
    assert first.labels == {INVALID_JSON: 1.0}
    assert [state.firing for state in alerts.update([first])] == [True]
    quiet = connection_with_old_ledger(path, reader)
    second = run(quiet, series)
    # No dead letter in the window: a value of 0 with no labels (not "no value"), so the alert clears.
    assert (second.value, second.labels, second.error) == (0.0, {}, "")
    assert [state.firing for state in alerts.update([second])] == [False]


def connection_with_old_ledger(path: Path, opened: list[apsw.Connection]) -> apsw.Connection:
    """The same file with its batches moved two minutes back."""
    writer = apsw.Connection(str(path))
    writer.execute("UPDATE pulse_ingest_batches SET committed_at = committed_at - 120")
    writer.close()
    connection = connect_read(path)
    opened.append(connection)
    return connection


def test_an_empty_ledger_has_no_lag_yet(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = tmp_path / "ingest.db"
    sink = SQLiteSink(path, MessageMapper("readings", raw=True))
    sink.open()
    sink.prepare(None)  # the writer creates both ingest tables before its first batch
    sink.close()
    connection, found = matches_of(path, reader)
    got = values(connection, found["pulse_ingest"])
    assert got["ingest_lag"].value is None
    assert (got["ingest_rows"].value, got["ingest_batches"].value, got["ingest_dead_letters"].value) == (0, 0, 0)


def test_a_commit_stamped_after_sqlites_clock_is_no_negative_lag(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    # SQLite's unixepoch('subsec') is in whole milliseconds, the commit's time is not; a clock step does the same.
    path = tmp_path / "ingest.db"
    ingest(path, [(time.time() + 5, ['{"a": 1}'])])
    connection, found = matches_of(path, reader)
    assert values(connection, found["pulse_ingest"])["ingest_lag"].value == 0.0


# -- an event store ---------------------------------------------------------------------------------------


def test_event_store_with_unix_seconds(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    now = time.time()
    path = make(
        tmp_path / "store.db",
        "CREATE TABLE events(global_position INTEGER PRIMARY KEY, stream TEXT, type TEXT, data TEXT)",
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, payload TEXT, created_at REAL NOT NULL, sent_at REAL)",
        "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, error TEXT, resolved_at TEXT)",
        "CREATE TABLE checkpoints(name TEXT PRIMARY KEY, position INTEGER)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) "
        "INSERT INTO events(global_position, stream, type) SELECT i, 's', 't' FROM n",
        "INSERT INTO dead_letters(error, resolved_at) VALUES ('x', NULL), ('y', NULL), ('z', '2024-05-01 10:00:00')",
        "INSERT INTO checkpoints VALUES ('orders', 10), ('billing', 7), ('new_one', NULL)",
        params=[
            ("INSERT INTO outbox(payload, created_at, sent_at) VALUES ('a', ?, NULL), ('b', ?, NULL), "
             "('c', ?, NULL), ('d', ?, ?)", (now - 600, now - 30, now - 1, now - 900, now - 899)),
        ],
    )
    connection, found = matches_of(path, reader)
    assert set(found) == {"event_store"}
    match = found["event_store"]
    assert set(match.tables) == {"outbox", "dead_letters", "events", "checkpoints"}
    got = values(connection, match)
    assert list(got) == ["outbox_pending", "outbox_oldest_age", "dead_letters_unresolved", "projection_lag"]
    assert got["outbox_pending"].value == 3.0  # the sent one is not pending
    oldest = got["outbox_oldest_age"].value
    assert oldest is not None and 599.0 <= oldest <= 660.0
    assert got["dead_letters_unresolved"].value == 2.0
    assert got["projection_lag"].labels == {"orders": 0.0, "billing": 3.0, "new_one": 10.0}
    rules = {series.name: series.rule for series in match.series}
    assert rules["dead_letters_unresolved"] == "> 0"


def test_event_store_with_other_names_and_iso_text(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = make(
        tmp_path / "store.db",
        "CREATE TABLE event_log(id INTEGER PRIMARY KEY, body TEXT)",
        "CREATE TABLE Outbox_Messages(id INTEGER PRIMARY KEY, occurred_at TEXT, Published_At TEXT)",
        "CREATE TABLE dlq(id INTEGER PRIMARY KEY, resolved INTEGER NOT NULL DEFAULT 0)",
        "CREATE TABLE projection_checkpoints(projection TEXT, global_position INTEGER)",
        "INSERT INTO event_log(id, body) VALUES (41, 'x'), (42, 'y')",
        "INSERT INTO dlq(resolved) VALUES (0), (1), (0), (0)",
        "INSERT INTO projection_checkpoints VALUES ('search', 40), ('mail', 42)",
        params=[
            ("INSERT INTO outbox_messages(occurred_at, published_at) VALUES (?, NULL), (?, NULL), (?, ?)",
             (iso(120), iso(10), iso(5000), iso(4990))),
        ],
    )
    connection, found = matches_of(path, reader)
    assert set(found) == {"event_store"}
    match = found["event_store"]
    assert '"Published_At"' in match.series[0].sql and '"Outbox_Messages"' in match.series[0].sql
    got = values(connection, match)
    assert got["outbox_pending"].value == 2.0
    oldest = got["outbox_oldest_age"].value
    assert oldest is not None and 119.0 <= oldest <= 180.0
    assert got["dead_letters_unresolved"].value == 3.0
    assert got["projection_lag"].labels == {"search": 2.0, "mail": 0.0}


def test_an_outbox_alone_still_offers_its_two_series(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    now_ms = int(time.time() * 1000)
    path = make(
        tmp_path / "app.db",
        "CREATE TABLE outbox(id INTEGER PRIMARY KEY, enqueued_at INTEGER, dispatched_at INTEGER)",
        "CREATE TABLE checkpoints(name TEXT, position INTEGER)",  # no event log: no lag to measure
        params=[("INSERT INTO outbox(enqueued_at, dispatched_at) VALUES (?, NULL), (?, ?)",
                 (now_ms - 90_000, now_ms - 5000, now_ms))],
    )
    connection, found = matches_of(path, reader)
    match = found["event_store"]
    assert [series.name for series in match.series] == ["outbox_pending", "outbox_oldest_age"]
    assert match.tables == ("outbox",)
    got = values(connection, match)
    assert got["outbox_pending"].value == 1.0
    oldest = got["outbox_oldest_age"].value  # milliseconds since the epoch, read as such
    assert oldest is not None and 89.0 <= oldest <= 150.0


def test_nothing_pending_is_zero_not_missing(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = make(tmp_path / "app.db", "CREATE TABLE outbox(id INTEGER PRIMARY KEY, created_at REAL, sent_at REAL)")
    connection, found = matches_of(path, reader)
    got = values(connection, found["event_store"])
    assert got["outbox_pending"].value == 0.0 and got["outbox_oldest_age"].value == 0.0


# -- Django Channels on SQLite ----------------------------------------------------------------------------


def test_channels_lite(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    # The table as Django's migration creates it on SQLite (channels-lite 0001 + 0002).
    path = make(
        tmp_path / "db.sqlite3",
        'CREATE TABLE "channels_lite_event" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"created_at" datetime NOT NULL, "expires_at" datetime NOT NULL, "channel_name" varchar(100) NOT NULL, '
        '"data" text NOT NULL CHECK ((JSON_VALID("data") OR "data" IS NULL)), "delivered" bool NOT NULL)',
        'CREATE INDEX "channels_lite_event_expires_at" ON "channels_lite_event" ("expires_at")',
        'CREATE TABLE "channels_lite_groupmembership" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"group_name" varchar NOT NULL, "channel_name" varchar NOT NULL, "expires_at" datetime NOT NULL, '
        '"joined_at" datetime NOT NULL)',
        params=[
            ("INSERT INTO channels_lite_event(created_at, expires_at, channel_name, data, delivered) VALUES "
             "(?1, ?2, 'chat.a', '{}', 0), (?1, ?2, 'chat.a', '{}', 0), (?1, ?2, 'chat.a', '{}', 0), "
             "(?1, ?2, 'chat.a', '{}', 1), (?1, ?2, 'chat.b', '{}', 0), "
             "(?1, ?3, 'chat.a', '{}', 0), (?1, ?3, 'chat.c', '{}', 1)",
             (iso(70), iso(-50), iso(10))),
        ],
    )
    connection, found = matches_of(path, reader)
    assert set(found) == {"django_channels"}
    match = found["django_channels"]
    assert match.tables == ("channels_lite_event",)
    assert '"delivered"' in match.series[0].sql  # the variant with the flag
    got = values(connection, match)
    assert got["channel_queued"].labels == {"chat.a": 3.0, "chat.b": 1.0}
    assert got["channel_expired"].value == 2.0


def test_channels_1_database_layer(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = make(
        tmp_path / "db.sqlite3",
        'CREATE TABLE "django_channels" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"channel" varchar(200) NOT NULL, "content" text NOT NULL, "expiry" datetime NOT NULL)',
        params=[
            ("INSERT INTO django_channels(channel, content, expiry) VALUES "
             "('http.request', '{}', ?1), ('http.request', '{}', ?1), ('websocket.send!x', '{}', ?1), "
             "('http.request', '{}', ?2)", (iso(-30), iso(5))),
        ],
    )
    connection, found = matches_of(path, reader)
    match = found["django_channels"]
    assert [series.name for series in match.series] == ["channel_queued", "channel_expired"]
    got = values(connection, match)
    assert got["channel_queued"].labels == {"http.request": 2.0, "websocket.send!x": 1.0}
    assert got["channel_expired"].value == 1.0
    empty = make(tmp_path / "empty.sqlite3", 'CREATE TABLE "django_channels" ("id" integer PRIMARY KEY, '
                 '"channel" varchar(200), "content" text, "expiry" datetime)')
    connection, found = matches_of(empty, reader)
    got = values(connection, found["django_channels"])
    assert (got["channel_queued"].value, got["channel_queued"].labels, got["channel_expired"].value) == (0, {}, 0)


# -- what is not a known layout ---------------------------------------------------------------------------


def test_unrelated_files_match_nothing(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    database = create_database(tmp_path / "new.db")
    connection = database.connect_read()
    reader.append(connection)
    assert detect(connection) == []
    writer = database.connect_write()
    writer.execute("CREATE TABLE readings(id INTEGER PRIMARY KEY, value REAL)")
    writer.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT)")  # an event log alone says nothing
    writer.execute("CREATE TABLE outbox(id INTEGER PRIMARY KEY, body TEXT)")  # no sent column: not an outbox
    writer.execute("CREATE VIRTUAL TABLE dlq USING fts5(body)")  # virtual: not read, not matched
    writer.close()
    assert detect(connection) == []


def test_detect_reads_only_the_schema(tmp_path: Path, reader: list[apsw.Connection]) -> None:
    path = make(tmp_path / "store.db", "CREATE TABLE outbox(id INTEGER PRIMARY KEY, created_at REAL, sent_at REAL)",
                "CREATE TABLE dead_letters(id INTEGER PRIMARY KEY, resolved_at TEXT)")
    connection = connect_read(path)
    reader.append(connection)
    read: set[str] = set()

    def authorizer(code: int, first: str | None, second: str | None, database: str | None, trigger: str | None) -> int:
        if code == apsw.SQLITE_READ and first:
            read.add(first.lower())
        return apsw.SQLITE_OK

    connection.authorizer = authorizer
    tables = read_tables(connection)
    assert set(tables) == {"outbox", "dead_letters"} and "sent_at" in tables["outbox"][1]
    assert "sqlite_master" in read  # the authorizer saw the reads (the check below is not vacuous)
    assert read <= {"sqlite_schema", "sqlite_master", "json_each", "pragma_table_info"}


def test_every_template_is_offered_somewhere() -> None:
    """Each declared series names only tables and columns its preset declares (else it could never match)."""
    for preset in PRESETS:
        declared = {table.key: {column for column, _ in table.columns} for table in preset.requires}
        for series in preset.series:
            for key, column in PLACEHOLDER.findall(series.sql):
                assert key in declared, (preset.key, series.name, key)
                assert not column or column in declared[key], (preset.key, series.name, column)
