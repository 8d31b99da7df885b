"""The real window on a real X server (Xvfb): the smoke self-test passes and the screenshot shows the app."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.xvfb]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_window_under_xvfb_passes_the_smoke_test_and_saves_a_screenshot(tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        pytest.fail("xvfb-run is missing: apt-get install xvfb xauth (make test installs it)")
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    env.pop("DISPLAY", None)
    result = subprocess.run(
        [
            xvfb_run, "-a", "-s", "-screen 0 1400x900x24 -nolisten tcp",
            sys.executable, "-m", "desktop_app", "smoke", "--seconds", "6", "--screenshot", str(shot),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke: passed" in result.stdout
    data = shot.read_bytes()
    width, height = png_size(data)
    assert width >= 1000 and height >= 700
    assert len(data) > 50_000  # charts, text and tables, not an empty frame
