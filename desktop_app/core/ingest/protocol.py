"""The window's ingest runs in a child process: both ends of that arrangement (no Qt here).

Why a process: an IngestSession parsing and writing 50k+ messages a second holds the GIL most of the time,
so in the GUI's process it starves the event loop (timer lateness in the hundreds of ms) and is itself
slowed by the GUI. In a child (the hidden `ingest-worker` verb) each gets its own interpreter and core.

The protocol: JSON, one object per line, UTF-8.
  parent -> child, stdin:   first line  {"command": "start", "config": <IngestConfig.to_document()>}
                            then        {"command": "stop"}                 flush and exit
                                        {"command": "abandon"}              give up on a stuck database now
                                        {"command": "set_max_page_count", "pages": N | null}
                            EOF (the parent is gone): stop and flush, like "stop".
  child -> parent, stdout:  {"event": "stats", "stats": <IngestStats>}   5 times a second and at once on a
                                                                          state change
                            {"event": "abandoning", "messages": N}
                            {"event": "final", "stats": <IngestStats> | null, "error": null | "plain words"}
                            (always the last line; exit code 0, 1 with unwritten messages, 2 on an error)
Every child also asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG, Linux), so a window
killed with SIGKILL leaves nothing running even if a pipe is held open elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, Any

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.config import IngestConfig, IngestError
from desktop_app.core.ingest.stats import IngestStats

if TYPE_CHECKING:
    from desktop_app.core.ingest.session import IngestSession

STATS_INTERVAL = 0.2
WORKER_NICENESS = 10
WORKER_VERB = "ingest-worker"
PR_SET_PDEATHSIG = 1
PARENT_PID_ENV = "PULSE_PARENT_PID"
EXIT_OK, EXIT_UNWRITTEN, EXIT_ERROR = 0, 1, 2


def app_command(*verb_args: str) -> list[str]:
    """argv running a verb of this app: the same executable when frozen (PyInstaller), else this Python."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop_app"]
    return [*base, *verb_args]


