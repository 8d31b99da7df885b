"""The window's ingest in a child process, driven on a qasync loop, against real streams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import os
from pathlib import Path

import pytest

from desktop_app.core.ingest import IngestConfig, IngestStats
from desktop_app.core.ingest.protocol import final_report, run_worker, start_worker
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.ingest_controller import IngestController
from tests.processes import alive, children_of
from tests.scenarios import free_port, wait_for

from .conftest import resolve
from .test_ingest_panel import ServerThread, rows_in

pytestmark = pytest.mark.gui


def test_worker_takes_the_whole_config_document_and_reports_json_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    read_end, write_end = os.pipe()  # a control channel that stays open, like the window's
    with ServerThread(count=400) as server, os.fdopen(read_end) as control:
        config = IngestConfig(url=server.url, db_path=tmp_path / "w.db", table="t7", max_message_bytes=64, max_messages=400)
        os.write(write_end, json.dumps({"command": "start", "config": config.to_document()}).encode() + b"\n")
        code = run_worker(out=out, control=control, niceness=0)
        os.close(write_end)
    assert code == 0
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert messages[0]["event"] == "stats" and messages[-1]["event"] == "final"
    final = IngestStats.from_dict(messages[-1]["stats"])
    assert (final.written, final.dead_letters, final.state) == (0, 400, "stopped")  # the size limit travelled
    assert rows_in(tmp_path / "w.db", "pulse_dead_letters") == 400


def test_a_bad_start_document_is_one_final_error_line(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_worker(out=out, control=io.StringIO('{"command": "start", "config": {"version": 7}}\n'), niceness=0)
    assert code == 2
    final = json.loads(out.getvalue().splitlines()[-1])
    assert final["event"] == "final" and "version" in final["error"]


def test_the_worker_stops_and_flushes_when_the_parent_goes_away(qtbot, qloop, tmp_path: Path) -> None:
    events: list[dict] = []

    async def scenario() -> int:
        worker = await start_worker(IngestConfig(url=server.url, db_path=tmp_path / "p.db"), on_message=events.append)
        await wait_for(lambda: any(e["event"] == "stats" and e["stats"]["written"] > 0 for e in events), 20)
        worker.close_stdin()  # what the window's death looks like to the worker
        return await worker.finished()

    with ServerThread(rate=1000) as server:
        code = resolve(qtbot, asyncio.wait_for(scenario(), 30), timeout=90_000)
    final, error = final_report(events[-1])
    assert code == 0 and error is None and final.state == "stopped"
    assert rows_in(tmp_path / "p.db", "readings") == final.written > 0


def test_controller_runs_the_worker_on_the_loop(qtbot, qloop, tmp_path: Path) -> None:
    controller = IngestController()
    finals: list = []
    controller.stopped.connect(finals.append)

    async def scenario() -> None:
        controller.start(IngestConfig(url=server.url, db_path=tmp_path / "c.db", max_messages=250))
        await wait_for(lambda: bool(finals), 30)

    with ServerThread(count=250) as server:
        resolve(qtbot, scenario(), timeout=90_000)
    assert finals[0].written == 250 and not controller.running


def test_quitting_during_demo_start_up_leaves_no_process(qtbot, qloop, tmp_path: Path) -> None:
    controller = IngestController(data_dir=tmp_path / "data")

    async def scenario() -> None:
        controller.start_demo(rate=500)
        await wait_for(lambda: children_of(os.getpid()), 20)  # the demo server is being started
        controller.shutdown()  # the window closes now
        await asyncio.sleep(0)  # the cancelled start-up kills what it spawned
        await wait_for(lambda: not children_of(os.getpid()), 10)
        await wait_for(lambda: not controller.running, 10)
        await controller.workspace.aclose()  # the demo's file is the workspace's: the window closes it too

    resolve(qtbot, asyncio.wait_for(scenario(), 40), timeout=90_000)
    assert not controller.running and not children_of(os.getpid())


def test_starting_into_a_database_without_ingest_tables_asks_first(qtbot, qloop, db_path: Path) -> None:
    dialogs = ScriptedDialogs(confirm_answer=False)
    controller = IngestController(dialogs=dialogs)

    async def scenario() -> None:
        controller.ask_and_start(IngestConfig(url=f"ws://127.0.0.1:{free_port()}", db_path=db_path, table="feed"))
        await wait_for(lambda: bool(dialogs.confirmations), 10)

    resolve(qtbot, scenario(), timeout=90_000)
    assert dialogs.confirmations == ["Write into this database?"]
    assert not controller.running  # refused: nothing started, nothing created
    assert alive(os.getpid())
