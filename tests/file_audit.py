"""Catch Python code opening a SQLite database's files: the mechanical guard for "SQLite's files are SQLite's".

Closing any descriptor of a file drops every POSIX lock the process holds on it, so in a process that
holds a SQLite connection nothing but SQLite may open the database, its -wal, -shm or -journal.
SQLite opens files from C, without Python's audit events; so every "open" event for one of those paths
is ours, and a bug. Audit hooks cannot be removed, so scenarios run in a child process:

    result = run_audited(SCENARIO, db_path)      # SCENARIO: Python source using `DB` (a str path)
    assert result.opens == []

The child prints one JSON line at exit (marker `AUDIT:`) with each recorded open and the stack that did it.
The scenario's own stdout is kept in `result.stdout` for its assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

FAMILY_SUFFIXES = ("", "-wal", "-shm", "-journal")
MARKER = "AUDIT:"


class FileAudit:
    """Records every Python-level open of the watched databases' family files, with a short stack."""

    def __init__(self, databases: list[str | Path]) -> None:
        self.watched = {
            f"{os.path.realpath(database)}{suffix}" for database in databases for suffix in FAMILY_SUFFIXES
        }
        self.opens: list[dict[str, object]] = []

    def install(self) -> None:
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if event != "open" or not args or isinstance(args[0], int) or args[0] is None:
            return
        raw = os.fsdecode(args[0])
        path = os.path.realpath(raw)
        if path in self.watched:
            stack = traceback.format_stack(limit=8)[:-1]
            self.opens.append({"path": path, "mode": args[1], "stack": "".join(stack)})

    def opens_of(self, suffix: str) -> list[dict[str, object]]:
        return [record for record in self.opens if str(record["path"]).endswith(suffix)]

    def dump(self) -> None:
        print(MARKER + json.dumps(self.opens), flush=True)


PRELUDE = """
import sys
sys.path.insert(0, {root!r})
from tests.file_audit import FileAudit
DB = {db!r}
AUDIT = FileAudit([DB, *{extra!r}])
AUDIT.install()
try:
{body}
finally:
    AUDIT.dump()
"""


@dataclass
class AuditResult:
    returncode: int
    stdout: str
    stderr: str
    opens: list[dict[str, object]]

    def describe(self) -> str:
        return "\n".join(f"{record['path']} ({record['mode']}):\n{record['stack']}" for record in self.opens)


def run_audited(
    scenario: str, database: Path, *, extra: tuple[Path, ...] = (), timeout: float = 120
) -> AuditResult:
    """Run `scenario` (Python source; `DB` is the database path) in a child with the audit hook installed."""
    root = str(Path(__file__).resolve().parent.parent)
    body = "\n".join("    " + line for line in scenario.strip("\n").splitlines())
    source = PRELUDE.format(root=root, db=str(database), extra=[str(p) for p in extra], body=body)
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=timeout, env=env
    )
    opens: list[dict[str, object]] = []
    lines = []
    for line in result.stdout.splitlines():
        if line.startswith(MARKER):
            opens = json.loads(line[len(MARKER) :])
        else:
            lines.append(line)
    return AuditResult(result.returncode, "\n".join(lines), result.stderr, opens)
