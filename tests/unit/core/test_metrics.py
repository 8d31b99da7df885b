"""The metrics sampler on real databases: WAL accounting, external writes, red flags, and no side effects."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from desktop_app.core import metrics
from desktop_app.core.database import connect_read, connect_write
from desktop_app.core.maintenance import optimize, vacuum
from desktop_app.core.metrics import (
    MetricsSampler,
    Sample,
    ShmCounters,
    filesystem_type,
    read_change_counter,
    read_wal_header,
)
from desktop_app.core.session import Session
from tests.scenarios import run_bounded


@pytest.fixture
def sampler(db_path: Path):
    with MetricsSampler(db_path) as live:
        yield live


def insert_rows(connection: apsw.Connection, count: int, blob_bytes: int = 2000) -> None:
    with connection:
        connection.executemany(
            "INSERT INTO readings(device, value) VALUES (?, ?)",
            [(f"d{i}" + "x" * blob_bytes, float(i)) for i in range(count)],
        )


def codes(sample) -> set[str]:
    return {flag.code for flag in sample.red_flags}


def test_fresh_database_sample(sampler: MetricsSampler, db_path: Path) -> None:
    sample = sampler.sample()
    assert sample.page_size == 8192
    assert sample.journal_mode == "wal"
    assert sample.page_count >= 3
    assert sample.db_bytes + sample.wal_bytes > 0
    assert sample.freelist_count == 0 and sample.freelist_percent == 0.0
    assert sample.external_write is False
    assert sample.red_flags == []
    assert set(sample.to_dict()) >= {
        "page_size",
        "page_count",
        "freelist_count",
        "db_bytes",
        "wal_bytes",
        "wal_frames",
        "journal_mode",
        "data_version",
        "red_flags",
    }


def test_wal_frames_follow_writes_and_checkpoints(sampler: MetricsSampler, db_path: Path) -> None:
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # this test drives checkpoints itself
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    empty = sampler.sample()
    assert empty.wal_bytes == 0 and empty.wal_frames == 0

    insert_rows(writer, 200)
    written = sampler.sample()
    assert written.external_write is True
    assert written.wal_live_frames > 20
    assert written.wal_frames == (written.wal_bytes - 32) // (8192 + 24)
    assert written.wal_frames >= written.wal_live_frames
    assert written.wal_backfilled_frames == 0
    assert written.page_count > empty.page_count

    busy, log, done = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
    after_checkpoint = sampler.sample()
    assert (busy, log, done) == (0, written.wal_live_frames, written.wal_live_frames)
    assert after_checkpoint.wal_backfilled_frames == written.wal_live_frames
    assert after_checkpoint.wal_bytes == written.wal_bytes  # the WAL file keeps its size after a checkpoint
    assert after_checkpoint.external_write is False
    assert after_checkpoint.wal_restarted is False

    insert_rows(writer, 1)  # the next write after a full checkpoint restarts the WAL with new salts
    restarted = sampler.sample()
    assert restarted.wal_restarted is True
    assert restarted.wal_live_frames < written.wal_live_frames
    writer.close()


def test_sampling_leaves_no_read_transaction_open(sampler: MetricsSampler, db_path: Path) -> None:
    writer = connect_write(db_path)
    insert_rows(writer, 50)
    sampler.sample()
    busy, _log, _done = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0]
    assert busy == 0  # a pinned snapshot would make TRUNCATE report busy
    assert Path(f"{db_path}-wal").stat().st_size == 0
    writer.close()


def test_sampling_does_not_change_the_files(sampler: MetricsSampler, db_path: Path) -> None:
    writer = connect_write(db_path)
    insert_rows(writer, 20)
    files = [db_path, Path(f"{db_path}-wal")]
    before = [hashlib.sha256(path.read_bytes()).hexdigest() for path in files]
    for _ in range(5):
        sampler.sample()
    sampler.close()
    assert [hashlib.sha256(path.read_bytes()).hexdigest() for path in files] == before
    writer.close()


def test_freelist_flag_after_mass_delete(sampler: MetricsSampler, db_path: Path) -> None:
    writer = connect_write(db_path)
    insert_rows(writer, 400)
    writer.execute("DELETE FROM readings")
    sample = sampler.sample()
    assert sample.freelist_percent > 20
    assert "freelist_high" in codes(sample)
    writer.execute("VACUUM")
    assert "freelist_high" not in codes(sampler.sample())
    writer.close()


HOLD_SNAPSHOT = """
import sys, apsw
reader = apsw.Connection(sys.argv[1])
reader.execute("BEGIN")
reader.execute("SELECT count(*) FROM readings").fetchall()  # holds a read mark: checkpoints stop there
print("holding", flush=True)
sys.stdin.readline()
reader.execute("COMMIT")
print("done", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def snapshot_holder(db_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process with a read transaction open on `db_path`; `end_snapshot(holder)` commits it."""
    command = [sys.executable, "-c", HOLD_SNAPSHOT, str(db_path)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            yield holder
        finally:
            holder.kill()  # closing the pipes and waiting is Popen's exit


def end_snapshot(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("commit\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "done"  # committed; the process (and its connection) stays


def test_the_first_sample_names_a_reader_in_another_process_that_stops_checkpoints(db_path: Path) -> None:
    # What `stats` does: one sampler, one sample. The reader began before these frames were written, so a
    # checkpoint cannot copy them; the first sample must say who, not "no reader is holding a snapshot".
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        with snapshot_holder(db_path) as holder:
            insert_rows(writer, 150)
            with MetricsSampler(db_path, wal_flag_frames=50) as sampler:
                held = sampler.sample()
            busy, log, copied = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
            end_snapshot(holder)
            with MetricsSampler(db_path, wal_flag_frames=50) as sampler:
                ended = sampler.sample()
    finally:
        writer.close()
    assert busy == 0 and copied < log  # SQLite agrees: the checkpoint stopped at the reader
    (snapshot,) = held.read_snapshots
    assert snapshot.pid == holder.pid and snapshot.pinned_frames == held.wal_pending_frames > 50
    flag = next(flag for flag in held.red_flags if flag.code == "wal_unbounded")
    assert f"process {holder.pid} python holds a read snapshot" in flag.message
    assert "no reader" not in flag.message
    assert ended.read_snapshots == []
    assert "no reader is holding a snapshot" in next(f.message for f in ended.red_flags if f.code == "wal_unbounded")


def test_a_snapshot_hold_time_counts_from_first_sight_while_checkpoints_copy_up_to_it(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "SNAPSHOT_FLAG_SECONDS", 1.0)
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    insert_rows(writer, 20)  # frames in the WAL when the reader begins: it takes a read mark past them
    try:
        with snapshot_holder(db_path) as holder, MetricsSampler(db_path) as sampler:
            insert_rows(writer, 20)
            first = sampler.sample()
            # A checkpoint copies up to the reader's mark (nBackfill moves): the hold time must not restart.
            writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            deadline = time.monotonic() + 20
            while (sample := sampler.sample()).monotonic - first.monotonic < 1.5:
                assert time.monotonic() < deadline, "the sampler's clock never advanced"
                time.sleep(0.1)
            end_snapshot(holder)
            after = sampler.sample()
    finally:
        writer.close()
    (seen,) = first.read_snapshots
    (held,) = sample.read_snapshots
    assert seen.pid == held.pid == holder.pid and seen.slot == held.slot > 0 and seen.seconds == 0
    assert sample.wal_backfilled_frames > first.wal_backfilled_frames  # checkpoints progressed meanwhile
    assert held.seconds == pytest.approx(sample.monotonic - first.monotonic)
    flag = next(flag for flag in sample.red_flags if flag.code == "snapshot_held")
    assert f"process {holder.pid} python has held a read snapshot for" in flag.message
    assert after.read_snapshots == [] and "snapshot_held" not in codes(after)


def test_a_one_off_bulk_write_does_not_blame_a_reader(db_path: Path) -> None:
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # nothing copies the frames until we checkpoint
    with MetricsSampler(db_path, wal_flag_frames=50) as sampler:
        sampler.sample()
        insert_rows(writer, 300)
        writer.execute("DELETE FROM readings WHERE value < 200")
        grown = [sampler.sample() for _ in range(3)]
        writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        cleared = sampler.sample()
    writer.close()
    for sample in grown:
        flag = next(flag for flag in sample.red_flags if flag.code == "wal_unbounded")
        assert "held a read snapshot" not in flag.message and "no reader is holding" in flag.message
    assert grown[-1].wal_backfilled_frames == 0 and grown[-1].wal_pending_frames == grown[-1].wal_live_frames
    assert cleared.wal_backfilled_frames == cleared.wal_live_frames and "wal_unbounded" not in codes(cleared)


def test_data_bytes_counts_what_is_still_in_the_wal(db_path: Path) -> None:
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with MetricsSampler(db_path) as sampler:
        before = sampler.sample()
        insert_rows(writer, 300)
        after = sampler.sample()
    writer.close()
    assert after.db_bytes == before.db_bytes  # nothing reached the database file yet
    assert after.data_bytes == after.page_count * after.page_size > after.db_bytes
    assert after.wal_pending_frames > 0


def test_rollback_journal_flag_once_writes_are_seen(delete_mode_db: Path) -> None:
    with MetricsSampler(delete_mode_db) as sampler:
        quiet = sampler.sample()
        writer = apsw.Connection(str(delete_mode_db))
        writer.execute("INSERT INTO notes(body) VALUES ('new')")
        writer.close()
        written = sampler.sample()
    assert quiet.journal_mode == "delete" and "rollback_journal_writes" not in codes(quiet)
    assert written.external_write is True
    assert "rollback_journal_writes" in codes(written)


COMMIT_ONE_NOTE = """
import sys, apsw
apsw.Connection(sys.argv[1]).execute("INSERT INTO notes(body) VALUES ('from another process')")
"""


def test_an_ingest_that_never_writes_raises_no_journal_flag(delete_mode_db: Path) -> None:
    # The window tells the session when an ingest starts; an ingest that never connects commits nothing,
    # so nothing may say the file is being written. A commit by another process then must.
    async def scenario() -> tuple[Sample, Sample]:
        session = await Session.open(delete_mode_db, read_only=True, interval=3600)
        try:
            session.note_own_writes()
            started = await session.sample_now()
            subprocess.run([sys.executable, "-c", COMMIT_ONE_NOTE, str(delete_mode_db)], check=True, timeout=30)
            committed = await session.sample_now()
        finally:
            await session.close()
        return started, committed

    started, committed = run_bounded(scenario())
    assert started.journal_mode == "delete" and not started.external_write
    assert "rollback_journal_writes" not in codes(started)
    assert committed.external_write and "rollback_journal_writes" in codes(committed)


def test_rollback_journal_flag_clears_after_a_quiet_period(delete_mode_db: Path) -> None:
    with MetricsSampler(delete_mode_db, write_quiet_seconds=0.3) as sampler:
        sampler.sample()
        writer = apsw.Connection(str(delete_mode_db))
        writer.execute("INSERT INTO notes(body) VALUES ('new')")
        assert "rollback_journal_writes" in codes(sampler.sample())
        quiet_since = time.monotonic()
        while "rollback_journal_writes" in codes(sample := sampler.sample()):
            assert time.monotonic() - quiet_since < 5, "the flag never cleared"
            time.sleep(0.05)
        writer.close()
    assert sample.monotonic - quiet_since >= 0.3


def test_own_maintenance_never_raises_the_journal_flag(delete_mode_db: Path) -> None:
    with MetricsSampler(delete_mode_db) as sampler:
        first = sampler.sample()
        with sampler.own_changes():
            vacuum(delete_mode_db)
            optimize(delete_mode_db)
        after = sampler.sample()
        again = sampler.sample()
        writer = apsw.Connection(str(delete_mode_db))
        writer.execute("INSERT INTO notes(body) VALUES ('theirs')")
        writer.close()
        theirs = sampler.sample()
    assert after.data_version != first.data_version
    assert after.own_change and not after.external_write
    assert "rollback_journal_writes" not in codes(after) | codes(again)
    assert theirs.external_write and "rollback_journal_writes" in codes(theirs)


def test_a_note_of_own_maintenance_covers_one_change_and_expires(
    delete_mode_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "OWN_CHANGE_GRACE_SECONDS", 0.2)
    with MetricsSampler(delete_mode_db) as sampler:
        sampler.sample()
        sampler.note_own_maintenance()
        vacuum(delete_mode_db)
        ours = sampler.sample()
        sampler.note_own_maintenance()  # noted, but no job follows: the note must not hide later writes
        time.sleep(0.3)
        writer = apsw.Connection(str(delete_mode_db))
        writer.execute("INSERT INTO notes(body) VALUES ('theirs')")
        writer.close()
        theirs = sampler.sample()
    assert ours.own_change and "rollback_journal_writes" not in codes(ours)
    assert theirs.external_write and "rollback_journal_writes" in codes(theirs)


def test_change_counter_read_through_sqlite(delete_mode_db: Path) -> None:
    with MetricsSampler(delete_mode_db) as sampler:
        first = sampler.sample()
        writer = apsw.Connection(str(delete_mode_db))
        for index in range(3):
            writer.execute("INSERT INTO notes(body) VALUES (?)", (f"n{index}",))
        writer.close()
        second = sampler.sample()
    assert first.change_counter is not None and second.change_counter == first.change_counter + 3


def test_network_filesystem_detection(tmp_path: Path) -> None:
    mounts = (
        "/dev/vda / ext4 rw 0 0\n"
        "server:/export /mnt/share nfs4 rw 0 0\n"
        "//nas/data /mnt/my\\040nas cifs rw 0 0\n"
    )
    assert filesystem_type(Path("/mnt/share/app/data.db"), mounts) == "nfs4"
    assert filesystem_type(Path("/mnt/my nas/x.db"), mounts) == "cifs"
    assert filesystem_type(Path("/mnt/shared.db"), mounts) == "ext4"
    assert filesystem_type(tmp_path) is not None  # the real /proc/mounts answers too


def test_header_readers_go_through_sqlite(db_path: Path) -> None:
    reader = connect_read(db_path)
    assert read_wal_header(reader) is None  # no read yet: no WAL open on this connection
    writer = connect_write(db_path)
    insert_rows(writer, 5)
    reader.execute("SELECT count(*) FROM readings").fetchall()
    header = read_wal_header(reader)
    assert header is not None and header.page_size == 8192
    assert read_change_counter(reader) is not None
    shm = ShmCounters(Path(f"{db_path}-shm"))
    mx_frame, _backfill = shm.read()
    assert mx_frame > 0
    assert shm.borrowing  # Linux: SQLite's own descriptor, none of ours
    reader.close()
    writer.close()
    assert ShmCounters(Path(f"{db_path}-none-shm")).read() == (0, 0)


def test_closed_sampler_refuses_to_sample(db_path: Path) -> None:
    sampler = MetricsSampler(db_path)
    sampler.close()
    with pytest.raises(RuntimeError, match="closed"):
        sampler.sample()
