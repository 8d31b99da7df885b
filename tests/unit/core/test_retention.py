"""Retention on real files: parsing, the rows/time/bytes policies through the real pipeline, the chunk bound,
the ledger reconciling with trimmed rows counted (and after folding), and an old ledger migrated in place."""

from __future__ import annotations

import json
import time
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_write, create_database
from desktop_app.core.ingest import IngestConfig, IngestError
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE
from desktop_app.core.ingest.retention import (
    FREELIST_KEEP_PAGES,
    Retention,
    RetentionError,
    TableTrimmer,
    chunk_for,
    fold_ledger,
    parse_duration,
    parse_rows,
    parse_size,
    table_bytes,
    trim_table,
)
from desktop_app.core.ingest.session import ingest_file
from tests.scenarios import rows


def recording(path: Path, count: int, *, ts: float | None = None, step: float = 0.0, bad_every: int = 0,
              pad: int = 0) -> Path:
    """An NDJSON stream of `count` readings; `ts` (Unix seconds) advances by `step`; every `bad_every`-th is not JSON."""
    start = time.time() if ts is None else ts
    with path.open("w") as out:
        for i in range(count):
            if bad_every and i % bad_every == bad_every - 1:
                out.write("{not json\n")
            else:
                reading = {"seq": i + 1, "ts": start + i * step, "value": i * 0.5, "tag": f"d{i % 7}"}
                out.write(json.dumps({**reading, "pad": "x" * pad} if pad else reading) + "\n")
    return path


def ingest(source: Path, db: Path, **options: object) -> object:
    return ingest_file(source, IngestConfig(url="file://" + str(source), db_path=db, **options))  # type: ignore[arg-type]


def reconciles(db: Path, table: str = "readings") -> tuple[int, int]:
    """(sum(rows) - sum(trimmed) over the ledger, count(*) of the table)."""
    ledger = rows(db, f"SELECT sum(rows) - sum(trimmed) FROM {BATCH_LEDGER_TABLE} WHERE target_table = '{table}'")
    return ledger[0][0], rows(db, f"SELECT count(*) FROM {table}")[0][0]


def test_parsing_what_people_type() -> None:
    assert [parse_rows(t) for t in ("1000000", "1,000,000", "1_000_000", "250k", "1M")] == [
        1_000_000, 1_000_000, 1_000_000, 250_000, 1_000_000]
    assert [parse_duration(t) for t in ("90s", "30m", "12h", "7d", "2w", "45", "1.5h")] == [
        90, 1800, 43_200, 604_800, 1_209_600, 45, 5400]
    assert [parse_size(t) for t in ("500MB", "2GiB", "64kB", "4096", "1.5 MiB")] == [
        500_000_000, 2 << 30, 64_000, 4096, 1_572_864]
    for parse, bad in ((parse_rows, "0"), (parse_rows, "-3"), (parse_rows, "many"), (parse_duration, "7x"),
                       (parse_duration, "0s"), (parse_size, "5 parsecs"), (parse_size, "0MB")):
        with pytest.raises(ValueError):
            parse(bad)
    assert chunk_for(1) == 256 and chunk_for(1024) == 2048 and chunk_for(100_000) == 16_384


def test_config_refuses_what_cannot_work(tmp_path: Path) -> None:
    base = {"url": "file:///x", "db_path": tmp_path / "x.db"}
    with pytest.raises(IngestError, match="SQLite files only"):
        IngestConfig(url="ws://h:1/", db_path="postgresql://u@h/d", retain_rows=5).validated()
    with pytest.raises(IngestError, match="needs a retention age"):
        IngestConfig(**base, retain_time_column="ts").validated()  # type: ignore[arg-type]
    with pytest.raises(IngestError, match="retain rows"):
        IngestConfig(**base, retain_rows=0).validated()  # type: ignore[arg-type]
    config = IngestConfig(**base, retain_rows=10, retain_ledger_seconds=60).validated()  # type: ignore[arg-type]
    assert IngestConfig.from_document(config.to_document()).retention() == config.retention()


