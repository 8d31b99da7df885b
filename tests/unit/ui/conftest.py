"""Fixtures for the window tests: settings in tmp_path, scripted dialogs, worker plumbing that is torn down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.settings import AppSettings
from desktop_app.ui.workers import GuiPoster, TaskRunner


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


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings.at(tmp_path / "settings" / "pulse.ini")


@pytest.fixture
def scripted() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def poster(qtbot) -> GuiPoster:
    return GuiPoster()


@pytest.fixture
def tasks(poster: GuiPoster) -> Iterator[TaskRunner]:
    runner = TaskRunner(poster)
    yield runner
    runner.shutdown()


@pytest.fixture
def window(qtbot, settings: AppSettings, scripted: ScriptedDialogs, tmp_path: Path):
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
