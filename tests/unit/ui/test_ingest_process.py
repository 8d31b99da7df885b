"""The window's ingest in a child process (and the in-process thread alternative), against a real stream."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import pytest

from desktop_app.core.ingest import IngestConfig
from desktop_app.ui.ingest_controller import IngestController
from desktop_app.ui.ingest_process import IngestProcess, run_worker, stats_from_dict, worker_command

from .test_ingest_panel import ServerThread, free_port, rows_in

pytestmark = pytest.mark.gui


class Ended:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.final = None
        self.error = None

    def __call__(self, final, error) -> None:
        self.final, self.error = final, error
        self.event.set()


def test_worker_reports_stats_lines_then_the_final_counts(tmp_path: Path) -> None:
    out = io.StringIO()
    read_end, write_end = os.pipe()  # a control channel that stays open, like the window's
    with ServerThread(count=400) as server, os.fdopen(read_end) as control:
        config = IngestConfig(url=server.url, db_path=tmp_path / "w.db", max_messages=400)
        code = run_worker(config, out=out, control=control, niceness=0)
        os.close(write_end)
    assert code == 0
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert "stats" in messages[0]
    final = stats_from_dict(messages[-1]["final"])
    assert final.written == 400 and final.state == "stopped"
    assert rows_in(tmp_path / "w.db", "readings") == 400


def test_worker_reports_a_bad_url_as_an_error_line(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_worker(IngestConfig(url="http://nope", db_path=tmp_path / "w.db"), out=out, control=io.StringIO(""), niceness=0)
    assert code == 2
    assert "error" in json.loads(out.getvalue().splitlines()[-1])


def test_child_process_ingests_until_stopped(tmp_path: Path) -> None:
    ended = Ended()
    with ServerThread(rate=2000) as server:
        worker = IngestProcess(IngestConfig(url=server.url, db_path=tmp_path / "p.db", table="t"), ended)
        deadline = threading.Event()
        while worker.stats().written < 100 and not deadline.wait(0.05):
            if ended.event.is_set():
                pytest.fail(f"the worker ended early: {ended.error}")
        worker.stop()
        assert ended.event.wait(20)
        worker.join(5)
    assert ended.error is None
    assert ended.final.state == "stopped" and ended.final.written >= 100
    assert rows_in(tmp_path / "p.db", "t") == ended.final.written
    assert worker.process.returncode == 0


def test_child_process_stops_when_the_window_goes_away(tmp_path: Path) -> None:
    """Closing its stdin (what happens when the window's process dies) makes the worker flush and exit."""
    ended = Ended()
    with ServerThread(rate=1000) as server:
        worker = IngestProcess(IngestConfig(url=server.url, db_path=tmp_path / "p.db"), ended)
        while worker.stats().written == 0 and not ended.event.wait(0.05):
            pass
        worker.process.stdin.close()
        assert ended.event.wait(20)
    assert ended.final.written > 0


def test_worker_command_uses_this_python_and_the_hidden_verb(tmp_path: Path) -> None:
    command = worker_command(IngestConfig(url="ws://h:1", db_path=tmp_path / "x.db", raw=True, max_messages=5))
    assert command[1:4] == ["-m", "desktop_app", "ingest-worker"]
    assert "--raw" in command and command[-2:] == ["--max-messages", "5"]


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_controller_runs_either_way(qtbot, poster, tasks, mode: str, tmp_path: Path) -> None:
    controller = IngestController(poster, tasks, mode=mode)
    with ServerThread(count=250) as server, qtbot.waitSignal(controller.stopped, timeout=30_000) as blocker:
        controller.start(IngestConfig(url=server.url, db_path=tmp_path / f"{mode}.db", max_messages=250))
    assert blocker.args[0].written == 250
    assert not controller.running
    controller.shutdown()


def test_controller_reports_a_failed_start(qtbot, poster, tasks, tmp_path: Path) -> None:
    controller = IngestController(poster, tasks)
    with qtbot.waitSignal(controller.failed, timeout=30_000) as blocker:
        controller.start(IngestConfig(url=f"ws://127.0.0.1:{free_port()}", db_path=tmp_path / "missing" / "x.db"))
    assert blocker.args[0]
    controller.shutdown()
