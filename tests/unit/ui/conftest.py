"""Fixtures for the window tests: a qasync loop, settings in tmp_path, scripted dialogs, sessions torn down.

The loop: a qasync `QEventLoop` made with `already_running=True` is the current *running* loop for the
whole test, and qtbot's waits (`waitUntil`, `waitSignal`) spin Qt's event loop, which is what runs its
callbacks. So a test calls the window as a user would and waits for a condition; coroutines started by the
window (`asyncio.get_running_loop()` included) work, and `resolve(qtbot, awaitable)` waits for one result.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync

from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.settings import AppSettings


@pytest.fixture(autouse=True)
def no_threads_left_behind() -> Iterator[None]:
    """Every worker thread a test starts (sampler, readers, pools, ingest) must be gone when it ends."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"threads left running: {[t.name for t in left]}"


# Closed loops are kept, never garbage-collected: the cyclic GC may run on any thread, and collecting a
# loop on a worker thread would delete its Qt timer and signaller objects off the GUI thread (a crash).
_retired_loops: list[asyncio.AbstractEventLoop] = []


@pytest.fixture
def qloop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop that counts as running for the test; torn down without `stop()` (which would make
    the QApplication quit and every later qtbot wait return at once)."""
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    deadline = time.monotonic() + 10
    while any(not task.done() for task in pending) and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.005)
    # asyncio reaps each child process on a "waitpid-N" thread that then calls back into the loop from that
    # thread: the call must reach this live loop, not a closed one.
    while any(t.name.startswith("waitpid-") for t in threading.enumerate()) and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.005)
    qapp.processEvents()
    qapp.aboutToQuit.disconnect(loop._after_run_forever)
    loop._after_run_forever()
    loop._QEventLoop__is_running = False  # the loop never ran `exec()`: nothing to stop
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)
    _retired_loops.append(loop)


def resolve(qtbot, awaitable: Awaitable[Any], timeout: int = 15_000) -> Any:
    """Run `awaitable` on the test's qasync loop and wait (spinning Qt) for its result."""
    task = asyncio.ensure_future(awaitable)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


@pytest.fixture
def open_session(qtbot, qloop):
    """`open_session(path, read_only=...)` -> a started Session; every one opened is closed afterwards."""
    from desktop_app.core.session import Session

    sessions: list[Session] = []

    def opener(path: Path, *, read_only: bool = False, interval: float = 0.05) -> Session:
        session = resolve(qtbot, Session.open(path, read_only=read_only, interval=interval))
        sessions.append(session)
        return session

    yield opener
    for session in sessions:
        resolve(qtbot, session.close())


@pytest.fixture
def workspace(qtbot, qloop) -> Iterator[Any]:
    """A Workspace (the panels' application model) sampling every 0.05 s, closed afterwards."""
    from desktop_app.core.workspace import Workspace

    space = Workspace(interval=0.05)
    yield space
    resolve(qtbot, space.aclose())


@pytest.fixture
def data_view(qtbot, open_session, scripted: ScriptedDialogs):
    """`data_view(path)` -> a shown 1000×600 DataView (its table export asking `scripted`) on a session of
    `path`; each lets go of its session at the end, before the sessions close."""
    from desktop_app.ui.panels.data_view import DataView

    views: list[DataView] = []

    def make(path: Path) -> DataView:
        view = DataView()
        view.table_export.dialogs = scripted
        qtbot.addWidget(view)
        view.resize(1000, 600)
        view.show()
        view.set_session(open_session(path))
        views.append(view)
        return view

    yield make
    for view in views:
        view.set_session(None)


def open_table(qtbot, grid, name: str) -> None:
    """Open `name` in the DataView `grid` and wait for its first rows and its column filter boxes."""
    grid.open_table(name)
    qtbot.waitUntil(lambda: grid.model is not None and grid.model.rowCount() > 0 and not grid.model.fetching, timeout=5000)
    qtbot.waitUntil(lambda: len(grid.header.editors) == len(grid.model.columns), timeout=5000)


@pytest.fixture
def rich_db(db_path: Path) -> Path:
    """readings(id, device, value) with an index, a view on device and a trigger (the schema and structure
    tests' database)."""
    from desktop_app.core.database import connect_write

    connection = connect_write(db_path)
    connection.execute(
        "CREATE VIEW busy_devices AS SELECT device, count(*) AS n FROM readings GROUP BY device;"
        "CREATE TABLE audit(at TEXT, what TEXT);"
        "CREATE TRIGGER readings_audit AFTER INSERT ON readings BEGIN INSERT INTO audit VALUES (datetime(), 'insert'); END;"
    )
    connection.close()
    return db_path


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings.at(tmp_path / "settings" / "pulse.ini")


@pytest.fixture
def scripted() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def window(qtbot, qloop, settings: AppSettings, scripted: ScriptedDialogs, tmp_path: Path):
    """The real main window (offscreen) with scripted dialogs; everything it starts is stopped afterwards."""
    from desktop_app.ui.main_window import MainWindow

    main = MainWindow(settings, dialogs=scripted, data_dir=tmp_path / "data", sample_interval=0.05)
    qtbot.addWidget(main)
    yield main
    main.shutdown()


def open_in(qtbot, window, path: Path, *, read_only: bool = False):
    with qtbot.waitSignal(window.database_opened, timeout=10_000) as blocker:
        window.open_path(path, read_only=read_only)
    return blocker.args[0]
