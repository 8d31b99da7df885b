"""Shared by the ingest window tests: a condition wait on the running loop (the loop is conftest's `qloop`)."""

from __future__ import annotations

import asyncio

# isort: split


async def until(condition, timeout: float = 20.0) -> None:
    """Wait on the running loop until `condition()` holds; AssertionError after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
