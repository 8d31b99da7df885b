"""`migrate` against pgloader, SQLite -> PostgreSQL, alternating runs on the same machine and server.

Two sources: a --rows-row, 5-column table (bench/postgres.py's `orders`) and a Northwind built large
(tests/sample_databases.py, --order-lines rows in "Order Details", 0.4 orders per line). Each run copies
the whole file into a new database of one throwaway PostgreSQL 15 (fsync on, as tests/postgres_server.py
starts it), ours then pgloader's, --repeat times; rows/s = the source's rows / the command's wall time (both
are whole commands: interpreter start-up, schema, copy, indexes, keys). Every run's row counts are checked
in PostgreSQL. Ours runs with --convert-dates, since pgloader turns DATETIME into timestamptz too.

pgloader refuses Northwind's `DEFAULT (datetime('now'))` as a timestamptz default, so its run is given a
CAST rule dropping that default (reported). Without pgloader installed (Debian: `apt-get install pgloader`)
ours is measured alone.

    python bench/migrate_vs_pgloader.py [--rows 1000000] [--order-lines 600000] [--repeat 2] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import apsw
from postgres import ROOT, build_source  # bench/postgres.py (this folder is on sys.path)

sys.path.insert(0, str(ROOT))

from desktop_app.core.postgres.url import connect  # noqa: E402
from tests.postgres_server import running_server  # noqa: E402
from tests.sample_databases import build_northwind  # noqa: E402

# pgloader makes DATETIME columns timestamptz and cannot take SQLite's datetime('now') as their default.
PGLOADER_CAST = "CAST column Orders.OrderDate to timestamptz drop default"


def source_rows(path: Path) -> dict[str, int]:
    connection = apsw.Connection(str(path))
    try:
        names = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'")]
        return {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}
    finally:
        connection.close()


def target_rows(url: str, names: list[str]) -> dict[str, int]:
    """Each source table's rows in PostgreSQL, found whatever case the tool gave its name."""
    with connect(url) as pg:
        found = dict(pg.execute("SELECT lower(table_name), table_name FROM information_schema.tables "
                                "WHERE table_schema = 'public'").fetchall())
        return {name: pg.execute(f'SELECT count(*) FROM "{found[name.lower()]}"').fetchone()[0]
                for name in names if name.lower() in found}


def ours(source: Path, url: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "desktop_app", "migrate", str(source), "--to", url, "--convert-dates",
                    "--json"], check=True, capture_output=True, cwd=ROOT, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def theirs(source: Path, url: str, folder: Path, cast: str | None) -> float:
    command = folder / "load.pgloader"
    command.write_text(f"LOAD DATABASE FROM sqlite://{source} INTO {url}\n" + (f" {cast}\n" if cast else "") + ";\n")
    started = time.perf_counter()
    done = subprocess.run(["pgloader", str(command)], capture_output=True, text=True, cwd=folder)
    took = time.perf_counter() - started
    if done.returncode != 0 or "FATAL" in done.stdout + done.stderr:
        raise SystemExit(f"pgloader failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--order-lines", type=int, default=600_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pgloader = shutil.which("pgloader")
    if pgloader is None:
        print("pgloader is not installed (Debian: apt-get install pgloader): measuring migrate alone")
    report: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pulse-bench-pgloader-")))
        server = stack.enter_context(running_server(durable=True))
        sources = {"table": (folder / "orders.db", None), "northwind": (folder / "northwind.db", PGLOADER_CAST)}
        build_source(sources["table"][0], args.rows)
        build_northwind(sources["northwind"][0], order_lines=args.order_lines)
        for label, (source, cast) in sources.items():
            expected = source_rows(source)
            total = sum(expected.values())
            rates: dict[str, list[float]] = {"ours": [], "pgloader": []}
            for attempt in range(args.repeat):  # alternating: ours, theirs, ours, theirs
                for tool in ("ours", "pgloader") if pgloader else ("ours",):
                    url = server.url(server.new_database(f"{label}_{tool}_{attempt}"))
                    took = ours(source, url) if tool == "ours" else theirs(source, url, folder, cast)
                    copied = target_rows(url, list(expected))
                    assert copied == expected, (tool, label, copied, expected)
                    rates[tool].append(total / took)
                    print(f"{label:9} {tool:8} {total:,} rows in {took:5.2f} s = {total / took:10,.0f} rows/s", flush=True)
            entry: dict = {"rows": total, "ours_rows_per_s": [round(r) for r in rates["ours"]]}
            if rates["pgloader"]:
                ratio = statistics.median(rates["ours"]) / statistics.median(rates["pgloader"])
                entry |= {"pgloader_rows_per_s": [round(r) for r in rates["pgloader"]], "ratio": round(ratio, 2)}
                print(f"{label:9} ours {statistics.median(rates['ours']):,.0f} rows/s vs pgloader "
                      f"{statistics.median(rates['pgloader']):,.0f} rows/s (medians): {ratio:.2f}x (target 1.5x)"
                      + (f"; pgloader needed: {cast}" if cast else ""))
            report[label] = entry
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
