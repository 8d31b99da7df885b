"""Importing a big CSV: rows/s and peak memory of `import`, against baselines measured in the same run.

Generates (once, cached in the temp folder) a CSV of --rows rows and 8 columns: integers, zero-padded codes
('007', kept as text), floats, text with quotes, commas and newlines, empty fields. Then runs, each as its own
process importing into a new database:
  (c) SQLite Pulse: `python -m desktop_app import DB FILE --table t --create` (types inferred)
  (a) the sqlite3 shell's `.import --csv FILE t` (every column TEXT), when the `sqlite3` command exists
  (b) `sqlite-utils insert DB t FILE --csv` (4.x detects types), when sqlite-utils is installed (not a dependency:
      `pip install sqlite-utils` for the benchmark)
and reports rows/s (median of --repeat runs), each process's peak RSS (wait4's rusage of that very child) and
the ratios c/a and c/b. Pulse's peak RSS on a tenth of the rows is printed too: flat memory means the same.
Run it alone (it measures the machine), under the benchmark lock:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/import_csv.py [--rows 1000000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

import apsw
from measure import cached, rows_per_second, run_measured

COLUMNS = ["id", "sku", "qty", "price", "city", "note", "ts", "flag"]


def write_csv(path: Path, rows: int) -> None:
    chance = random.Random(7)
    cities = ["Paris", "Oslo", "Lima", "São Paulo", "Zürich", "東京"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            note = 'said "hi", twice' if i % 10 == 0 else ("two\nlines" if i % 97 == 0 else f"note {i}")
            writer.writerow(
                [i, f"{chance.randrange(1000):03d}", chance.randrange(100), f"{chance.random() * 500:.2f}",
                 chance.choice(cities), note, 1_700_000_000 + i, "" if i % 3 else "y"]
            )


def cached_csv(rows: int) -> Path:
    return cached(f"import-{rows}.csv", lambda partial: write_csv(partial, rows), f"writing {rows:,} rows to")


def count_rows(db: Path) -> int:
    connection = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return int(connection.execute("SELECT count(*) FROM t").fetchall()[0][0])
    finally:
        connection.close()


def measure(name: str, command: list[str], db: Path, rows: int, repeat: int) -> dict:
    """Median seconds and the highest peak RSS of `repeat` runs, each into a new database; the rows checked."""
    runs = []
    for _ in range(repeat):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        runs.append(run_measured(command))
        if (found := count_rows(db)) != rows:
            raise SystemExit(f"{name} imported {found:,} rows, expected {rows:,}")
    return rows_per_second(name, runs, rows, width=52)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()

    source, small = cached_csv(args.rows), cached_csv(args.rows // 10)
    results: dict[str, object] = {"rows": args.rows, "csv_mb": round(source.stat().st_size / 1e6, 1)}
    with tempfile.TemporaryDirectory(prefix="pulse-import-") as folder:
        db = Path(folder) / "t.db"
        pulse = [sys.executable, "-m", "desktop_app", "import", str(db)]
        print(f"importing {args.rows:,} rows × {len(COLUMNS)} columns ({results['csv_mb']} MB of CSV), median of {args.repeat}:")
        ours = measure("(c) SQLite Pulse: import --create", [*pulse, str(source), "--table", "t", "--create"], db, args.rows, args.repeat)
        results["pulse"] = ours
        results["pulse_tenth"] = measure(
            f"    the same on {args.rows // 10:,} rows (memory)", [*pulse, str(small), "--table", "t"], db, args.rows // 10, 1
        )
        if shutil.which("sqlite3"):
            shell = ["sqlite3", str(db), f".import --csv {source} t"]
            results["sqlite3_shell"] = measure("(a) sqlite3 shell: .import --csv", shell, db, args.rows, args.repeat)
            results["ratio_vs_sqlite3_shell"] = round(ours["rows_per_s"] / results["sqlite3_shell"]["rows_per_s"], 3)
        else:
            print("  (a) sqlite3 shell: not installed, skipped")
        utils = shutil.which("sqlite-utils") or shutil.which("sqlite-utils", path=str(Path(sys.executable).parent))
        if utils:
            command = [utils, "insert", str(db), "t", str(source), "--csv"]  # 4.x detects types by default
            results["sqlite_utils"] = measure("(b) sqlite-utils insert --csv", command, db, args.rows, 1)
            results["ratio_vs_sqlite_utils"] = round(ours["rows_per_s"] / results["sqlite_utils"]["rows_per_s"], 3)
        else:
            print("  (b) sqlite-utils: not installed, skipped (pip install sqlite-utils)")
    print(
        f"ratio c/a (vs sqlite3 .import) = {results.get('ratio_vs_sqlite3_shell', 'n/a')}, "
        f"c/b (vs sqlite-utils) = {results.get('ratio_vs_sqlite_utils', 'n/a')}"
    )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
