"""`watch` from outside, as a user on an SSH session runs it, with another process writing meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from desktop_app.core.locks import SHM_DMS_BYTE, file_locks

WRITE_AND_CLOSE = """
import sys, apsw
for cycle in range(int(sys.argv[2])):
    connection = apsw.Connection(sys.argv[1])
    connection.set_busy_timeout(5000)
    with connection:
        connection.execute("INSERT INTO readings(device, value) VALUES ('outside', ?)", (cycle,))
    connection.close()  # the last connection's close would checkpoint and delete the WAL, if it could
print("wrote", flush=True)
"""


def start_watch(db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "watch", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Lines:
    """Reads a child's stdout on a thread so the test can wait for lines with a deadline."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.lines):
                return self.lines
            time.sleep(0.02)
        raise AssertionError(f"no such output within {timeout} s: {self.lines[-3:]}")

    def join(self) -> None:
        self._thread.join(timeout=10)


def test_watch_holds_its_locks_through_40_write_and_close_cycles(db_path: Path) -> None:
    wal = Path(f"{db_path}-wal")
    watcher = start_watch(db_path, "--interval", "0.05", "--json")
    lines = Lines(watcher.stdout)
    try:
        lines.wait_for(lambda seen: len(seen) >= 1)
        inode = os.stat(wal).st_ino  # opening the watch's read connection made it, if it was missing
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITE_AND_CLOSE, str(db_path), "40"], stdout=subprocess.PIPE, text=True
        )
        wal_inodes = set()
        while writer.poll() is None:  # watch the WAL throughout: never deleted, never replaced
            wal_inodes.add(os.stat(wal).st_ino)
        written, _ = writer.communicate(timeout=30)
        assert writer.returncode == 0 and written.strip() == "wrote"
        assert wal_inodes == {inode}
        count = len(lines.lines)
        samples = [json.loads(line) for line in lines.wait_for(lambda seen: len(seen) > count + 1)]
        assert samples[-1]["wal_live_frames"] >= 40  # every commit is still in the WAL it kept alive
        assert any(sample["external_write"] for sample in samples)
        mine = [lock for lock in file_locks(db_path) if lock.pid == watcher.pid]
        shm = [lock for lock in file_locks(f"{db_path}-shm") if lock.pid == watcher.pid]
        assert any(lock.access == "READ" for lock in mine), mine
        assert any(lock.access == "READ" and lock.covers(SHM_DMS_BYTE) for lock in shm), shm
    finally:
        watcher.send_signal(signal.SIGTERM)
        _out, err = watcher.communicate(timeout=10)
    assert watcher.returncode == 0 and err == ""
    lines.join()
    json.loads(lines.lines[-1])  # ended between samples: the last line is whole


def test_watch_text_lines_and_a_clean_ctrl_c(db_path: Path) -> None:
    watcher = start_watch(db_path, "--interval", "0.05")
    lines = Lines(watcher.stdout)
    try:
        lines.wait_for(lambda seen: len(seen) >= 2)
    finally:
        watcher.send_signal(signal.SIGINT)
        _out, err = watcher.communicate(timeout=10)
    assert watcher.returncode == 0 and "Traceback" not in err
    lines.join()
    assert all("wal" in line and "flags: none" in line for line in lines.lines)


def test_watch_stops_after_seconds(db_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "watch", str(db_path), "--interval", "0.2", "--seconds", "0.5", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(samples) == 3 and time.monotonic() - started < 15
    assert {"wal_pending_frames", "data_bytes", "red_flags", "page_size"} <= samples[0].keys()


def test_a_file_locked_at_the_first_sample_is_said_once_and_watched_once_free(tmp_path: Path) -> None:
    """Another process holds an exclusive lock when watch starts: it says so once, keeps trying, samples once
    the lock is gone, and still ends at --seconds."""
    import apsw

    db = tmp_path / "journal.db"
    holder = apsw.Connection(str(db))
    holder.execute("CREATE TABLE t(x); INSERT INTO t VALUES (1)")
    holder.execute("BEGIN EXCLUSIVE; INSERT INTO t VALUES (2)")
    started = time.monotonic()
    process = start_watch(db, "--json", "--interval", "0.2", "--seconds", "6")
    lines = Lines(process.stdout)
    try:
        deadline = time.monotonic() + 30
        while "locked" not in (said := process.stderr.readline()) and time.monotonic() < deadline:
            assert said, "watch ended without saying the file is locked"
        holder.execute("COMMIT")
        first = json.loads(lines.wait_for(lambda seen: len(seen) >= 1, 30)[0])  # sampled once the lock is gone
        assert first["page_count"] >= 2
        process.wait(timeout=30)
        err = process.stderr.read()
    finally:
        holder.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        lines.join()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0, err
    assert "locked" not in err  # said once, before
    assert time.monotonic() - started < 20
