"""The inspect verbs as a user runs them: `python -m desktop_app stats|backup|checkpoint|vacuum|check`."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_write
from tests.odd_files import make_damaged_index

STATS_KEYS = {
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


def pulse(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_clean_failure(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sqlite-pulse: ")
    assert fragment in lines[0]


def test_stats_json_on_a_wal_database(db_path: Path) -> None:
    result = pulse("stats", db_path, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    stats = json.loads(lines[0])
    assert stats.keys() >= STATS_KEYS
    assert stats["journal_mode"] == "wal"
    assert stats["page_size"] == 8192
    assert stats["db_bytes"] == db_path.stat().st_size
    assert stats["red_flags"] == []
    # Added keys (the old ones above keep their names): frames a checkpoint still has to copy, and the
    # size of the data including what sits in the WAL.
    assert stats["wal_pending_frames"] == stats["wal_live_frames"] - stats["wal_backfilled_frames"]
    assert stats["data_bytes"] == stats["page_count"] * stats["page_size"]
    assert {"change_counter", "own_change"} <= stats.keys()


def test_stats_leaves_a_delete_mode_database_byte_identical(delete_mode_db: Path) -> None:
    before = digest(delete_mode_db)
    result = pulse("stats", delete_mode_db, "--json")
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["journal_mode"] == "delete"
    assert (stats["wal_bytes"], stats["wal_frames"]) == (0, 0)
    assert digest(delete_mode_db) == before
    assert sorted(path.name for path in delete_mode_db.parent.iterdir()) == ["legacy.db"]
    connection = apsw.Connection(str(delete_mode_db))
    assert connection.execute("PRAGMA journal_mode").fetchall() == [("delete",)]
    connection.close()


def test_stats_prints_a_readable_table(db_path: Path) -> None:
    result = pulse("stats", db_path)
    assert result.returncode == 0, result.stderr
    assert "journal mode" in result.stdout and "wal" in result.stdout
    assert "page size" in result.stdout and "8,192" in result.stdout
    assert "red flags: none" in result.stdout


def make_bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each bad-file case and a fragment of the message a user should see."""
    text = folder / "notes.db"
    text.write_text("these are my notes, not a database\n" * 20)
    real = folder / "real.db"
    connection = apsw.Connection(str(real))
    connection.execute("PRAGMA page_size = 4096; CREATE TABLE t(x)")
    with connection:
        connection.executemany("INSERT INTO t VALUES (zeroblob(1000))", [()] * 200)
    connection.close()
    truncated = folder / "truncated.db"
    truncated.write_bytes(real.read_bytes()[: 8 * 4096 + 100])
    stub = folder / "stub.db"
    stub.write_bytes(real.read_bytes()[:50])
    directory = folder / "folder.db"
    directory.mkdir()
    return {
        "not sqlite": (text, "not a SQLite database"),
        "truncated": (truncated, "truncated"),
        "shorter than a header": (stub, "truncated"),
        "missing": (folder / "missing.db", "does not exist"),
        "directory": (directory, "folder"),
    }


BAD_FILE_CASES = ["not sqlite", "truncated", "shorter than a header", "missing", "directory"]


@pytest.mark.parametrize("case", BAD_FILE_CASES)
def test_stats_on_a_bad_file_fails_cleanly(tmp_path: Path, case: str) -> None:
    path, fragment = make_bad_files(tmp_path)[case]
    assert_clean_failure(pulse("stats", path, "--json"), fragment)


@pytest.mark.parametrize(
    "verb",
    [("check",), ("checkpoint", "--mode", "full"), ("vacuum",), ("backup",)],
    ids=["check", "checkpoint", "vacuum", "backup"],
)
def test_other_verbs_on_bad_files_fail_cleanly(tmp_path: Path, verb: tuple[str, ...]) -> None:
    cases = make_bad_files(tmp_path)
    for case in ("not sqlite", "missing", "directory"):
        path, fragment = cases[case]
        extra = [tmp_path / "copy.db"] if verb[0] == "backup" else []
        assert_clean_failure(pulse(verb[0], path, *extra, *verb[1:]), fragment)
    assert not (tmp_path / "copy.db").exists()


