"""The workspace on a plain asyncio loop: real SQLite files, real child processes (the demo server and the
ingest worker), switching files in order, and nothing left open or running at the end."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from desktop_app.core.database import create_database
from desktop_app.core.demo import start_demo_server
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest import IngestConfig
from desktop_app.core.workspace import Workspace
from tests.processes import children_of
from tests.scenarios import rows, run_bounded, wait_for


def pulse_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pulse-")]


def recorder(workspace: Workspace) -> list[tuple[str, object]]:
    """One ordered log of what the workspace announced."""
    log: list[tuple[str, object]] = []
    workspace.session_changed.connect(lambda s: log.append(("session", s.path.name if s is not None else None)))
    workspace.ingest_state.connect(lambda state: log.append(("ingest", state.phase)))
    return log


@pytest.fixture
def other_db(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    create_database(path)
    return path


def test_opening_another_file_stops_the_demo_first_and_leaves_no_child(tmp_path: Path, db_path: Path,
                                                                       other_db: Path) -> None:
    async def scenario() -> None:
        workspace = Workspace(data_dir=tmp_path / "data", interval=0.05)
        log = recorder(workspace)
        samples: list[object] = []
        workspace.sample.connect(samples.append)
        await workspace.open(db_path)
        assert await workspace.start_demo(table="readings", rate=500)
        assert workspace.session is not None and workspace.session.path.name == "demo.db"
        assert workspace.ingest.demo_pid in children_of(os.getpid())
        await wait_for(lambda: workspace.ingest.last_stats is not None and workspace.ingest.last_stats.written > 0, 30)
        await wait_for(lambda: samples, 10)

        opened = await workspace.open(other_db)

        assert opened is workspace.session and opened.path == other_db
        assert not workspace.ingest.running and not children_of(os.getpid())
        # In order: subscribers let go of the demo file, the run stopped, then B opened.
        assert log == [
            ("session", "pulse.db"), ("session", None), ("session", "demo.db"), ("ingest", "starting"),
            ("ingest", "running"), ("session", None), ("ingest", "stopped"), ("session", "other.db"),
        ]
        assert rows(tmp_path / "data" / "demo.db", "SELECT count(*) FROM readings")[0][0] > 0  # flushed
        await workspace.aclose()
        assert workspace.session is None and log[-1] == ("session", None)
        assert await workspace.open(db_path) is None  # closed for good

    run_bounded(scenario(), 90)
    assert not children_of(os.getpid()) and not pulse_threads()


def test_a_users_ingest_stops_and_flushes_before_the_next_file_opens(tmp_path: Path, db_path: Path,
                                                                     other_db: Path) -> None:
    async def scenario() -> None:
        workspace = Workspace(interval=0.05)
        server = await start_demo_server(rate=1000)
        try:
            await workspace.open(db_path, read_only=False)
            config = IngestConfig(url=server.url or "", db_path=db_path, table="feed")
            assert await workspace.start_ingest(config)
            worker = workspace.ingest.worker_pid
            with pytest.raises(PulseError, match="already running"):
                await workspace.start_ingest(config)
            await wait_for(lambda: workspace.ingest.last_stats is not None and workspace.ingest.last_stats.written > 0, 30)
            finals = []
            workspace.ingest_state.connect(lambda state: finals.append(state.final) if state.phase == "stopped" else None)

            await workspace.open(other_db)

            assert worker not in children_of(os.getpid()) and len(finals) == 1
            assert rows(db_path, "SELECT count(*) FROM feed")[0][0] == finals[0].written > 0
        finally:
            await workspace.aclose()
            await server.stop()

    run_bounded(scenario(), 90)
    assert not children_of(os.getpid()) and not pulse_threads()


def test_the_latest_open_wins_and_the_overtaken_one_is_closed(db_path: Path, other_db: Path) -> None:
    async def scenario() -> None:
        import asyncio

        workspace = Workspace(interval=0.05)
        log = recorder(workspace)
        first, second = await asyncio.gather(workspace.open(db_path), workspace.open(other_db))
        assert first is None and second is workspace.session and second.path == other_db
        assert ("session", "pulse.db") not in log
        with pytest.raises(PulseError):
            await workspace.open(db_path.parent / "missing.db")
        assert workspace.session is None  # the old file closed before the new one failed to open
        await workspace.aclose()

    run_bounded(scenario(), 30)
    assert not pulse_threads()


def test_a_finished_job_is_sampled_at_once(db_path: Path) -> None:
    async def scenario() -> None:
        workspace = Workspace(interval=60)  # no timed sample comes during the test
        session = await workspace.open(db_path, read_only=False)
        samples: list[object] = []
        workspace.sample.connect(samples.append)
        await session.checkpoint("passive")
        await wait_for(lambda: samples, 10)
        await workspace.aclose()

    run_bounded(scenario(), 30)
    assert not pulse_threads()
