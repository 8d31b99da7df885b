"""The WAL writer on real files: batching, flush on stop, a held lock, a full disk, fatal errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_write, create_database, pragma
from desktop_app.core.errors import NotADatabase
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, MessageMapper
from desktop_app.core.ingest.writer import BatchWriter, WriterConfig
from tests.scenarios import rows

WAIT_S = 20.0  # generous upper bound for things that happen "soon"; never a speed assertion


def messages(first: int, count: int) -> list[str]:
    return [json.dumps({"device": f"d{i % 4}", "seq": i, "value": i / 2}) for i in range(first, first + count)]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def count(path: Path, sql: str) -> int:
    return rows(path, sql)[0][0]


@pytest.fixture
def writer_factory(tmp_path: Path):
    writers: list[BatchWriter] = []

    def make(config: WriterConfig | None = None, path: Path | None = None, **kwargs) -> BatchWriter:
        writer = BatchWriter(path or tmp_path / "ingest.db", MessageMapper("readings"), config, **kwargs)
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        writer.stop()
        assert not writer.alive


def test_new_file_is_created_in_wal_mode_and_everything_is_flushed_on_stop(writer_factory, tmp_path: Path) -> None:
    commits: list[tuple[int, float]] = []
    writer = writer_factory(WriterConfig(batch_rows=100), on_commit=lambda rows, ms: commits.append((rows, ms)))
    writer.start()
    for first in range(1, 1001, 250):
        assert writer.submit((time.time(), messages(first, 250)))
    stats = writer.stop()
    assert (stats.queued, stats.written, stats.dead_letters, stats.queue_depth) == (1000, 1000, 0, 0)
    assert stats.state == "stopped" and stats.journal_mode == "wal"
    assert sum(rows for rows, _ms in commits) == 1000 and stats.batches == len(commits)
    path = tmp_path / "ingest.db"
    assert count(path, "SELECT count(*) FROM readings") == 1000
    assert count(path, f"SELECT sum(rows) FROM {BATCH_LEDGER_TABLE}") == 1000
    assert count(path, "SELECT count(DISTINCT seq) FROM readings") == 1000


def test_a_batch_commits_by_row_count(writer_factory, tmp_path: Path) -> None:
    writer = writer_factory(WriterConfig(batch_rows=300, batch_ms=100))
    writer.start()
    for first in range(1, 1201, 100):
        writer.submit((time.time(), messages(first, 100)))
    writer.stop()
    sizes = [rows for (rows,) in apsw.Connection(str(tmp_path / "ingest.db")).execute(
        f"SELECT rows FROM {BATCH_LEDGER_TABLE} ORDER BY id"
    )]
    assert sum(sizes) == 1200
    assert all(size <= 300 for size in sizes)


def test_a_small_batch_commits_by_time_without_a_stop(writer_factory, tmp_path: Path) -> None:
    writer = writer_factory(WriterConfig(batch_rows=10_000, batch_ms=20))
    writer.start()
    writer.submit((time.time(), messages(1, 5)))
    wait_until(lambda: writer.stats().written == 5)
    assert writer.alive
    assert count(tmp_path / "ingest.db", "SELECT count(*) FROM readings") == 5


def test_an_existing_rollback_journal_database_keeps_its_mode(writer_factory, delete_mode_db: Path) -> None:
    writer = writer_factory(path=delete_mode_db)
    writer.start()
    writer.submit((time.time(), messages(1, 10)))
    stats = writer.stop()
    assert stats.journal_mode == "delete" and stats.written == 10
    connection = apsw.Connection(str(delete_mode_db))
    assert pragma(connection, "journal_mode") == "delete"
    assert connection.execute("SELECT count(*) FROM notes").fetchone() == (200,)  # the user's data is untouched
    connection.close()


def test_a_held_write_lock_is_waited_on_and_nothing_is_lost(writer_factory, tmp_path: Path) -> None:
    path = tmp_path / "ingest.db"
    create_database(path)
    writer = writer_factory(WriterConfig(batch_rows=50, busy_timeout_ms=50), path=path)
    writer.start()
    holder = connect_write(path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        writer.submit((time.time(), messages(1, 120)))
        wait_until(lambda: writer.stats().state == "paused")
        stats = writer.stats()
        assert "locked" in stats.pause_reason and stats.written == 0 and stats.queue_depth == 120
    finally:
        holder.execute("COMMIT")
        holder.close()
    wait_until(lambda: writer.stats().written == 120)
    assert writer.stats().state == "running" and writer.stats().pause_reason is None


def test_a_full_disk_pauses_with_a_reason_and_resumes_when_space_frees(writer_factory, tmp_path: Path) -> None:
    path = tmp_path / "ingest.db"
    create_database(path)
    writer = writer_factory(WriterConfig(batch_rows=500, retry_interval_s=0.05), path=path)
    writer.start()
    writer.submit((time.time(), messages(1, 10)))
    wait_until(lambda: writer.stats().written == 10)
    pages = count(path, "PRAGMA page_count")
    writer.set_max_page_count(pages)  # the file may not grow any more: the next batch cannot fit
    writer.submit((time.time(), messages(11, 2000)))
    wait_until(lambda: writer.stats().state == "paused")
    stats = writer.stats()
    assert "full" in stats.pause_reason and "resumes by itself" in stats.pause_reason
    assert stats.written == 10 and stats.queue_depth == 2000
    writer.set_max_page_count(None)
    wait_until(lambda: writer.stats().written == 2010)
    final = writer.stop()
    assert (final.written, final.unwritten, final.dead_letters) == (2010, 0, 0)
    assert count(path, "SELECT count(DISTINCT seq) FROM readings") == 2010


def test_the_queue_is_bounded(writer_factory, tmp_path: Path) -> None:
    path = tmp_path / "ingest.db"
    create_database(path)
    writer = writer_factory(WriterConfig(max_queued_rows=300, batch_rows=100, busy_timeout_ms=20), path=path)
    writer.start()
    holder = connect_write(path)
    holder.execute("BEGIN IMMEDIATE")  # keep the writer from draining the queue
    try:
        accepted = [writer.submit((time.time(), messages(i * 100 + 1, 100))) for i in range(6)]
        assert accepted.count(True) in (3, 4)  # 300 queued plus at most one batch taken by the thread
        assert not writer.has_room()
        assert writer.submit((time.time(), messages(9001, 100)), force=True)
    finally:
        holder.execute("COMMIT")
        holder.close()
    stats = writer.stop()
    assert stats.written == stats.queued and stats.unwritten == 0


def test_a_flush_deadline_gives_up_and_counts_what_was_not_written(writer_factory, tmp_path: Path) -> None:
    path = tmp_path / "ingest.db"
    create_database(path)
    writer = writer_factory(WriterConfig(busy_timeout_ms=20, flush_timeout_s=0.3), path=path)
    writer.start()
    holder = connect_write(path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        writer.submit((time.time(), messages(1, 40)))
        stats = writer.stop()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (stats.written, stats.unwritten, stats.queue_depth) == (0, 40, 0)
    assert "Gave up" in stats.last_error


def test_a_file_that_is_not_a_database_is_refused_at_start(writer_factory, tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("hello, I am text\n" * 20)
    writer = writer_factory(path=path)
    with pytest.raises(NotADatabase):
        writer.start()
    assert not writer.alive


def test_a_fatal_error_stops_the_writer_and_counts_the_rest(writer_factory, tmp_path: Path) -> None:
    writer = writer_factory(WriterConfig(batch_rows=10))
    writer.start()
    writer.submit((time.time(), messages(1, 10)))
    wait_until(lambda: writer.stats().written == 10)
    other = connect_write(tmp_path / "ingest.db")
    other.execute("DROP TABLE readings; CREATE VIEW readings AS SELECT 1 AS device, 2 AS seq, 3 AS value")
    other.close()
    writer.submit((time.time(), messages(11, 10)))
    wait_until(lambda: not writer.alive)
    stats = writer.stats()
    assert stats.state == "stopped" and stats.unwritten == 10 and stats.written == 10
    assert writer.error is not None and "readings" in str(writer.error)
    assert not writer.submit((time.time(), messages(21, 1)))


def test_a_failing_commit_listener_does_not_stop_the_writer(writer_factory, caplog) -> None:
    def broken(_rows: int, _ms: float) -> None:
        raise ValueError("listener bug")

    writer = writer_factory(on_commit=broken)
    writer.start()
    writer.submit((time.time(), messages(1, 10)))
    stats = writer.stop()
    assert stats.written == 10
    assert "on_commit callback failed" in caplog.text


def test_batch_ms_is_capped() -> None:
    with pytest.raises(ValueError):
        BatchWriter("unused.db", MessageMapper("readings"), WriterConfig(batch_ms=250))


def test_stats_can_be_read_from_another_thread_while_writing(writer_factory) -> None:
    writer = writer_factory(WriterConfig(batch_rows=100))
    writer.start()
    seen: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            stats = writer.stats()
            assert stats.written + stats.dead_letters + stats.queue_depth + stats.unwritten == stats.queued
            seen.append(stats.written)

    poller = threading.Thread(target=poll)
    poller.start()
    for first in range(1, 5001, 250):
        writer.submit((time.time(), messages(first, 250)), force=True)
    writer.stop()
    done.set()
    poller.join()
    assert seen == sorted(seen)


HOLD = """
import sys, time, apsw
connection = apsw.Connection(sys.argv[1])
if sys.argv[2] == "write":
    connection.execute("BEGIN IMMEDIATE")
