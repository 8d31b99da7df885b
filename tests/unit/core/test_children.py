"""The one child-process wrapper, against real children: each stop step ends within its deadline, and
nothing is left running."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest

from desktop_app.core.children import BlockingChild, ChildProcess
from desktop_app.core.errors import PulseError
from tests.processes import alive, children_of

# Each child prints "ready" once its signal handling is in place, so a signal cannot arrive before it.
STOPS_AT_EOF = "import sys; print('ready', flush=True); sys.stdin.read()"
IGNORES_EOF = "import sys, time; print('ready', flush=True); sys.stdin.read(); time.sleep(60)"
IGNORES_SIGTERM = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    "sys.stdin.read(); time.sleep(60)"
)
# Reports as JSON lines, answers commands, and prints some lines that are not ours.
REPORTER = (
    "import json, sys\n"
    "print('ready', flush=True)\n"
    "print('a library talking', flush=True)\n"
    "for line in sys.stdin:\n"
    "    print(json.dumps({'echo': json.loads(line)}), flush=True)\n"
    "print(json.dumps({'event': 'final'}), flush=True)\n"
)
EOF_S, TERM_S, KILL_S = 1.0, 1.0, 2.0
SLACK_S = 1.5  # process start-up and reaping on a busy machine


def ready(line: str) -> str | None:
    return "" if line.strip() == "ready" else None


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def run(scenario, timeout: float = 30.0):
    async def bounded():
        return await asyncio.wait_for(scenario, timeout)

    return asyncio.run(bounded())


async def start(code: str, **options) -> ChildProcess:
    return await ChildProcess.start(python(code), name="test child", ready=ready, **options)


async def timed_stop(child: ChildProcess) -> tuple[int | None, float]:
    started = time.monotonic()
    code = await child.stop(EOF_S, TERM_S, KILL_S)
    return code, time.monotonic() - started


@pytest.mark.parametrize(
    ("code", "exit_code", "within"),
    [
        (STOPS_AT_EOF, 0, EOF_S),  # stdin EOF is enough
        (IGNORES_EOF, -signal.SIGTERM, EOF_S + TERM_S),  # then SIGTERM
        (IGNORES_SIGTERM, -signal.SIGKILL, EOF_S + TERM_S + KILL_S),  # then SIGKILL
    ],
    ids=["exits-at-eof", "ignores-eof", "ignores-sigterm"],
)
def test_stop_escalates_and_ends_within_its_deadline(code: str, exit_code: int, within: float) -> None:
    async def scenario() -> tuple[int, int | None, float]:
        child = await start(code)
        assert alive(child.pid)
        return (child.pid, *await timed_stop(child))

    pid, returned, elapsed = run(scenario())
    assert returned == exit_code
    assert elapsed < within + SLACK_S
    assert not alive(pid) and not children_of(os.getpid())


def test_stop_twice_is_one_stop() -> None:
    async def scenario() -> tuple[int | None, int | None]:
        child = await start(IGNORES_EOF)
        first, second = child.stop(EOF_S, TERM_S, KILL_S), child.stop()
        assert first is second
        return await first, await second

    assert run(scenario()) == (-signal.SIGTERM, -signal.SIGTERM)
    assert not children_of(os.getpid())


def test_a_cancelled_stop_kills_the_child() -> None:
    async def scenario() -> int:
        child = await start(IGNORES_SIGTERM)
        stopping = child.stop(30, 30, 30)
        await asyncio.sleep(0.1)
        stopping.cancel()
        return await asyncio.wait_for(child.process.wait(), 5)

    assert run(scenario()) == -signal.SIGKILL
    assert not children_of(os.getpid())


def test_messages_arrive_on_the_loop_and_commands_reach_the_child() -> None:
    async def scenario() -> tuple[list[dict], int]:
        received: list[dict] = []
        child = await start(REPORTER, on_message=received.append, first={"command": "start"})
        child.send({"command": "more"})
        code = await child.stop(EOF_S, TERM_S, KILL_S)
        await child.finished()
        return received, code

    received, code = run(scenario())
    assert code == 0
    assert received == [{"echo": {"command": "start"}}, {"echo": {"command": "more"}}, {"event": "final"}]


def test_a_child_that_dies_before_its_ready_line_reports_its_stderr() -> None:
    with pytest.raises(PulseError, match="failed to start: .*no such table"):
        run(start("import sys; sys.exit('no such table: readings')"))
    assert not children_of(os.getpid())


def test_a_late_ready_line_times_out_and_leaves_nothing() -> None:
    with pytest.raises(PulseError, match="did not start within 0.5 s"):
        run(start("import time; time.sleep(60)", ready_timeout=0.5))
    assert not children_of(os.getpid())


def test_a_cancelled_start_leaves_nothing() -> None:
    async def scenario() -> None:
        starting = asyncio.ensure_future(start("import time; time.sleep(60)"))
        deadline = time.monotonic() + 10
        while not children_of(os.getpid()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting

    run(scenario())
    assert not children_of(os.getpid())


def test_the_blocking_form_for_callers_without_a_loop() -> None:
    with BlockingChild(lambda: start(STOPS_AT_EOF)) as child:
        pid = child.pid
        assert alive(pid)
    assert child.returncode == 0
    assert not alive(pid) and not children_of(os.getpid())
