"""The space report against sqlite3_analyzer on a ~1 GB file: time per run, and agreement to the page.

Builds (once, cached in the temp folder) a rollback-journal database of about 1.3 GB, so it reaches the
lock-byte page at 1 GiB: 50 tables with two indexes each (100 indexes), rows from tens of bytes to a few
overflow pages. Then times, each as its own process with its output read by this script, best of
--repeat runs taken in turns:
  (a) `sqlite3_analyzer FILE` (Debian's sqlite3-tools)
  (b) `python -m desktop_app space FILE --json`
and prints b/a (the target is at most 1.5) and whether both give the same pages per table and index, the
same freelist and page count. Run it alone (it measures the machine), under the benchmark lock:

    flock /tmp/pulse-bench.lock .venv/bin/python bench/space.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import apsw
from measure import cached

ROOT = Path(__file__).resolve().parents[1]
TABLES = 50
TABLE_BYTES = 22_000_000  # rows of one table, roughly: with its indexes and slack, 50 of them make ~1.3 GB
# Typical value sizes, in turns: small rows, medium ones, and a few tables whose rows overflow their page.
VALUE_BYTES = (16, 40, 90, 200, 450, 900, 1800, 3500, 6000, 14000)


def build(path: Path) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA page_size = 4096")
    connection.execute("PRAGMA journal_mode = OFF").fetchall()
    connection.execute("PRAGMA synchronous = OFF")
    for i in range(TABLES):
        size = VALUE_BYTES[i % len(VALUE_BYTES)]
        rows = TABLE_BYTES // (size + 60)
        connection.execute(
            f"CREATE TABLE t{i:02}(id INTEGER PRIMARY KEY, k TEXT, n INTEGER, v BLOB);"
            f"BEGIN;"
            f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows}) "
            f"INSERT INTO t{i:02}(k, n, v) SELECT hex(randomblob(8)), abs(random()) % 100000, "
            f"randomblob({size // 2} + abs(random()) % {size}) FROM c;"
            f"COMMIT;"
            f"CREATE INDEX t{i:02}_k ON t{i:02}(k);"
            f"CREATE INDEX t{i:02}_n_k ON t{i:02}(n, k);"
        )
        if i % 10 == 9:  # some free pages too
            connection.execute(f"DELETE FROM t{i:02} WHERE id % 7 = 0")
        print(f"  table {i + 1}/{TABLES}", flush=True)
    connection.execute("PRAGMA journal_mode = DELETE").fetchall()
    connection.close()


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return time.perf_counter() - started, result.stdout


def analyzer_pages(report: str) -> tuple[dict[str, int], dict[str, int]]:
    """sqlite3_analyzer's whole-file counts and its "Page counts for all tables and indices separately"
    (names upper-cased as it prints them)."""
    totals = {}
    for label, key in (
        ("Pages in the whole file (measured)", "page_count"),
        ("Pages on the freelist (per header)", "freelist"),
        ("Pages of auto-vacuum overhead", "pointer_map"),
    ):
        match = re.search(rf"^{re.escape(label)}\.+ (\d+)", report, re.MULTILINE)
        if match is None:
            raise SystemExit(f"no {label!r} line in sqlite3_analyzer's report")
        totals[key] = int(match.group(1))
    section = report.split("*** Page counts for all tables and indices separately", 1)[1].split("\n", 1)[1]
    pages = {}
    for line in section.split("***", 1)[0].splitlines():
        match = re.match(r"^(\S.*?)\.{2,} (\d+)\s", line)
        if match:
            pages[match.group(1)] = int(match.group(2))
    return totals, pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()
    analyzer = shutil.which("sqlite3_analyzer")
    if analyzer is None:
        print("sqlite3_analyzer is missing: install Debian's sqlite3-tools (make system-deps)", file=sys.stderr)
        return 2
    path = cached("space-1g.db", build, "building a ~1.3 GB database with 50 tables and 100 indexes")
    theirs_cmd = [analyzer, str(path)]
    ours_cmd = [sys.executable, "-m", "desktop_app", "space", str(path), "--json"]
    timed(theirs_cmd)  # one untimed run each: the file is in the page cache for both
    timed(ours_cmd)
    theirs_times, ours_times = [], []
    theirs_out = ours_out = ""
    for _ in range(args.repeat):
        seconds, theirs_out = timed(theirs_cmd)
        theirs_times.append(seconds)
        seconds, ours_out = timed(ours_cmd)
        ours_times.append(seconds)
    report = json.loads(ours_out)
    totals, pages = analyzer_pages(theirs_out)
    ours_pages = {o["name"].upper(): o["pages"] for o in report["objects"]}
    differing = sorted(n for n in pages.keys() | ours_pages.keys() if pages.get(n) != ours_pages.get(n))
    ours_totals = {
        "page_count": report["page_count"],
        "freelist": report["freelist_pages"],
        "pointer_map": report["overhead"]["pointer_map_pages"],
    }
    result = {
        "file_bytes": path.stat().st_size,
        "objects": len(report["objects"]),
        "analyzer_s": min(theirs_times),
        "ours_s": min(ours_times),
        "ratio": min(ours_times) / min(theirs_times),
        "pages_agree": not differing and totals == ours_totals,
        "objects_differing": differing,
        "adds_up": report["total_bytes"] == report["database_bytes"] == report["file_bytes"],
        "lock_byte_pages": report["overhead"]["lock_byte_pages"],
        "other_pages": report["overhead"]["other_pages"],
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"file: {path} ({result['file_bytes'] / 1e6:,.0f} MB, {result['objects']} b-trees)")
    print(f"sqlite3_analyzer:      best of {args.repeat} {result['analyzer_s']:.3f} s  {[round(t, 3) for t in theirs_times]}")
    print(f"sqlite-pulse space:    best of {args.repeat} {result['ours_s']:.3f} s  {[round(t, 3) for t in ours_times]}")
    print(f"ratio (ours/analyzer): {result['ratio']:.2f} (target <= 1.5)")
    print(
        f"pages agree to the page: {'yes' if result['pages_agree'] else 'NO'} "
        f"({len(pages)} objects; page count {totals['page_count']:,}, freelist {totals['freelist']:,})"
        + (f"; differing: {differing}" if differing else "")
    )
    print(
        f"parts add up to the file size: {'yes' if result['adds_up'] else 'NO'} "
        f"(lock-byte page {result['lock_byte_pages']}, unaccounted pages {result['other_pages']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
