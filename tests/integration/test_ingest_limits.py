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
