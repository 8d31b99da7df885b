"""Warm start side by side: SQLite Pulse vs DB Browser for SQLite, to a window titled with the opened file.

    PYTHONPATH=$PWD .venv/bin/python bench/startup.py                 # the bundle (dist/), else the source
    PYTHONPATH=$PWD .venv/bin/python bench/startup.py --source --runs 7
    PYTHONPATH=$PWD .venv/bin/python bench/startup.py --tree /work/main --tree .   # and two source trees

Both programs open the same 10,000-row file on the same private Xvfb display (packaging/measure_startup.py:
the clock starts just before the process is spawned and stops when a top-level window's title names the
file, at its MapNotify or at the retitle that follows). Runs alternate between the two programs after one
untimed warm-up each, so both see the same cache and load. DB Browser (`sqlitebrowser`) is only measured
when installed; the app alone is reported otherwise. Prints the medians and their ratio; --target-ratio
makes the exit status say whether the app is within it.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

from measure_startup import XServer, time_window  # noqa: E402 (the packaging helper, by path)

ROWS = 10_000
BROWSER = "DB Browser for SQLite (sqlitebrowser)"
TRACE_VARIABLE = "SQLITE_PULSE_TRACE_STARTUP"  # desktop_app/app.py: the app prints when each start-up step happened


def traced_ms(lines: list[str], step: str) -> list[float]:
    """The time of `step` in the app's start-up trace ("startup     553 ms  <step>")."""
    for line in lines:
        if line.startswith("startup ") and line.endswith(step):
            return [float(line.split()[1])]
    return []
BUNDLE = ROOT / "dist" / "sqlite-pulse" / "sqlite-pulse"


def make_database(path: Path, rows: int = ROWS) -> None:
    # A plain file this process closes before any app opens it: no SQLite connection is held here later.
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE readings(id INTEGER PRIMARY KEY, device TEXT, ts REAL, value REAL)")
        connection.executemany(
            "INSERT INTO readings(device, ts, value) VALUES (?, ?, ?)",
            ((f"sensor-{i % 16}", 1_700_000_000 + i * 0.25, (i * 7919) % 1000 / 10) for i in range(rows)),
        )
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def app_command(source: bool) -> tuple[list[str], str]:
    if not source and BUNDLE.is_file():
        return [str(BUNDLE)], f"SQLite Pulse bundle ({BUNDLE.relative_to(ROOT)})"
    return [sys.executable, "-m", "desktop_app"], "SQLite Pulse from source (python -m desktop_app)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Warm start to a window showing the opened file, side by side.")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per program (after one warm-up)")
    parser.add_argument("--source", action="store_true", help="time `python -m desktop_app` even if a bundle exists")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--tree", type=Path, action="append", default=[], metavar="DIR",
        help="also time `python -m desktop_app` from this source tree (repeatable: a baseline beside a change)",
    )  # fmt: skip
    parser.add_argument("--target-ratio", type=float, default=2.5, help="app median / DB Browser median to stay within")
    args = parser.parse_args(argv)

    command, label = app_command(args.source)
    programs: dict[str, tuple[list[str], dict[str, str]]] = {label: (command, {"PYTHONPATH": str(ROOT)} if args.source else {})}
    for tree in args.tree:
        tree = tree.resolve()
        programs[f"source tree {tree}"] = ([sys.executable, "-m", "desktop_app"], {"PYTHONPATH": str(tree)})
    browser = shutil.which("sqlitebrowser")
    if browser:
        programs[BROWSER] = ([browser], {})
    else:
        print("sqlitebrowser is not installed: timing SQLite Pulse alone.")

    with tempfile.TemporaryDirectory(prefix="pulse-startup-") as scratch:
        database = Path(scratch) / "startup-10k.db"
        make_database(database)
        server = XServer()
        try:
            times: dict[str, list[float]] = {name: [] for name in programs}
            filled: list[float] = []  # the app's own trace: when the opened file's data reached its panels
            for round_number in range(args.runs + 1):
                for name, (program, extra_env) in programs.items():
                    lines: list[str] = []
                    ours = name != BROWSER
                    filled_step = f"{database.name} opened, title set"
                    elapsed, _title = time_window(
                        server, [*program, str(database)], database.name, args.timeout,
                        {**extra_env, TRACE_VARIABLE: "1"} if ours else extra_env, lines if ours else None,
                        filled_step if ours else None,
                    )  # fmt: skip
                    if round_number:  # the first round only warms the page cache
                        times[name].append(elapsed)
                        if name == label:
                            filled.extend(traced_ms(lines, filled_step))
        finally:
            server.close()

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"Warm start to a window titled with {database.name} ({ROWS:,} rows), {args.runs} runs each, one Xvfb display:")
    for name, values in times.items():
        print(f"  {name}: median {medians[name]:.0f} ms (min {min(values):.0f}, max {max(values):.0f})")
    if filled:
        print(f"  {label}: panels filled with the file's data (its own trace, ms since process start): median "
              f"{statistics.median(filled):.0f} ms (min {min(filled):.0f}, max {max(filled):.0f})")
    if not browser:
        return 0
    ratio = medians[label] / medians[BROWSER]
    verdict = "within" if ratio <= args.target_ratio else "OVER"
    print(f"  ratio: {ratio:.2f}x DB Browser ({verdict} the {args.target_ratio:g}x target)")
    return 0 if ratio <= args.target_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
