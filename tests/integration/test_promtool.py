"""Prometheus's own checker on real scrapes: `watch --serve` and `ingest --metrics`, each scraped once its
first figures are in. Skipped where `promtool` (Debian package `prometheus`) is not installed."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from desktop_app.core.demo import spawn_demo_server
from tests.integration.test_ingest_metrics import IngestProcess
from tests.integration.test_watch_serve import start_serving, stop_serving

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="promtool is not installed (Debian package prometheus)")


def scrape_when(url: str, needle: str, seconds: float = 30) -> str:
    """The exposition text once it holds `needle` (a sample's name)."""
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        if needle in text:
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.05)


def promtool_check(text: str) -> None:
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not checked.stdout.strip() and not checked.stderr.strip(), checked.stdout + checked.stderr  # no lint


def test_promtool_accepts_what_watch_serves(db_path: Path) -> None:
    watch, port = start_serving(db_path)
    try:
        text = scrape_when(f"http://127.0.0.1:{port}/metrics", "sqlite_pulse_up{")
    finally:
        stop_serving(watch)
    promtool_check(text)


def test_promtool_accepts_what_an_ingest_serves(tmp_path: Path) -> None:
    with spawn_demo_server(count=500, malformed_every=50) as server:
        run = IngestProcess(server.url, "--db", str(tmp_path / "m.db"))
        try:
            text = scrape_when(run.url, "sqlite_pulse_ingest_dead_letters_total{")
            run.stop()
        finally:
            run.kill()
    promtool_check(text)
