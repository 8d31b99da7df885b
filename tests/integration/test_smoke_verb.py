"""`sqlite-pulse smoke` offscreen: the real window streams demo data and every check passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def run_smoke(tmp_path: Path, *args: str, platform: str = "offscreen") -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM=platform)
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", "smoke", *args],
        cwd=tmp_path,  # nothing may rely on the source tree being the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def test_smoke_verb_passes_offscreen_and_saves_a_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "shots" / "offscreen.png"
    result = run_smoke(tmp_path, "--seconds", "2", "--screenshot", str(shot))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for check in ("charts received points", "console runs a query", "EXPLAIN QUERY PLAN", "checkpoint", "backup"):
        assert any(line.startswith("ok") and check in line for line in lines), check
    assert "smoke: passed" in result.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in result.stderr


def test_smoke_verb_is_listed_in_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "smoke", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--screenshot" in result.stdout and "--seconds" in result.stdout
