"""Helpers for asyncio test scenarios: each runs on a fresh loop and is bounded, so a hang fails fast."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from desktop_app.core.database import connect_read


def run_bounded(scenario: Coroutine[Any, Any, Any], timeout_s: float = 60.0) -> Any:
    """Run `scenario` on a fresh event loop; a scenario that outlives `timeout_s` fails instead of stalling."""
    return asyncio.run(asyncio.wait_for(scenario, timeout_s))


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll `condition` every 10 ms until it holds; AssertionError after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rows(path: Path, sql: str) -> list[tuple]:
    """The rows `sql` returns from the database at `path`, read through a connection opened and closed here."""
    connection = connect_read(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()