def test_backup_reports_progress_and_refuses_to_overwrite(db_path: Path, tmp_path: Path) -> None:
    destination = tmp_path / "copy.db"
    result = pulse("backup", db_path, destination, "--pages-per-step", "2")
    assert result.returncode == 0, result.stderr
    assert "backup: 100.0%" in result.stderr
    assert "Backed up" in result.stdout
    connection = apsw.Connection(str(destination))
    assert connection.execute("SELECT count(*) FROM readings").fetchall() == [(500,)]
    connection.close()
    assert_clean_failure(pulse("backup", db_path, destination), "already exists")
    again = pulse("backup", db_path, destination, "--overwrite", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["cancelled"] is False


@pytest.mark.parametrize("mode", ["passive", "full", "restart", "truncate"])
def test_checkpoint_each_mode(db_path: Path, mode: str) -> None:
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with writer:
        writer.executemany("INSERT INTO readings(device, value) VALUES ('v', ?)", [(i,) for i in range(200)])
    result = pulse("checkpoint", db_path, "--mode", mode, "--json")
    writer.close()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == mode and report["busy"] == 0
    assert report["checkpointed_frames"] == report["log_frames"]
    assert (report["log_frames"] > 0) is (mode != "truncate")


def test_checkpoint_text_output_and_bad_mode(db_path: Path, delete_mode_db: Path) -> None:
    result = pulse("checkpoint", db_path)
    assert result.returncode == 0 and "Checkpoint (PASSIVE): busy=0" in result.stdout
    assert "not in WAL mode" in pulse("checkpoint", delete_mode_db).stdout
    bad = pulse("checkpoint", db_path, "--mode", "eager")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr


HOLD_SNAPSHOT = """
import sys, apsw
reader = apsw.Connection(sys.argv[1])
reader.execute("BEGIN")
reader.execute("SELECT count(*) FROM readings").fetchall()
print("holding", flush=True)
sys.stdin.readline()
"""


def test_stats_and_checkpoint_name_a_reader_that_holds_a_snapshot(db_path: Path) -> None:
    writer = connect_write(db_path)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    command = [sys.executable, "-c", HOLD_SNAPSHOT, str(db_path)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            with writer:  # written after the reader's snapshot began: no checkpoint can copy these
                writer.executemany("INSERT INTO readings(device, value) VALUES ('v', ?)", [(i,) for i in range(200)])
            stats = pulse("stats", db_path)
            checkpoint = pulse("checkpoint", db_path, "--json")
        finally:
            holder.kill()
    released = pulse("stats", db_path)
    writer.close()
    assert stats.returncode == 0, stats.stderr
    named = f"process {holder.pid} python: "
    snapshot_lines = [line for line in stats.stdout.splitlines() if named in line]
    assert len(snapshot_lines) == 1 and "WAL frames a checkpoint cannot copy" in snapshot_lines[0], stats.stdout
    report = json.loads(checkpoint.stdout)
    assert report["checkpointed_frames"] < report["log_frames"]
    assert [s["pid"] for s in report["read_snapshots"]] == [holder.pid]
    assert "read snapshots: none" in released.stdout


def test_vacuum_in_place_and_into(db_path: Path, tmp_path: Path) -> None:
    writer = connect_write(db_path)
    with writer:
        writer.executemany("INSERT INTO readings(device, value) VALUES (?, 0)", [("x" * 400,) for _ in range(3000)])
    writer.execute("DELETE FROM readings WHERE value = 0 AND device LIKE 'xxx%'")
    writer.close()
    into = tmp_path / "compact.db"
    copied = pulse("vacuum", db_path, "--into", into, "--json")
    assert copied.returncode == 0, copied.stderr
    report = json.loads(copied.stdout)
    assert report["destination"] == str(into) and report["after_bytes"] < report["before_bytes"]
    assert_clean_failure(pulse("vacuum", db_path, "--into", into), "already exists")
    in_place = pulse("vacuum", db_path)
    assert in_place.returncode == 0, in_place.stderr
    assert in_place.stdout.startswith("VACUUM: ")
    assert db_path.stat().st_size == into.stat().st_size


def test_check_exit_codes(db_path: Path, tmp_path: Path) -> None:
    ok = pulse("check", db_path)
    assert ok.returncode == 0 and "Integrity check passed" in ok.stdout
    assert pulse("check", db_path, "--quick").stdout.startswith("Quick check passed")

    damaged = tmp_path / "damaged.db"
    make_damaged_index(damaged)

    bad = pulse("check", damaged)
    assert bad.returncode == 1, bad.stderr
    assert "Integrity check found" in bad.stdout and "missing from index ts" in bad.stdout
    report = json.loads(pulse("check", damaged, "--json", "--max-errors", "2").stdout)
    assert report["ok"] is False and len(report["messages"]) == 2


def test_stats_on_a_locked_database_names_the_holder(delete_mode_db: Path) -> None:
    holder = apsw.Connection(str(delete_mode_db))
    holder.execute("BEGIN EXCLUSIVE; DELETE FROM notes")  # a writer mid-commit holds the whole file
    try:
        result = pulse("stats", delete_mode_db, "--json")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_clean_failure(result, "locked")
    assert f"held by process {os.getpid()}" in result.stderr