def test_rows_policy_keeps_exactly_n_and_the_ledger_reconciles(tmp_path: Path) -> None:
    db = tmp_path / "rows.db"
    source = recording(tmp_path / "s.ndjson", 20_000, bad_every=97)
    stats = ingest(source, db, retain_rows=1000, batch_rows=256)
    assert stats.written > 19_000  # type: ignore[attr-defined]
    assert reconciles(db) == (1000, 1000)
    newest = rows(db, "SELECT min(seq), max(seq) FROM readings")[0]
    assert newest[1] == 20_000 and rows(db, "SELECT count(DISTINCT seq) FROM readings")[0][0] == 1000
    # A second run into the same table: the running count starts from count(*), still exact.
    ingest(source, db, retain_rows=500)
    assert reconciles(db) == (500, 500)


def test_one_call_never_deletes_more_than_its_chunk(tmp_path: Path) -> None:
    db = tmp_path / "chunk.db"
    ingest(recording(tmp_path / "s.ndjson", 5000), db)
    connection = connect_write(db)
    try:
        trimmer = TableTrimmer(Retention(rows=10), "readings")
        deleted = []
        for seq in range(40):
            connection.execute("BEGIN IMMEDIATE")
            trimmer.before_rows(connection)
            connection.execute("INSERT INTO readings(seq) VALUES (?)", (10_000 + seq,))
            deleted.append(trimmer.trim(connection, 1, time.time()).rows)
            connection.execute("COMMIT")
            trimmer.committed()
        assert max(deleted) <= chunk_for(1) == 256
        assert sum(deleted) == 5030 and deleted[-1] == 1  # steady: one in, one out
        assert rows(db, "SELECT count(*), min(seq) FROM readings")[0] == (10, 10_030)
        # Another process deletes rows under it: the guard keeps the newest 10, and the count is taken again.
        connection.execute("DELETE FROM readings WHERE seq < 10_035")
        for seq in range(40, 60):
            connection.execute("BEGIN IMMEDIATE")
            trimmer.before_rows(connection)
            connection.execute("INSERT INTO readings(seq) VALUES (?)", (10_000 + seq,))
            trimmer.trim(connection, 1, time.time())
            connection.execute("COMMIT")
            trimmer.committed()
            assert rows(db, "SELECT count(*) FROM readings")[0][0] == min(10, 5 + seq - 39)
    finally:
        connection.close()


@pytest.mark.parametrize("indexed", [False, True])
def test_time_policy_deletes_only_rows_older_than_the_cutoff(tmp_path: Path, indexed: bool) -> None:
    db = tmp_path / "time.db"
    now = time.time()
    ingest(recording(tmp_path / "old.ndjson", 3000, ts=now - 7200, step=1.0), db)  # 2 h to 70 min ago
    connection = connect_write(db)
    try:
        if indexed:
            connection.execute("CREATE INDEX readings_ts ON readings(ts)")
        connection.execute("UPDATE readings SET ts = ? WHERE rowid = 100", (now,))  # recent, out of order
    finally:
        connection.close()
    recent = recording(tmp_path / "new.ndjson", 2000, ts=now - 60, step=0.01)
    ingest(recent, db, retain_seconds=3600, retain_time_column="ts", batch_rows=100)
    cutoff = now - 3600
    assert rows(db, f"SELECT count(*) FROM readings WHERE ts >= {cutoff}") == [(2000 + 1,)]  # nothing recent went
    assert rows(db, "SELECT count(*) FROM readings WHERE rowid = 100") == [(1,)]
    old = rows(db, f"SELECT count(*) FROM readings WHERE ts < {cutoff}")[0][0]
    if indexed:  # the index finds every old row
        assert old == 0
    else:  # rowid order stands for time: the old prefix before the out-of-order row went; the rest waits
        assert rows(db, "SELECT min(rowid) FROM readings") == [(100,)] and old == 3000 - 100
    ledger, count = reconciles(db)
    assert ledger == count


def test_time_policy_needs_a_time_column(tmp_path: Path) -> None:
    db = tmp_path / "notime.db"
    source = recording(tmp_path / "s.ndjson", 300)
    with pytest.raises(Exception, match="no column received_at"):
        ingest(source, db, retain_seconds=60)
    connection = connect_write(db)
    try:
        with pytest.raises(RetentionError, match="tag is TEXT"):
            trim_table(connection, "readings", Retention(seconds=60, time_column="tag"))
        with pytest.raises(RetentionError, match="no table nope"):
            trim_table(connection, "nope", Retention(rows=1))
    finally:
        connection.close()


