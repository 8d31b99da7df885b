"""The window and the command line say the same fact in the same words: both take it from the result or
the state itself (`describe()` in core), never from a formatter of their own."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from desktop_app.core.ingest.stats import IngestStats
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.maintenance import WRITE_ACTIONS, MaintenanceActions
from desktop_app.ui.panels.ingest import describe_state
from desktop_app.verbs.inspect import run_checkpoint

pytestmark = pytest.mark.gui


def test_the_retry_wording_is_the_same_in_the_panel_and_on_the_terminal() -> None:
    stats = replace(IngestStats.initial("backoff"), retry_attempts=2, next_retry_in=1.5)
    window_text = describe_state(stats)
    terminal_line = stats.progress_line()  # what `ingest` prints while it runs
    assert window_text == "backoff — reconnecting in 1.5 s (attempt 3)"  # two failed: the next is the third
    assert terminal_line.endswith("  " + window_text)
    lost = replace(stats, retry_attempts=0)  # a connection that dropped: no failed attempt yet
    assert describe_state(lost) == "backoff — reconnecting in 1.5 s" and lost.progress_line().endswith(describe_state(lost))
    paused = replace(stats, state="paused", pause_reason="disk full")
    assert paused.progress_line().endswith("  " + describe_state(paused)) and describe_state(paused) == "paused — disk full"


def test_the_checkpoint_result_reads_the_same_in_the_window_and_on_the_terminal(
    qtbot, open_session, scripted: ScriptedDialogs, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses: list[str] = []
    actions = MaintenanceActions(scripted, statuses.append)
    actions.set_session(open_session(db_path))
    with qtbot.waitSignal(actions.finished, timeout=20_000):
        actions.checkpoint("passive")
    capsys.readouterr()
    assert run_checkpoint(argparse.Namespace(db=db_path, mode="passive", json=False)) == 0
    terminal = capsys.readouterr().out.strip()
    assert terminal.startswith("Checkpoint (PASSIVE): busy=0")
    assert statuses[-1] == terminal


def test_one_list_of_the_jobs_that_write() -> None:
    from desktop_app.core import maintenance

    assert WRITE_ACTIONS is maintenance.WRITE_JOBS
