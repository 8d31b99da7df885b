"""The ingest's promises measured from outside: memory bounded in bytes behind a long write lock, and a window
killed with SIGKILL leaves no child running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from desktop_app.core.database import connect_write, create_database
from tests.processes import alive, children_of
from tests.scenarios import rows

MESSAGES = 400
MESSAGE_BYTES = 1_000_000  # just under the default 1 MiB limit: each one is a row


class BigMessageServer:
    """Sends MESSAGES messages of about 1 MB as fast as the client takes them, on its own thread."""

    def __init__(self) -> None:
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _handler(self, connection) -> None:
        filler = "x" * (MESSAGE_BYTES - 40)
        for seq in range(1, MESSAGES + 1):
            await connection.send(json.dumps({"seq": seq, "blob": filler}))
        await connection.wait_closed()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> BigMessageServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def test_big_messages_behind_a_long_write_lock_stay_bounded_in_memory(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    create_database(db)
    holder = connect_write(db)
    holder.execute("BEGIN IMMEDIATE")  # another program holds the write lock for 8 s
    locked_until = time.monotonic() + 8
    with BigMessageServer() as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "ingest", server.url, "--db", str(db), "--raw",
             "--max-messages", str(MESSAGES), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(max(0.0, locked_until - time.monotonic()))
        holder.execute("ROLLBACK")
        holder.close()
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["written"] == MESSAGES and stats["unwritten"] == 0  # all 400 land
    assert stats["peak_rss_mb"] < 250, stats["peak_rss_mb"]  # the ingest process's own peak (getrusage)
    assert rows(db, "SELECT count(*) FROM readings") == [(MESSAGES,)]


@pytest.mark.gui
def test_a_killed_window_leaves_no_child_running(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "c"),
               XDG_DATA_HOME=str(tmp_path / "d"))
    window = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--demo", "--settings", str(tmp_path / "s.ini")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(children_of(window.pid)) < 2:  # the demo server and the ingest worker
            assert window.poll() is None and time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.1)
        children = children_of(window.pid)
    finally:
        window.send_signal(signal.SIGKILL)
        window.wait(10)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in children if alive(pid)]
    for pid in left:  # do not leak them into the rest of the run, but fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"children outlived the window: {left}"


def _peak_while_running(process: subprocess.Popen) -> float:
    """The child's VmHWM (MB) as /proc shows it, read until it exits: a check that does not trust its report."""
    peak = 0.0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass  # gone, or a zombie with no memory lines
        time.sleep(0.02)
    return peak


def test_a_300_mib_line_in_a_recording_is_one_dead_letter_and_memory_stays_small(tmp_path: Path) -> None:
    recording = tmp_path / "huge-line.ndjson"
    piece = b"x" * (1 << 20)
    with recording.open("wb") as out:
        for seq in range(1, 6):
            out.write(json.dumps({"device_id": "a", "seq": seq, "value": seq / 2}).encode() + b"\n")
        head = b'{"device_id": "a", "seq": 6, "blob": "'
        out.write(head)
        for _ in range(300):  # 300 MiB with no newline in it
            out.write(piece)
        out.write(b'"}\n')
        for seq in range(7, 12):
            out.write(json.dumps({"device_id": "a", "seq": seq, "value": seq / 2}).encode() + b"\n")
    huge = len(head) + 300 * len(piece) + 2
    db = tmp_path / "replay.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "ingest-file", str(recording), "--db", str(db), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen_peak = _peak_while_running(process)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    recording.unlink()
    assert process.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert (stats["received"], stats["written"], stats["dead_letters"]) == (11, 10, 1)
    assert stats["received"] == stats["written"] + stats["dead_letters"] and stats["gaps"] == 0
    assert stats["peak_rss_mb"] < 200 and seen_peak < 200, (stats["peak_rss_mb"], seen_peak)
    assert rows(db, "SELECT count(*), min(seq), max(seq) FROM readings") == [(10, 1, 11)]
    (reason, kept), = rows(db, "SELECT reason, length(raw) FROM pulse_dead_letters")
    assert f"{huge:,} bytes" in reason and kept == 64 << 10  # its real size, its first 64 KiB


PARENT_THEN_INGEST = """
import json, subprocess, sys
ballast = b"x" * (300 << 20)  # this process's memory: written, so resident
completed = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
print(completed.stdout.strip().splitlines()[-1] if completed.returncode == 0 else completed.stderr)
"""


def test_the_reported_peak_memory_is_the_ingest_process_own(tmp_path: Path) -> None:
    """Linux carries getrusage's ru_maxrss across exec: an ingest started by a 300 MB parent must not report
    the parent's peak as its own."""
    recording = tmp_path / "small.ndjson"
    recording.write_text("".join(json.dumps({"seq": seq, "value": 1.5}) + "\n" for seq in range(1, 101)))
    ingest = [sys.executable, "-m", "desktop_app", "ingest-file", str(recording), "--db", str(tmp_path / "s.db"),
              "--json"]
    completed = subprocess.run([sys.executable, "-c", PARENT_THEN_INGEST, *ingest], capture_output=True, text=True,
                               timeout=180)
    assert completed.returncode == 0, completed.stderr
    stats = json.loads(completed.stdout.strip().splitlines()[-1])
    assert stats["written"] == 100
    assert 0 < stats["peak_rss_mb"] < 150, stats["peak_rss_mb"]