def test_raw_mode_keeps_the_last_seconds_by_received_at(tmp_path: Path) -> None:
    db = tmp_path / "raw.db"
    ingest(recording(tmp_path / "s.ndjson", 2000), db, raw=True)
    connection = connect_write(db)
    try:
        connection.execute("UPDATE readings SET received_at = received_at - 3600 WHERE id <= 1500")
    finally:
        connection.close()
    # A file is handed over in chunks of 256 messages: 6 batches, each may delete 512 >= 1500 in all.
    ingest(recording(tmp_path / "t.ndjson", 1500), db, raw=True, retain_seconds=600)
    assert rows(db, "SELECT count(*), min(id) FROM readings")[0] == (2000, 1501)
    assert reconciles(db) == (2000, 2000)


def test_bytes_policy_keeps_the_table_near_its_cap(tmp_path: Path) -> None:
    db = tmp_path / "bytes.db"
    cap = 300_000
    ingest(recording(tmp_path / "s.ndjson", 40_000), db, retain_bytes=cap, batch_rows=512)
    connection = connect_write(db)
    try:
        size = table_bytes(connection, "readings")
    finally:
        connection.close()
    assert cap * 0.8 <= size <= cap * 1.1, size
    assert reconciles(db)[0] == reconciles(db)[1] < 40_000


def test_dead_letters_and_ledger_have_their_own_retention(tmp_path: Path) -> None:
    db = tmp_path / "dl.db"
    ingest(recording(tmp_path / "s.ndjson", 5000, bad_every=10), db, batch_rows=64)
    connection = connect_write(db)
    try:
        connection.execute("UPDATE pulse_dead_letters SET received_at = received_at - 7200")
        connection.execute(f"UPDATE {BATCH_LEDGER_TABLE} SET committed_at = committed_at - 7200")
        before = connection.execute(f"SELECT count(*), sum(rows), sum(dead_letters) FROM {BATCH_LEDGER_TABLE}").fetchall()[0]
    finally:
        connection.close()
    new = 256 * 66  # 66 batches of a file's 256-message chunks: the ledger is folded at the 64th
    ingest(recording(tmp_path / "t.ndjson", new), db, batch_rows=256, retain_dead_letters_seconds=3600,
           retain_ledger_seconds=3600)
    assert rows(db, "SELECT count(*) FROM pulse_dead_letters")[0][0] == 0
    ledger = rows(db, f"SELECT count(*), sum(rows), sum(dead_letters) - sum(trimmed_dead_letters), sum(trimmed) "
                      f"FROM {BATCH_LEDGER_TABLE}")[0]
    assert rows(db, f"SELECT count(*) FROM {BATCH_LEDGER_TABLE} WHERE committed_at < {time.time() - 3600}") == [(1,)]
    assert before[0] > 1 and ledger[0] == 1 + 66
    assert ledger[1] == before[1] + new == rows(db, "SELECT count(*) FROM readings")[0][0]
    assert ledger[2] == 0 and ledger[3] == 0


def test_fold_ledger_keeps_every_sum(tmp_path: Path) -> None:
    db = tmp_path / "fold.db"
    ingest(recording(tmp_path / "s.ndjson", 3000), db, batch_rows=50, retain_rows=1000)
    connection = connect_write(db)
    try:
        sums = f"SELECT target_table, sum(rows), sum(dead_letters), sum(trimmed) FROM {BATCH_LEDGER_TABLE} GROUP BY 1"
        before = connection.execute(sums).fetchall()
        count = connection.execute(f"SELECT count(*) FROM {BATCH_LEDGER_TABLE}").fetchall()[0][0]
        connection.execute("BEGIN IMMEDIATE")
        removed = fold_ledger(connection, time.time() + 1, 5)  # the 5 oldest become 1
        connection.execute("COMMIT")
        assert removed == 4 and count > 5
        assert connection.execute(f"SELECT count(*) FROM {BATCH_LEDGER_TABLE}").fetchall()[0][0] == count - 4
        while fold_ledger(connection, time.time() + 1, 1000):
            pass
        assert connection.execute(f"SELECT count(*) FROM {BATCH_LEDGER_TABLE}").fetchall()[0][0] == 1
        assert connection.execute(sums).fetchall() == before
    finally:
        connection.close()
    assert reconciles(db) == (1000, 1000)


