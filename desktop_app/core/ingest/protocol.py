"""The window's ingest runs in a child process: both ends of that arrangement (no Qt here).

Why a process: an IngestSession parsing and writing 50k+ messages a second holds the GIL most of the time,
so in the GUI's process it starves the event loop (timer lateness in the hundreds of ms) and is itself
slowed by the GUI. In a child (the hidden `ingest-worker` verb) each gets its own interpreter and core.

The protocol: JSON, one object per line, UTF-8.
  parent -> child, stdin:   first line  {"command": "start", "config": <IngestConfig.to_document()>}
                            then        {"command": "stop"}                 flush and exit
                                        {"command": "abandon"}              give up on a stuck database now
                                        {"command": "set_max_page_count", "pages": N | null}
                            EOF (the parent stops it, or is gone): stop and flush, like "stop".
  child -> parent, stdout:  {"event": "stats", "stats": <IngestStats>}   5 times a second and at once on a
                                                                          state change
                            {"event": "abandoning", "messages": N}
                            {"event": "final", "stats": <IngestStats> | null, "error": null | "plain words"}
                            (always the last line; exit code 0, 1 with unwritten messages, 2 on an error)
The parent side runs it as a `ChildProcess` (core/children.py), which also gives every child
PR_SET_PDEATHSIG: a window killed with SIGKILL leaves nothing running even if a pipe is held open elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from desktop_app.core.children import ChildProcess, app_command, child_environment, die_with_parent
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.config import IngestConfig, IngestError
from desktop_app.core.ingest.stats import IngestStats

if TYPE_CHECKING:
    from desktop_app.core.ingest.session import IngestSession

STATS_INTERVAL = 0.2
WORKER_NICENESS = 10
WORKER_VERB = "ingest-worker"
EXIT_OK, EXIT_UNWRITTEN, EXIT_ERROR = 0, 1, 2
# Stopping: EOF lets it flush (a big batch into a slow disk takes seconds); SIGTERM on a stopping worker
# abandons a stuck database; SIGKILL last.
STOP_DEADLINES = (20.0, 3.0, 2.0)


# ----- parent side (asyncio; the window awaits it on its qasync loop) -------------------------------------------


async def start_worker(
    config: IngestConfig, *, on_message: Callable[[dict[str, Any]], None], password: str | None = None
) -> ChildProcess:
    """The ingest of `config` in a child process; each report goes to `on_message` on the loop. `password` (a
    PostgreSQL target's) goes into this child's environment only, as PGPASSWORD for its libpq: never into the
    config document, a command line, or this process's own environment."""
    environment = child_environment()
    if password:
        environment["PGPASSWORD"] = password
    return await ChildProcess.start(
        app_command(WORKER_VERB),
        name="ingest process",
        env=environment,
        first={"command": "start", "config": config.to_document()},
        on_message=on_message,
    )


def final_report(message: dict[str, Any]) -> tuple[IngestStats | None, PulseError | None]:
    """The counts and the error (either may be absent) of the worker's last line, `{"event": "final", ...}`."""
    stats = IngestStats.from_dict(message["stats"]) if message.get("stats") is not None else None
    error = PulseError(str(message["error"])) if message.get("error") else None
    return stats, error


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
    document = message.get("config")
    if not isinstance(document, dict):
        raise IngestError("The start command has no config object.")
    return IngestConfig.from_document(document)


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
