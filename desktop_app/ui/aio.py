"""The one way back to the GUI thread: coroutines on the qasync loop, awaiting the session's work.

`spawn(coro)` starts a coroutine on the running loop (qasync's, in the window), keeps a reference until it
ends (asyncio holds tasks weakly), and hands any exception the coroutine did not handle to `sys.excepthook`
(a dialog in the app, a failure in the tests): a MemoryError or a programming error is never swallowed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

_running: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        sys.excepthook(type(error), error, error.__traceback__)
