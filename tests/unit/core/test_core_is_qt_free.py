"""The core must import and work with PySide6, shiboken6, pyqtgraph and qasync unavailable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "qasync")

PROBE = """
import importlib, pkgutil, sys
BLOCKED = {blocked!r}

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"core imported {{name}}")
        return None

sys.meta_path.insert(0, Block())
import desktop_app.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "desktop_app.core.")]
for name in names:
    importlib.import_module(name)
from desktop_app.core.database import create_database
from desktop_app.core.metrics import MetricsSampler
create_database(sys.argv[1])
with MetricsSampler(sys.argv[1]) as sampler:
    assert sampler.sample().journal_mode == "wal"
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("modules", len(names), "blocked-loaded", loaded)
"""


def test_core_imports_without_qt(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(blocked=BLOCKED), str(tmp_path / "probe.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "blocked-loaded []" in result.stdout
    module_count = int(result.stdout.split()[1])
    assert module_count >= 4  # errors, database, metrics, locks at least


def test_no_core_source_mentions_qt() -> None:
    core = Path(__file__).resolve().parents[3] / "desktop_app" / "core"
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in core.rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("import ", "from ")) and any(name in line for name in BLOCKED)
    ]
    assert offenders == []
