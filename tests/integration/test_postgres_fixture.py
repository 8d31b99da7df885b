"""The throwaway PostgreSQL server of the tests does not outlive a test run that is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.postgres_server import postgres_bin, stop_orphaned_servers

STARTER = """
import time
from tests.postgres_server import running_server
with running_server() as server:
    print(server.root, flush=True)
    time.sleep(120)
"""


def server_running(data: Path) -> bool:
    pid_file = data / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    return Path(f"/proc/{pid}").exists()


def test_a_killed_run_leaves_its_server_to_the_next_one_to_stop() -> None:
    root_dir = Path(__file__).resolve().parents[2]
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True, cwd=root_dir,
                               env=dict(os.environ, PYTHONPATH=str(root_dir)))
    with starter.stdout:
        root = Path(starter.stdout.readline().strip())
        assert server_running(root / "data")
        starter.send_signal(signal.SIGKILL)  # no teardown: pg_ctl's daemon stays behind
        starter.wait(10)
    assert server_running(root / "data")

    stop_orphaned_servers(postgres_bin())
    deadline = time.monotonic() + 10
    while root.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not root.exists()