else:
    connection.execute("BEGIN")
    connection.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # a read transaction: a read mark
print("holding", flush=True)
sys.stdin.read()
"""


def test_lock_holders_are_split_into_writers_and_readers(tmp_path: Path) -> None:
    import subprocess
    import sys

    from desktop_app.core.locks import describe_writers, lock_holders_by_role

    path = tmp_path / "locks.db"
    create_database(path)
    holders = []
    try:
        for role in ("write", "read"):
            holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), role], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            holders.append(holder)
            assert holder.stdout.readline().strip() == "holding"
        writers, readers = lock_holders_by_role(path)
        assert [pid for pid, _ in writers] == [holders[0].pid]
        assert [pid for pid, _ in readers] == [holders[1].pid]
        text = describe_writers(path)
        assert f"writing: process {holders[0].pid}" in text and "1 reading process" in text
    finally:
        for holder in holders:
            holder.stdin.close()
            holder.wait(10)
            holder.stdout.close()


def test_the_sink_classifies_failures_as_retry_pause_or_fatal(tmp_path: Path) -> None:
    """What the writer does with a failure is the sink's call: locked -> retry now, full -> pause, read-only ->
    fatal with the words "read-only"; anything that is not a database error is not classified (a bug)."""
    import apsw

    from desktop_app.core.ingest.mapping import MessageMapper
    from desktop_app.core.ingest.sink import SQLiteSink

    path = tmp_path / "classify.db"
    create_database(path)
    sink = SQLiteSink(path, MessageMapper("t"), busy_timeout_ms=10)
    sink.open()
    holder = connect_write(path)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(apsw.BusyError) as locked:
            sink.prepare(None)
        holder.execute("ROLLBACK")
        assert sink.classify(locked.value).kind == "retry"

        sink.request_page_limit(1)
        sink.before_attempt()
        with pytest.raises(apsw.FullError) as full:
            sink.prepare(None)
        failure = sink.classify(full.value)
        assert failure.kind == "pause" and "full" in str(failure.error)

        reader = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        with pytest.raises(apsw.ReadOnlyError) as read_only:
            reader.execute("CREATE TABLE x(a)")
        reader.close()
        failure = sink.classify(read_only.value)
        assert failure.kind == "fatal" and "read-only" in str(failure.error)
        assert sink.classify(ValueError("a bug")) is None
    finally:
        holder.close()
        sink.close()
