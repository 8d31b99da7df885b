"""The ingest verb's first and last moments, from outside: a signal at any instant still gets the final JSON, a
stream that never connects leaves no database behind and says why, and the final JSON names the last error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from desktop_app.core.database import create_database
from desktop_app.core.demo import spawn_demo_server
from tests.scenarios import free_port, rows
from tests.wire import RawServer, switching_protocols

PULSE = [sys.executable, "-m", "desktop_app"]
EXIT_NEVER_CONNECTED = 3


def ingest(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PULSE, "ingest", *args, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def final_json(stdout: str) -> dict:
    lines = stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), f"no final JSON line in {stdout!r}"
    return json.loads(lines[-1])


def catches_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler yet (SigCgt in /proc): before that, while the Python
    interpreter itself starts, nothing of ours runs and the kernel's default action applies."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def ingest_with_signals_held(*args: str) -> subprocess.Popen[str]:
    """`ingest` started with SIGINT and SIGTERM blocked across exec (the mask is inherited), so that a signal sent
    while the interpreter itself starts waits for the program instead of killing it by default."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        return ingest(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def test_a_signal_at_any_early_instant_still_ends_with_the_final_json(tmp_path: Path) -> None:
    """None: sent the instant the process exists (held by the spawner until the program takes it); a number:
    that long after spawning, and no sooner than the program's handler exists (before it, only the interpreter
    runs: measured 40-120 ms on the 2-core VM)."""
    instants = [(signal.SIGTERM, None), (signal.SIGINT, None), (signal.SIGTERM, 0.0), (signal.SIGINT, 0.0),
                (signal.SIGTERM, 0.05), (signal.SIGTERM, 0.15), (signal.SIGINT, 0.15), (signal.SIGTERM, 0.3),
                (signal.SIGTERM, 0.6), (signal.SIGINT, 1.2)]
    with spawn_demo_server(rate=2000) as server:
        for index, (number, delay) in enumerate(instants):
            db = tmp_path / f"early-{index}.db"
            spawned = time.monotonic()
            process = (ingest_with_signals_held if delay is None else ingest)(server.url, "--db", str(db))
            try:
                while delay is not None and not catches_sigterm(process.pid):
                    assert process.poll() is None and time.monotonic() - spawned < 10, "the handler never came"
                    time.sleep(0.0005)
                time.sleep(max(0.0, spawned + (delay or 0.0) - time.monotonic()))
                process.send_signal(number)
                signalled = time.monotonic()
                stdout, stderr = process.communicate(timeout=10)
                took = time.monotonic() - signalled
            finally:
                process.kill()
            where = f"{signal.Signals(number).name} at {delay} s (took {took:.2f} s): {stderr!r}"
            stats = final_json(stdout)
            assert stats["state"] == "stopped" and took < 10, where
            assert stats["received"] == stats["written"] + stats["dead_letters"] + stats["unwritten"], where
            assert process.returncode in (0, EXIT_NEVER_CONNECTED), where  # 3: stopped before it connected
            if stats["written"]:
                assert rows(db, "SELECT count(*) FROM readings") == [(stats["written"],)], where


def test_a_stream_that_never_connects_creates_nothing_and_says_why(tmp_path: Path) -> None:
    url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    new = tmp_path / "new.db"
    existing = tmp_path / "existing.db"
    create_database(existing)
    empty = tmp_path / "empty.db"
    empty.touch()
    before = {path: (path.read_bytes(), os.stat(path).st_mtime_ns) for path in (existing, empty)}
    for db in (new, existing, empty):
        process = ingest(url, "--db", str(db), "--seconds", "1")
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == EXIT_NEVER_CONNECTED, (db.name, stderr)
        assert "never connected" in stderr and "Cannot connect" in stderr and "Traceback" not in stderr
        stats = final_json(stdout)
        assert "Cannot connect" in stats["last_error"] and stats["received"] == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.db", "existing.db"]  # no new.db, no -wal
    assert before == {path: (path.read_bytes(), os.stat(path).st_mtime_ns) for path in (existing, empty)}


def test_the_database_is_created_once_a_late_server_comes_up(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "late.db"
    process = subprocess.Popen(
        [*PULSE, "ingest", f"ws://127.0.0.1:{port}", "--db", str(db), "--max-messages", "500", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(1.0)  # a few refused attempts: still no file
        assert process.poll() is None and not db.exists()
        with spawn_demo_server(port=port):
            stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    stats = final_json(stdout)
    assert (stats["received"], stats["written"], stats["last_error"]) == (500, 500, None)
    assert rows(db, "SELECT count(*) FROM readings") == [(500,)]


async def rejected_frame_then_silence(server: RawServer, reader, writer, request: bytes) -> None:
    """The first connection gets a frame with a reserved bit set (no extension was agreed), which the client
    must refuse with close code 1002; later handshakes are left hanging, so the run ends with that error."""
    if server.connections > 1:
        await asyncio.sleep(60)  # never answer this handshake (the server cancels it when the test ends)
        return
    writer.write(switching_protocols(request) + b"\xc1\x02hi")  # FIN + RSV1 + text, 2 bytes, unmasked
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader.read(), 30)  # until the client has closed


def test_the_final_json_names_the_last_error(tmp_path: Path) -> None:
    with RawServer(lambda *args: rejected_frame_then_silence(server, *args)) as server:
        started = time.monotonic()
        process = ingest(server.url, "--db", str(tmp_path / "rejected.db"), "--seconds", "1.5")
        stdout, stderr = process.communicate(timeout=60)
        took = time.monotonic() - started
    stats = final_json(stdout)
    assert stats["last_error"].startswith("Connection closed") and "1002" in stats["last_error"], stats
    assert process.returncode == 0, stderr  # it did connect once; nothing was lost
    assert took < 10  # the hanging handshake is given up on after the stop, not after its own timeout
