"""The `sqlite-pulse` launcher end to end, in a child process: open a file, or the demo; quit cleanly on SIGTERM."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest

from desktop_app.app import build_parser
from desktop_app.core.database import connect_read

pytestmark = pytest.mark.gui


def test_arguments() -> None:
    args = build_parser().parse_args(["data.db", "--read-only"])
    assert args.path == Path("data.db") and args.read_only and not args.demo
    args = build_parser().parse_args(["--demo", "--demo-rate", "0"])
    assert args.demo and args.demo_rate == 0 and args.path is None


def launch(tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        **(extra_env or {}),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"the app exited early ({process.returncode}): {process.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out; stderr: {process.communicate()[1][-2000:]}")
        time.sleep(0.1)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def terminate(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
        pytest.fail(f"the app did not quit on SIGTERM: {err[-2000:]}")
    return process.returncode, err


def test_opens_the_file_given_on_the_command_line_and_quits_cleanly(tmp_path: Path, db_path: Path) -> None:
    ini = tmp_path / "pulse.ini"
    process = launch(tmp_path, str(db_path), "--settings", str(ini))
    wait_for(lambda: ini.exists() and str(db_path) in ini.read_text(), 60, process)  # recent files: it opened
    code, err = terminate(process)
    assert code == 0, err
    assert "Traceback" not in err
    assert "window" in ini.read_text()  # geometry saved on the way out


def test_demo_mode_streams_live_data_and_leaves_no_server_behind(tmp_path: Path) -> None:
    process = launch(tmp_path, "--demo", "--demo-rate", "1000", "--settings", str(tmp_path / "pulse.ini"))
    demo_db = tmp_path / "data" / "SQLitePulse" / "SQLite Pulse" / "demo.db"

    def has_rows() -> bool:
        if not demo_db.exists():
            return False
        connection = connect_read(demo_db)
        try:
            tables = connection.execute("SELECT name FROM sqlite_schema WHERE name = 'readings'").fetchall()
            return bool(tables) and connection.execute("SELECT count(*) FROM readings").fetchall()[0][0] > 0
        finally:
            connection.close()

    wait_for(has_rows, 60, process)
    servers = children_of(process.pid)
    assert servers, "the demo server should be a child process"
    code, err = terminate(process)
    assert code == 0, err
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in servers)


def test_window_icon_comes_from_the_bundled_svg_when_no_theme_has_it(qapp) -> None:
    from desktop_app.ui.application import BUNDLED_ICON, create_application

    assert BUNDLED_ICON.is_file()
    app = create_application()
    assert not app.windowIcon().isNull()
    assert not app.windowIcon().pixmap(32, 32).isNull()


def test_the_verb_names_known_without_importing_the_verbs_match_the_parser() -> None:
    from desktop_app import cli

    assert cli._verb_names() == cli.VERB_NAMES
    assert cli.is_verb_call(["stats", "x.db"]) and not cli.is_verb_call(["x.db"])


def traced_steps(tmp_path: Path, *args: str, seconds: float) -> list[str]:
    """The start-up trace (SQLITE_PULSE_TRACE_STARTUP) of a run of `seconds`, step names in order."""
    process = launch(tmp_path, *args, "--settings", str(tmp_path / "pulse.ini"),
                     extra_env={"SQLITE_PULSE_TRACE_STARTUP": "1"})
    time.sleep(seconds)
    code, err = terminate(process)
    assert code == 0, err
    return [line.split(" ms  ", 1)[1] for line in err.splitlines() if line.startswith("startup ")]


def test_a_file_on_the_command_line_is_open_and_named_when_the_window_first_shows(tmp_path: Path, db_path: Path) -> None:
    """The file opens first, so the window appears titled with it; its panels are built right after."""
    steps = traced_steps(tmp_path, str(db_path), seconds=4.0)
    assert steps.index("title names the file") < steps.index("window shown") < steps.index("panels built"), steps
    assert any(step.endswith("opened, title set") for step in steps), steps  # and the panels show it


def test_a_slow_open_does_not_hold_the_window_back(tmp_path: Path, delete_mode_db: Path) -> None:
    """Another process holds the file's write lock, so opening waits for it (then says it is locked): the
    window shows first, without waiting for the open."""
    holder = apsw.Connection(str(delete_mode_db))
    holder.execute("BEGIN EXCLUSIVE; INSERT INTO notes(body) VALUES ('held')")
    try:
        steps = traced_steps(tmp_path, str(delete_mode_db), seconds=5.0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    failed = next(index for index, step in enumerate(steps) if step.startswith("open failed"))
    assert steps.index("window shown") < failed, steps


def test_sigterm_before_the_window_first_shows_ends_the_app(tmp_path: Path, delete_mode_db: Path) -> None:
    """The file is locked, so the app is still waiting to open it (its window not shown yet) when SIGTERM
    arrives: the app ends at once and cleanly, and closes what it opened."""
    holder = apsw.Connection(str(delete_mode_db))
    holder.execute("BEGIN EXCLUSIVE; INSERT INTO notes(body) VALUES ('held')")
    try:
        process = launch(tmp_path, str(delete_mode_db), "--settings", str(tmp_path / "pulse.ini"),
                         extra_env={"SQLITE_PULSE_TRACE_STARTUP": "1"})
        seen = []
        deadline = time.monotonic() + 60
        while not any(line.endswith("window frame built") for line in seen):
            ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
            line = process.stderr.readline() if ready else ""
            if not line:
                process.kill()
                process.communicate()
                pytest.fail(f"no frame before the open finished: {seen}")
            seen.append(line.rstrip("\n"))
        process.send_signal(signal.SIGTERM)
        try:
            _out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            pytest.fail("SIGTERM before the window showed did not end the app")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "window shown" not in err, err