def child_environment() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1", **{PARENT_PID_ENV: str(os.getpid())})


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` when the parent exits (Linux; elsewhere the stdin EOF guard remains).
    If the parent is already gone (it died before this ran), send it now."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    expected = os.environ.get(PARENT_PID_ENV)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        os.kill(os.getpid(), sig)


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, default=str) + "\n").encode()


# ----- parent side (asyncio; the window awaits it on its qasync loop) -------------------------------------------


class WorkerProcess:
    """One ingest in a child process. `await WorkerProcess.start(config)`, then `async for event in
    worker.events()`; `stop()` / `abandon()` / `set_max_page_count()` send commands; `await wait()`."""

    def __init__(self, process: asyncio.subprocess.Process, config: IngestConfig) -> None:
        self.process = process
        self.config = config
        self.final: IngestStats | None = None
        self.error: PulseError | None = None
        self._stderr: list[str] = []
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())

    @classmethod
    async def start(cls, config: IngestConfig, *, password: str | None = None) -> WorkerProcess:
        """`password` (a PostgreSQL target's) goes into this child's environment only, as PGPASSWORD for its
        libpq: never into the config document, a command line, or this process's own environment."""
        environment = child_environment()
        if password:
            environment["PGPASSWORD"] = password
        try:
            process = await asyncio.create_subprocess_exec(
                *app_command(WORKER_VERB),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=environment,
                limit=1 << 20,
            )
        except OSError as exc:
            raise PulseError(f"Could not start the ingest process: {exc}") from exc
        worker = cls(process, config)
        worker._send({"command": "start", "config": config.to_document()})
        return worker

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Ask the worker to stop; it flushes what it received, reports, and exits."""
        self._send({"command": "stop"})

    def abandon(self) -> None:
        self._send({"command": "abandon"})

    def set_max_page_count(self, pages: int | None) -> None:
        self._send({"command": "set_max_page_count", "pages": pages})

    def close_stdin(self) -> None:
        """What the parent's death looks like to the worker."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Each message of the worker, until its stdout ends; then `final`/`error` are set."""
        assert self.process.stdout is not None
        while True:
            try:
                line = await self.process.stdout.readline()
            except ValueError:  # a line over the limit: not ours
                continue
            if not line:
                break
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue  # not ours (a library printing): ignore
            if not isinstance(message, dict):
                continue
            if message.get("event") == "final":
                if message.get("stats") is not None:
                    self.final = IngestStats.from_dict(message["stats"])
                if message.get("error"):
                    self.error = PulseError(str(message["error"]))
            yield message
        code = await self.process.wait()
        await self._stderr_task
        if self.final is None and self.error is None:
            detail = "".join(self._stderr).strip()[-800:]
            self.error = PulseError(f"The ingest process ended unexpectedly (exit code {code}). {detail}".strip())

    async def wait(self, timeout: float | None = None) -> int:
        """The exit code; kills the worker if it has not exited within `timeout`."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.kill()
            return await self.process.wait()

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.is_closing():
            return  # already exited (or exiting): its final report is on the way either way
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(encode(message))

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self._stderr.append(line.decode("utf-8", "replace"))
            del self._stderr[:-50]


# ----- child side (the hidden `ingest-worker` verb) -----------------------------------------------------------


def read_start(control: IO[str]) -> IngestConfig:
    line = control.readline()
    if not line:
        raise IngestError("No start command: the parent closed the channel.")
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise IngestError(f"The start command is not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("command") != "start":
        raise IngestError("The first command must be start.")
    return IngestConfig.from_document(message.get("config"))


def run_worker(
    config: IngestConfig | None = None,
    out: IO[str] = sys.stdout,
    control: IO[str] = sys.stdin,
    *,
    niceness: int = WORKER_NICENESS,
) -> int:
    """The child: read the start command (unless `config` is given), run, report; exit code as documented."""
    from desktop_app.core.ingest.session import IngestFailed, IngestSession  # noqa: PLC0415 (the child's side)

    die_with_parent()
    if niceness and hasattr(os, "nice"):
        # Background work yields the CPU to the window: on a busy machine the GUI's event loop gets scheduled
        # first, and the ingest still takes every cycle the window does not need.
        os.nice(niceness)
    lock = threading.Lock()

    def emit(message: dict) -> None:
        with lock:
            out.write(json.dumps(message, default=str) + "\n")
            out.flush()

    try:
        if config is None:
            config = read_start(control)
        changed = threading.Event()
        session = IngestSession(config, on_change=changed.set)
    except PulseError as exc:
        emit({"event": "final", "stats": None, "error": str(exc)})
        return EXIT_ERROR

    async def report(wake: asyncio.Event) -> None:
        while True:
            emit({"event": "stats", "stats": session.stats().to_dict()})
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), STATS_INTERVAL)

    async def main() -> IngestStats:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        session._on_change = lambda: wake.set()  # on the loop: report a state change at once

        def interrupted() -> None:
            if session.stopping:  # the second one: give up on a stuck database, and say how much
                emit({"event": "abandoning", "messages": session.abandon()})
            else:
                session.stop()

        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, interrupted)
        commands = {
            "stop": lambda _message: session.stop(),
            "abandon": lambda _message: emit({"event": "abandoning", "messages": session.abandon()}),
            "set_max_page_count": lambda message: session.set_max_page_count(message.get("pages")),
        }
        threading.Thread(target=_watch_control, args=(control, loop, session, commands), daemon=True).start()
        reporter = asyncio.ensure_future(report(wake))
        try:
            return await session.run()
        finally:
            reporter.cancel()

    try:
        final = asyncio.run(main())
    except IngestFailed as exc:
        emit({"event": "final", "stats": exc.stats.to_dict(), "error": str(exc)})
        return EXIT_UNWRITTEN if exc.stats.unwritten else EXIT_ERROR
    except PulseError as exc:
        emit({"event": "final", "stats": session.stats().to_dict(), "error": str(exc)})
        return EXIT_ERROR
    emit({"event": "final", "stats": final.to_dict(), "error": None})
    return EXIT_UNWRITTEN if final.unwritten else EXIT_OK


def _watch_control(control: IO[str], loop: asyncio.AbstractEventLoop, session: IngestSession, commands: dict) -> None:
    """Commands from the parent; EOF (the window closed, or died) stops the session like "stop"."""
    for line in control:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        handler = commands.get(message.get("command")) if isinstance(message, dict) else None
        if handler is None:
            continue
        try:
            loop.call_soon_threadsafe(handler, message)
        except RuntimeError:  # the loop is closed: the run already ended on its own
            return
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(session.stop)
