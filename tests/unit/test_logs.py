"""Logging is configured once: named loggers under desktop_app, stderr for warnings, the window's log file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app import logs


def test_log_level_is_taken_from_anywhere_in_the_command_line() -> None:
    assert logs.split_log_level(["stats", "x.db", "--log-level", "debug"]) == ("debug", ["stats", "x.db"])
    assert logs.split_log_level(["--log-level=info", "ingest", "ws://h"]) == ("info", ["ingest", "ws://h"])
    assert logs.split_log_level(["x.db"]) == (None, ["x.db"])
    with pytest.raises(ValueError, match="choose one of"):
        logs.split_log_level(["--log-level", "loud"])


def run_child(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)


def test_the_window_process_logs_to_a_rotating_file_and_warnings_to_stderr(tmp_path: Path) -> None:
    code = (
        "import logging, sys\n"
        "from desktop_app import logs\n"
        "path = logs.configure(sys.argv[1], to_file=True)\n"
        "assert logs.configure('debug', to_file=True) == path  # once: a second call changes nothing\n"
        "log = logging.getLogger('desktop_app.core.ingest.writer')\n"
        "log.debug('hidden'); log.info('kept in the file'); log.warning('shown')\n"
        "print(path)\n"
    )
    done = run_child(code, tmp_path, "warning")
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == tmp_path / "state" / "sqlite-pulse" / "sqlite-pulse.log"
    text = path.read_text()
    assert "kept in the file" in text and "shown" in text and "hidden" not in text
    assert "desktop_app.core.ingest.writer" in text
    assert "shown" in done.stderr and "kept in the file" not in done.stderr


def test_a_bad_level_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "desktop_app", "--log-level", "loud", "stats", "x.db"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--log-level" in done.stderr
