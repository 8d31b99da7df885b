"""Shared by the ingest window tests: the window's kind of loop (qasync) and a condition wait on it."""

from __future__ import annotations

import asyncio

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
