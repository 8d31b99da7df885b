"""Shared by the ingest window tests: the window's kind of loop (qasync) and a condition wait on it."""

from __future__ import annotations

import asyncio
import threading

import pytest
from PySide6.QtWidgets import QApplication

# isort: split
import qasync  # after PySide6 on purpose: it binds to the Qt already imported


@pytest.fixture(name="qloop")
def qloop_fixture(qapp: QApplication):
    """asyncio on top of Qt's event loop, as in the app; closed (with its executor threads) afterwards."""
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    # Let what a test left behind finish on this loop (cancelled tasks, pipe transports closing), so no Qt
    # notifier or timer of a closed loop fires later in another test.
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    # asyncio reaps each child on a "waitpid-N" thread that then calls back into the loop from that thread:
    # that call must reach a live loop, not a closed one whose Qt objects are being deleted.
    loop.run_until_complete(until(lambda: not any(t.name.startswith("waitpid-") for t in threading.enumerate()), 10))
    loop.run_until_complete(asyncio.sleep(0.05))
    loop.close()
    asyncio.set_event_loop(None)


async def until(condition, timeout: float = 20.0) -> None:
    """Wait on the running loop until `condition()` holds; AssertionError after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
