"""Odd files from outside: the verbs as a user runs them on pipes, devices, hot journals and damaged files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest

from tests.odd_files import committed_notes, make_damaged_index, make_hot_journal


def pulse(*args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sqlite-pulse: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("verb", ["stats", "check", "watch"])
def test_pipes_and_devices_are_refused_within_5_seconds(tmp_path: Path, verb: str) -> None:
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "named pipe"), (Path("/dev/urandom"), "device"), (Path("/dev/zero"), "device")):
        started = time.monotonic()
        result = pulse(verb, path, timeout=5)  # a hang raises TimeoutExpired
        assert time.monotonic() - started < 5
        assert kind in one_error_line(result)
        assert result.stdout == ""


def test_a_hot_journal_stats_explains_and_check_recovers(tmp_path: Path) -> None:
    path = tmp_path / "hot.db"
    committed = make_hot_journal(path)
    line = one_error_line(pulse("stats", path, "--json"))
    assert "hot journal" in line and f"sqlite-pulse check {path}" in line
    assert "hot journal" in one_error_line(pulse("watch", path, "--seconds", "1"))
    assert Path(f"{path}-journal").exists()  # stats and watch are read-only: they rolled nothing back

    checked = pulse("check", path)
    assert checked.returncode == 0, checked.stderr
    assert "Rolled back a hot journal" in checked.stdout and "Integrity check passed" in checked.stdout
    assert not Path(f"{path}-journal").exists()
    assert committed_notes(path) == committed  # every committed row, nothing of the killed transaction
    assert pulse("stats", path, "--json").returncode == 0


def test_check_prints_sqlite_lines_up_to_max_errors(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    make_damaged_index(path)
    result = pulse("check", path)
    assert result.returncode == 1
    assert "Multiple uses for byte" in result.stdout and "missing from index ts" in result.stdout
    capped = pulse("check", path, "--max-errors", "3")
    assert capped.returncode == 1
    assert capped.stdout.count("missing from index ts") == 2  # 3 rows: the page line, then two index lines


@pytest.mark.parametrize("verb", ["backup", "vacuum-into"])
def test_copies_of_a_damaged_database_fail_and_say_why(tmp_path: Path, verb: str) -> None:
    source = tmp_path / "damaged.db"
    make_damaged_index(source)
    copy = tmp_path / "copy.db"
    args = ("backup", source, copy) if verb == "backup" else ("vacuum", source, "--into", copy)
    result = pulse(*args)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert "damaged.db is damaged" in error and "quick_check" in error and "Traceback" not in result.stderr
    assert not copy.exists()
    connection = apsw.Connection(str(source))  # the source itself is untouched: still there to salvage
    assert connection.execute("SELECT count(*) FROM t").fetchall() == [(3000,)]
    connection.close()
