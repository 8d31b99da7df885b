"""Growth per table from the rowid probe, and the "size growing but row count stable" flag, on real files."""

from __future__ import annotations

from pathlib import Path

import apsw

from desktop_app.core.database import connect_read
from desktop_app.core.growth import FLAG_CODE, GrowthTracker


def make(path: Path) -> apsw.Connection:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE log(id INTEGER PRIMARY KEY, line TEXT);"
        "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);"
        "CREATE TABLE tags(name TEXT PRIMARY KEY) WITHOUT ROWID;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
        "INSERT INTO docs(body) SELECT 'x' FROM n;"
    )
    return connection


def data_bytes(connection: apsw.Connection) -> int:
    return connection.execute("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size").fetchone()[0]


def test_rows_per_minute_and_estimated_rows_per_rowid_table(tmp_path: Path) -> None:
    writer = make(tmp_path / "g.db")
    reader = connect_read(tmp_path / "g.db")
    tracker = GrowthTracker()
    tracker.probe(reader, data_bytes(writer), now=0.0)
    assert set(tracker.tables) == {"log", "docs"}  # the WITHOUT ROWID table has no rowid to probe
    assert tracker.tables["docs"].rows == 100 and tracker.tables["docs"].rows_per_min is None
    writer.execute("INSERT INTO log(line) VALUES ('a'), ('b'), ('c')")
    writer.execute("DELETE FROM docs WHERE id <= 50")  # trimmed from the front, as queues are
    assert not tracker.due(now=1.0) and tracker.due(now=5.0)
    tracker.probe(reader, data_bytes(writer), now=30.0)
    assert tracker.tables["log"].rows == 3 and tracker.tables["log"].rows_per_min == 6.0
    assert tracker.tables["docs"].rows == 50 and tracker.tables["docs"].rows_per_min == 0.0
    assert not reader.in_transaction
    reader.close()
    writer.close()


def test_the_flag_when_bytes_grow_and_rows_stay(tmp_path: Path) -> None:
    writer = make(tmp_path / "g.db")
    reader = connect_read(tmp_path / "g.db")
    tracker = GrowthTracker(window_s=600)
    tracker.probe(reader, data_bytes(writer), now=0.0)
    assert tracker.flag() is None
    for minute in range(1, 11):  # documents rewritten bigger every minute: no new rows
        writer.execute("UPDATE docs SET body = body || zeroblob(20000)")
        tracker.probe(reader, data_bytes(writer), now=minute * 60.0)
    flag = tracker.flag()
    assert flag is not None and flag.code == FLAG_CODE and "about 100" in flag.message and "Space" in flag.message
    # Rows arriving with the bytes: no flag.
    appending = GrowthTracker(window_s=600)
    for minute in range(0, 11):
        writer.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
            "INSERT INTO log(line) SELECT hex(randomblob(100)) FROM n"
        )
        appending.probe(reader, data_bytes(writer), now=minute * 60.0)
    assert appending.flag() is None
    reader.close()
    writer.close()


def test_a_probe_over_its_budget_stops_and_says_nothing(tmp_path: Path) -> None:
    writer = make(tmp_path / "g.db")
    reader = connect_read(tmp_path / "g.db")
    tracker = GrowthTracker(budget_ms=0.0)
    tracker.probe(reader, data_bytes(writer), now=0.0)
    tracker.probe(reader, data_bytes(writer), now=600.0)
    assert tracker.flag() is None and not reader.in_transaction
    reader.close()
    writer.close()
