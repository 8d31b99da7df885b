"""The window's ingest runs in a child process: both sides of that arrangement (no Qt in this module).

Why a process: an IngestSession parsing and writing 50k+ messages a second holds the GIL most of the time,
so in the GUI's process it starves the event loop (timer lateness in the hundreds of ms) and is itself
slowed by the GUI. In a child process (the hidden `ingest-worker` verb) each gets its own interpreter and
core: see bench/gui_responsiveness.py, which measures both arrangements in one run.

Protocol: the child prints one JSON object per line on stdout: {"stats": {...}} five times a second,
then {"final": {...}} or {"error": "..."}; it stops (flushing everything) on a "stop" line, on stdin EOF
(the parent died: no orphan keeps writing) or on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import IO

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig, IngestSession, IngestStats

STATS_INTERVAL = 0.2
WORKER_NICENESS = 10
WORKER_VERB = "ingest-worker"

EndCallback = Callable[[IngestStats | None, BaseException | None], None]


def stats_from_dict(data: dict) -> IngestStats:
    known = {field.name for field in fields(IngestStats)}
    return IngestStats(**{key: value for key, value in data.items() if key in known})


def worker_command(config: IngestConfig) -> list[str]:
    """argv of the worker: the same executable when frozen (PyInstaller), else this Python."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop_app"]
    command = [*base, WORKER_VERB, config.url, "--db", str(config.db_path), "--table", config.table]
    if config.raw:
        command.append("--raw")
    if config.max_messages is not None:
        command += ["--max-messages", str(config.max_messages)]
    if config.seconds is not None:
        command += ["--seconds", str(config.seconds)]
    return command


# ----- parent side -------------------------------------------------------------------------------------------


class IngestProcess:
    """Runs one ingest in a child process; `stats()` is the latest report, `on_end` fires once it exits."""

    def __init__(self, config: IngestConfig, on_end: EndCallback) -> None:
        self.config = config
        self._on_end = on_end
        self._lock = threading.Lock()
        self._latest = IngestStats(
            received=0, written=0, dead_letters=0, reconnects=0, gaps=0, queue_depth=0, batches=0,
            rows_per_s=0.0, state="connecting", next_retry_in=None, pause_reason=None, last_error=None, seconds=0.0,
        )
        try:
            self.process = subprocess.Popen(
                worker_command(config),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise PulseError(f"Could not start the ingest process: {exc}") from exc
        self._stderr: list[str] = []
        self._stderr_thread = threading.Thread(target=self._drain_stderr, name="pulse-ingest-stderr", daemon=True)
        self._stderr_thread.start()
        self._thread = threading.Thread(target=self._read, name="pulse-ingest-reader", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> IngestStats:
        with self._lock:
            return self._latest

    def stop(self) -> None:
        """Ask the worker to stop; it flushes what it received, reports, and exits."""
        try:
            self.process.stdin.write("stop\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass  # already exited (or exiting): its final report is on the way either way

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():  # a worker that ignores stop: end it, and say so
            self.process.kill()
            self._thread.join(5)

    def _drain_stderr(self) -> None:
        with self.process.stderr:
            for line in self.process.stderr:
                self._stderr.append(line)
                del self._stderr[:-50]

    def _read(self) -> None:
        final: IngestStats | None = None
        error: BaseException | None = None
        with self.process.stdout:
            for line in self.process.stdout:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not ours (a library printing): ignore
                if "stats" in message or "final" in message:
                    stats = stats_from_dict(message.get("stats") or message["final"])
                    with self._lock:
                        self._latest = stats
                    if "final" in message:
                        final = stats
                elif "error" in message:
                    error = PulseError(str(message["error"]))
        code = self.process.wait()
        self.process.stdin.close()
        self._stderr_thread.join(5)
        if final is None and error is None:
            detail = "".join(self._stderr).strip()[-800:]
            error = PulseError(f"The ingest process ended unexpectedly (exit code {code}). {detail}".strip())
        self._on_end(final or self.stats(), error)


# ----- child side (the hidden `ingest-worker` verb) -----------------------------------------------------------


def run_worker(
    config: IngestConfig, out: IO[str] = sys.stdout, control: IO[str] = sys.stdin, *, niceness: int = WORKER_NICENESS
) -> int:
    if niceness and hasattr(os, "nice"):
        # Background work yields the CPU to the window: on a busy machine the GUI's event loop gets scheduled
        # first, and the ingest still takes every cycle the window does not need.
        os.nice(niceness)

    def emit(message: dict) -> None:
        out.write(json.dumps(message, default=str) + "\n")
        out.flush()

    try:
        session = IngestSession(config)
    except PulseError as exc:
        emit({"error": str(exc)})
        return 2

    async def report() -> None:
        while True:
            emit({"stats": session.stats().to_dict()})
            await asyncio.sleep(STATS_INTERVAL)

    async def main() -> IngestStats:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, session.stop)
        threading.Thread(target=_watch_control, args=(control, loop, session), daemon=True).start()
        reporter = asyncio.ensure_future(report())
        try:
            return await session.run()
        finally:
            reporter.cancel()

    try:
        final = asyncio.run(main())
    except PulseError as exc:
        emit({"error": str(exc)})
        return 2
    emit({"final": final.to_dict()})
    return 0


def _watch_control(control: IO[str], loop: asyncio.AbstractEventLoop, session: IngestSession) -> None:
    """Stop on a "stop" line or at EOF (the window closed, or died)."""
    for line in control:
        if line.strip() == "stop":
            break
    try:
        loop.call_soon_threadsafe(session.stop)
    except RuntimeError:  # the loop is closed: the run already ended on its own (a message or time limit)
        return


def worker_config(url: str, db: Path, table: str, raw: bool, max_messages: int | None, seconds: float | None) -> IngestConfig:
    return IngestConfig(url=url, db_path=db, table=table, raw=raw, max_messages=max_messages, seconds=seconds)