OLD_LEDGER = (
    f"CREATE TABLE {BATCH_LEDGER_TABLE}(id INTEGER PRIMARY KEY, target_table TEXT NOT NULL, committed_at REAL "
    "NOT NULL, rows INTEGER NOT NULL, dead_letters INTEGER NOT NULL, first_seq INTEGER, last_seq INTEGER) STRICT"
)


def test_an_old_ledger_gains_the_trimmed_columns_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    create_database(db)
    connection = apsw.Connection(str(db))
    connection.execute(OLD_LEDGER)
    connection.execute(f"INSERT INTO {BATCH_LEDGER_TABLE}(target_table, committed_at, rows, dead_letters) "
                       "VALUES ('readings', 1, 0, 0)")
    connection.close()
    ingest(recording(tmp_path / "s.ndjson", 2000), db, retain_rows=300)
    columns = [name for (name,) in rows(db, f"SELECT name FROM pragma_table_info('{BATCH_LEDGER_TABLE}')")]
    assert columns[-2:] == ["trimmed", "trimmed_dead_letters"]
    assert rows(db, f"SELECT trimmed FROM {BATCH_LEDGER_TABLE} WHERE id = 1") == [(0,)]
    assert reconciles(db) == (300, 300)


def test_trim_counts_on_a_dry_run_and_deletes_in_chunks(tmp_path: Path) -> None:
    db = tmp_path / "trim.db"
    ingest(recording(tmp_path / "s.ndjson", 10_000), db)
    connection = connect_write(db)
    try:
        dry = trim_table(connection, "readings", Retention(rows=2500), dry_run=True)
        assert (dry.deleted, dry.chunks) == (7500, 0)
        assert connection.execute("SELECT count(*) FROM readings").fetchall()[0][0] == 10_000
        seen: list[int] = []
        done = trim_table(connection, "readings", Retention(rows=2500), chunk=1000, progress=seen.append)
        assert (done.deleted, done.chunks, done.rows_before) == (7500, 8, 10_000)
        assert seen == [1000, 2000, 3000, 4000, 5000, 6000, 7000, 7500] and done.freelist_pages > 0
        assert connection.execute("SELECT min(seq), count(*) FROM readings").fetchall()[0] == (7501, 2500)
    finally:
        connection.close()


@pytest.mark.parametrize("incremental", [False, True])
def test_an_incremental_auto_vacuum_file_gives_pages_back(tmp_path: Path, incremental: bool) -> None:
    db = tmp_path / "inc.db"
    if incremental:  # set before the file's first page is written (WAL writes it)
        connection = apsw.Connection(str(db))
        connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
        connection.execute("PRAGMA journal_mode = WAL").fetchall()
        connection.close()
        assert rows(db, "SELECT auto_vacuum FROM pragma_auto_vacuum") == [(2,)]
    else:
        create_database(db)
    ingest(recording(tmp_path / "s.ndjson", 100_000, pad=400), db)
    # 100 batches may delete 512 rows each while inserting 256: about 25k rows' pages more freed than reused.
    ingest(recording(tmp_path / "t.ndjson", 256 * 100, pad=400), db, batch_rows=256, retain_rows=1000)
    free = rows(db, "SELECT freelist_count FROM pragma_freelist_count")[0][0]
    if incremental:
        assert free <= FREELIST_KEEP_PAGES  # the rest went back to the file system, a bounded amount per batch
    else:
        assert free > FREELIST_KEEP_PAGES  # kept for the next inserts
    trimmed = rows(db, "SELECT sum(trimmed) FROM pulse_ingest_batches")[0][0]
    assert trimmed == 512 * 100 and reconciles(db) == (100_000 + 256 * 100 - trimmed,) * 2
