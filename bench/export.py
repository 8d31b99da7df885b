"""Exporting a big table to CSV: rows/s and peak memory of `query --csv`, against baselines from the same run.

Builds (once, cached in the temp folder) an "Order Details"-like table: integers, floats, unicode text with
quotes, commas and newlines, NULLs and BLOBs. Then runs, each as its own process writing a CSV file:
  (c) SQLite Pulse: `python -m desktop_app query DB 'SELECT * FROM "Order Details"' --csv -o FILE`
  (a) the sqlite3 shell in CSV mode (`sqlite3 -csv -header`), when the `sqlite3` command exists
  (b) a naive Python export: stdlib sqlite3 `fetchall()` then `csv.writer().writerows()`
and reports rows/s (median of --repeat runs) and each process's peak RSS (from wait4's rusage), plus the
ratios c/a and c/b. JSON and NDJSON exports are timed once for reference. Run it alone (it measures the
machine), under the benchmark lock:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/export.py [--rows 2000000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from measure import cached, fill_table, rows_per_second, run_measured

TABLE = '"Order Details"'
SQL = f"SELECT * FROM {TABLE}"

NAIVE_EXPORT = """
import csv, sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
cursor = connection.execute(sys.argv[2])
rows = cursor.fetchall()
with open(sys.argv[3], "w", newline="", encoding="utf-8") as out:
    writer = csv.writer(out)
    writer.writerow([d[0] for d in cursor.description])
    writer.writerows(rows)
"""


def build(path: Path, rows: int) -> None:
    fill_table(
        path,
        f"CREATE TABLE {TABLE}(OrderID INTEGER, ProductID INTEGER, UnitPrice REAL, Quantity INTEGER, "
        "Discount REAL, Note TEXT, Raw BLOB, PRIMARY KEY (OrderID, ProductID))",
        f"INSERT INTO {TABLE} SELECT 10000 + i / 10, i % 10, i * 0.25, i % 50, "
        "CASE WHEN i % 7 = 0 THEN NULL ELSE 0.05 END, "
        "CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN printf('Crème \"brûlée\", 日本 %d', i) "
        "WHEN 2 THEN printf('line1' || char(10) || 'line2 %d', i) ELSE printf('plain %d', i) END, "
        "CASE WHEN i % 3 = 0 THEN unhex(printf('%08x00ff', i)) END FROM n",
        rows,
    )


def cached_database(rows: int) -> Path:
    return cached(f"order-details-{rows}.db", lambda partial: build(partial, rows), f"building {rows:,} rows in")


def measure(name: str, command: list[str], rows: int, repeat: int, stdout_path: Path | None = None) -> dict:
    runs = [run_measured(command, stdout_path) for _ in range(repeat)]
    return rows_per_second(name, runs, rows, width=44)


def count_csv_records(path: Path) -> int:
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _row in csv.reader(handle)) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()

    db = cached_database(args.rows)
    pulse = [sys.executable, "-m", "desktop_app", "query", str(db), SQL]
    with tempfile.TemporaryDirectory(prefix="pulse-export-") as folder:
        out = Path(folder) / "out.csv"
        print(
            f"exporting {args.rows:,} rows of {TABLE} to CSV ({args.repeat} runs each, median):", flush=True
        )
        results = {"rows": args.rows, "database_mb": round(db.stat().st_size / 1e6, 1)}
        pulse_csv = measure(
            "(c) SQLite Pulse: query --csv -o FILE", [*pulse, "--csv", "-o", str(out)], args.rows, args.repeat
        )
        exported = count_csv_records(out)
        if exported != args.rows:
            raise SystemExit(f"query --csv wrote {exported:,} records, expected {args.rows:,}")
        results["pulse_csv"] = pulse_csv
        if shutil.which("sqlite3"):
            shell = ["sqlite3", "-readonly", "-csv", "-header", str(db), SQL]
            results["sqlite3_shell_csv"] = measure(
                "(a) sqlite3 shell, -csv -header", shell, args.rows, args.repeat, out
            )
            results["ratio_vs_sqlite3_shell"] = round(
                pulse_csv["rows_per_s"] / results["sqlite3_shell_csv"]["rows_per_s"], 3
            )
        else:
            print("  (a) sqlite3 shell: not installed, skipped")
        naive = [sys.executable, "-c", NAIVE_EXPORT, str(db), SQL, str(out)]
        results["naive_python_csv"] = measure(
            "(b) stdlib sqlite3 fetchall + csv.writer", naive, args.rows, args.repeat
        )
        results["ratio_vs_naive_python"] = round(
            pulse_csv["rows_per_s"] / results["naive_python_csv"]["rows_per_s"], 3
        )
        for fmt in ("json", "ndjson"):
            results[f"pulse_{fmt}"] = measure(
                f"    SQLite Pulse: query --{fmt} -o FILE", [*pulse, f"--{fmt}", "-o", str(out)], args.rows, 1
            )
    print(
        f"ratio c/a (vs sqlite3 shell) = {results.get('ratio_vs_sqlite3_shell', 'n/a')}, "
        f"c/b (vs naive Python) = {results['ratio_vs_naive_python']}"
    )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
