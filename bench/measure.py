"""Small statistics and cached databases shared by the benchmarks (they run as scripts, so this folder is on
sys.path)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import apsw

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the value below which `fraction` of the samples fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_measured(command: list[str], stdout_path: Path | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process, from wait4's rusage of that very child."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stdout = stdout_path.open("wb") if stdout_path else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, env=env)
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    finally:
        if stdout_path:
            stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {error.strip()}")
    return elapsed, usage.ru_maxrss / 1024


def rows_per_second(name: str, runs: list[tuple[float, float]], rows: int, *, width: int) -> dict:
    """The result of `runs` of `run_measured` over `rows` rows: rows/s of the median run and the highest peak
    RSS, printed as one line (the name padded to `width`)."""
    seconds = statistics.median(elapsed for elapsed, _rss in runs)
    result = {
        "name": name,
        "rows_per_s": round(rows / seconds),
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(max(rss for _elapsed, rss in runs), 1),
        "runs": len(runs),
    }
    print(
        f"  {name:<{width}} {result['rows_per_s']:>10,} rows/s  {seconds:6.2f} s  peak RSS {result['peak_rss_mb']:6.1f} MB",
        flush=True,
    )
    return result


def cached(name: str, make: Callable[[Path], None], what: str = "building") -> Path:
    """`name` in the shared benchmark folder, made once by `make(partial)` then renamed into place (an
    interrupted build leaves only a .partial file, never a half-built database taken for a finished one)."""
    folder = Path(tempfile.gettempdir()) / "sqlite-pulse-bench"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        print(f"{what} {path} (once) …", flush=True)
        make(partial)
        partial.rename(path)
        print(
            f"  built in {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:,.0f} MB",
            flush=True,
        )
    return path


def fill_table(path: Path, create: str, insert_select: str, rows: int) -> None:
    """A throwaway database built fast: `create`, then `insert_select` (an INSERT … SELECT … FROM n, where n(i)
    counts 1..rows) in transactions of a million rows; left in WAL mode like the databases the app watches."""
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA page_size = 8192")
    connection.execute("PRAGMA journal_mode = OFF").fetchall()
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute(create)
    step = 1_000_000
    for start in range(0, rows, step):
        count = min(step, rows - start)
        connection.execute(
            f"BEGIN; WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) {insert_select}; "
            "COMMIT",
            (start + 1, start + count),
        )
    connection.execute("PRAGMA journal_mode = WAL").fetchall()
    connection.close()
