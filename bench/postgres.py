"""PostgreSQL speed: `migrate` of a large table, and ingest into PostgreSQL vs SQLite on the same stream.

Starts a throwaway PostgreSQL server (Debian's initdb + pg_ctl, fsync on, as tests/postgres_server.py
does) unless --url names one, then measures, in one run:

  migrate    a --rows-row, 5-column table (INTEGER key, TEXT, REAL, INTEGER, TEXT) copied with COPY,
             against the naive baseline: psycopg executemany INSERT of a sample of --naive-rows rows
  ingest     `ingest-file` of one recorded demo stream (--messages, 1 in 1000 malformed) into a new
             SQLite file and into PostgreSQL, --repeat times each, alternating; rows/s and the ratio

    python bench/postgres.py [--rows 1000000] [--messages 200000] [--repeat 3] [--json]
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

import apsw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from desktop_app.core.postgres.migrate import Migration  # noqa: E402
from desktop_app.core.postgres.url import connect  # noqa: E402


def build_source(path: Path, rows: int) -> None:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=wal").fetchall()
    connection.execute("CREATE TABLE orders(id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount REAL, "
                       "quantity INTEGER, note TEXT)")
    with connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO orders SELECT i, 'customer ' || (i % 5000), i * 0.37, i % 97, "
            "CASE WHEN i % 3 = 0 THEN NULL ELSE 'note number ' || i END FROM n", (rows,),
        )
    connection.close()


def naive_insert(url: str, source: Path, rows: int) -> float:
    sample = apsw.Connection(str(source)).execute(f"SELECT * FROM orders LIMIT {rows}").fetchall()
    with connect(url) as pg:
        pg.execute("CREATE TABLE naive(id bigint PRIMARY KEY, customer text NOT NULL, amount double precision, "
                   "quantity bigint, note text)")
        started = time.perf_counter()
        with pg.cursor() as cursor:
            cursor.executemany("INSERT INTO naive VALUES (%s, %s, %s, %s, %s)", sample)
        pg.commit()
        return rows / (time.perf_counter() - started)


def ingest(stream: Path, db: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "desktop_app", "ingest-file", str(stream), "--db", db, "--json"],
                            capture_output=True, text=True, check=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an existing server's database URL (default: start a throwaway server)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pulse-bench-pg-")))
        if args.url:
            def new_url(name: str) -> str:
                with connect(args.url, autocommit=True) as pg:
                    pg.execute(f'CREATE DATABASE "{name}"')
                return args.url.rsplit("/", 1)[0] + "/" + name
        else:
            from tests.postgres_server import running_server

            server = stack.enter_context(running_server(durable=True))

            def new_url(name: str) -> str:
                return server.url(server.new_database(name))

        source = folder / "orders.db"
        build_source(source, args.rows)
        url = new_url("migrate")
        migrate = Migration(source, url).run()
        naive = naive_insert(new_url("naive"), source, args.naive_rows)
        stream = folder / "demo.ndjson"
        subprocess.run([sys.executable, "-m", "desktop_app", "demo-server", "--to-file", str(stream), "--count",
                        str(args.messages), "--malformed-every", "1000"], check=True, capture_output=True, cwd=ROOT)
        sqlite_rates, pg_rates = [], []
        for attempt in range(args.repeat):
            sqlite_report = ingest(stream, str(folder / f"ingest{attempt}.db"))
            pg_report = ingest(stream, new_url(f"ingest{attempt}"))
            assert pg_report["written"] == sqlite_report["written"], (pg_report, sqlite_report)
            sqlite_rates.append(sqlite_report["rows_per_s"])
            pg_rates.append(pg_report["rows_per_s"])
    ratios = [p / s for p, s in zip(pg_rates, sqlite_rates, strict=True)]
    result = {
        "migrate_rows": migrate.rows, "migrate_seconds": migrate.seconds, "migrate_rows_per_s": migrate.rows_per_s,
        "naive_insert_rows_per_s": round(naive, 1),
        "ingest_messages": args.messages,
        "ingest_sqlite_rows_per_s": sqlite_rates, "ingest_postgres_rows_per_s": pg_rates,
        "ingest_ratio": [round(r, 2) for r in ratios],
    }
    print(f"migrate   {migrate.rows:,} rows in {migrate.seconds:.1f} s = {migrate.rows_per_s:,.0f} rows/s "
          f"(naive executemany INSERT: {naive:,.0f} rows/s, {migrate.rows_per_s / naive:.0f}x)")
    print(f"ingest    SQLite {min(sqlite_rates):,.0f}-{max(sqlite_rates):,.0f} rows/s, PostgreSQL "
          f"{min(pg_rates):,.0f}-{max(pg_rates):,.0f} rows/s; ratio {min(ratios):.2f}-{max(ratios):.2f}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
