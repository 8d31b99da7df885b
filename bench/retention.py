"""Retention that keeps pace: the demo stream at its full rate into a new file, with `--retain-rows 1000000` and
without, in the same run, `--seconds` each (600 by default, as the issue asks; shorter works).

Prints the file's size (database + WAL) every 10 s of each run, then:
  rate_ratio          retained rows/s / baseline rows/s (target >= 0.9)
  size_deviation      retained run, after --settle seconds (default 60) and once the table is full: the largest
                      distance of a sample from their mean, as a share of the mean (target <= 10 %)
Run it alone (it measures the machine), under the benchmark lock:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/retention.py [--seconds 90] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop_app.core.demo import spawn_demo_server  # noqa: E402

KEEP = 1_000_000
SAMPLE_S = 1.0


def size(db: Path) -> int:
    total = 0
    for path in (db, Path(f"{db}-wal")):
        with contextlib.suppress(FileNotFoundError):  # no WAL yet
            total += os.stat(path).st_size
    return total


def run(seconds: float, retain: int | None, folder: Path, ledger_for: str | None) -> dict[str, object]:
    db = folder / ("retained.db" if retain else "baseline.db")
    extra = ["--retain-rows", str(retain)] if retain else []
    if retain and ledger_for:
        extra += ["--retain-ledger-for", ledger_for]
    samples: list[tuple[float, int]] = []
    with spawn_demo_server() as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "ingest", server.url, "--db", str(db), "--seconds", str(seconds),
             "--json", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        started = time.monotonic()
        while process.poll() is None:
            samples.append((time.monotonic() - started, size(db)))
            time.sleep(SAMPLE_S)
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"ingest failed ({process.returncode}): {stderr.strip()}")
    stats = json.loads(stdout.strip().splitlines()[-1])
    return {"rows_per_s": stats["rows_per_s"], "written": stats["written"], "samples": samples,
            "final_bytes": size(db)}


def deviation(samples: list[tuple[float, int]], settle: float, full_at: float) -> float | None:
    late = [value for at, value in samples if at >= max(settle, full_at)]
    if len(late) < 2:
        return None
    mean = sum(late) / len(late)
    return max(abs(value - mean) for value in late) / mean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="each run (default 600)")
    parser.add_argument("--settle", type=float, default=60.0, help="size samples count from then (default 60)")
    parser.add_argument("--keep", type=int, default=KEEP, help=f"rows kept (default {KEEP:,})")
    parser.add_argument(
        "--ledger-for", metavar="D", help="also --retain-ledger-for D (the ledger grows one row per batch, ~40 "
        "bytes, ~15 kB/s at full rate, unless it has an age too)")
    parser.add_argument("--retained-first", action="store_true", help="run the retained case first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pulse-retention-") as name:
        folder = Path(name)
        results: dict[str, dict[str, object]] = {}
        for case in (("retained", "baseline") if args.retained_first else ("baseline", "retained")):
            if case == "baseline":
                print(f"baseline: {args.seconds:g} s at the demo's full rate, no retention …", flush=True)
                results[case] = run(args.seconds, None, folder, None)
            else:
                ledger = f", --retain-ledger-for {args.ledger_for}" if args.ledger_for else ""
                print(f"retained: {args.seconds:g} s, --retain-rows {args.keep:,}{ledger} …", flush=True)
                results[case] = run(args.seconds, args.keep, folder, args.ledger_for)
        baseline, retained = results["baseline"], results["retained"]
    rate = float(retained["rows_per_s"])  # type: ignore[arg-type]
    # When the table filled: the retained run's rows written reach `keep` at about keep / rate seconds.
    full_at = args.keep / rate if rate else float("inf")
    ratio = rate / float(baseline["rows_per_s"])  # type: ignore[arg-type]
    spread = deviation(retained["samples"], args.settle, full_at)  # type: ignore[arg-type]
    print(f"{'t (s)':>6} {'baseline MB':>12} {'retained MB':>12}")
    base_samples: list[tuple[float, int]] = baseline["samples"]  # type: ignore[assignment]
    kept_samples: list[tuple[float, int]] = retained["samples"]  # type: ignore[assignment]
    for index in range(0, max(len(base_samples), len(kept_samples)), 10):
        row = [f"{index * SAMPLE_S:6.0f}"]
        for samples in (base_samples, kept_samples):
            row.append(f"{samples[index][1] / 1e6:12.1f}" if index < len(samples) else f"{'':>12}")
        print(" ".join(row))
    print(f"baseline {float(baseline['rows_per_s']):,.0f} rows/s, {baseline['written']:,} rows, "  # type: ignore[arg-type]
          f"{int(baseline['final_bytes']) / 1e6:,.1f} MB")  # type: ignore[call-overload]
    print(f"retained {rate:,.0f} rows/s, {retained['written']:,} rows, "
          f"{int(retained['final_bytes']) / 1e6:,.1f} MB (table full after ~{full_at:.0f} s)")  # type: ignore[call-overload]
    print(f"rate_ratio {ratio:.3f} (target >= 0.9)")
    print("size_deviation " + ("n/a (run longer than --settle and the fill)" if spread is None
                               else f"{spread * 100:.1f} % (target <= 10 %)"))
    if args.json:
        print(json.dumps({"rate_ratio": round(ratio, 3), "size_deviation": None if spread is None else round(spread, 4),
                          "baseline_rows_per_s": baseline["rows_per_s"], "retained_rows_per_s": rate,
                          "seconds": args.seconds, "keep": args.keep, "full_at_s": round(full_at, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
