"""`migrate SRC.db --to postgresql://...`: copy a SQLite database into PostgreSQL (core/postgres/migrate.py).

Ctrl+C cancels: the table being copied is rolled back, finished tables stay, and a rerun skips them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from desktop_app.core.words import counted

EXIT_OK = 0
EXIT_CANCELLED = 1
EXIT_FAILED = 1  # a table failed (the others were copied): its reason is in the summary and --json


def register(subparsers: argparse._SubParsersAction) -> None:
    migrate = subparsers.add_parser("migrate", help="copy a SQLite database into PostgreSQL (resumable, verified)")
    migrate.add_argument("source", type=Path, metavar="SRC.db")
    migrate.add_argument(
        "--to", required=True, metavar="URL",
        help="postgresql://user@host:port/dbname[?sslmode=...] (password from PGPASSWORD, ~/.pgpass or a prompt)",
    )
    migrate.add_argument("--tables", nargs="+", metavar="T", help="only these tables (default: all)")
    migrate.add_argument("--schema", metavar="S", help="PostgreSQL schema to copy into (created if missing)")
    migrate.add_argument(
        "--lowercase-names", action="store_true",
        help="fold every table, column, index and constraint name to lower case, as PostgreSQL folds unquoted names",
    )
    migrate.add_argument(
        "--convert-dates", action="store_true",
        help="a column declared DATE, DATETIME or TIMESTAMP whose every value is ISO-8601 text becomes date, timestamp "
             "or timestamptz (default: dates stay exact text); a column with another value stays text and is listed",
    )
    migrate.add_argument("--batch-rows", type=int, default=20_000, metavar="N", help=argparse.SUPPRESS)
    migrate.add_argument(
        "--invalid-text", choices=("fail", "bytea", "replace"), default="fail",
        help="a text column holding bytes that are not UTF-8 or a NUL (PostgreSQL text takes neither): fail that "
             "table naming the column and rowid (default), copy the column as bytea (exact bytes), or replace each "
             "invalid sequence and NUL by U+FFFD",
    )
    migrate.add_argument(
        "--restart", nargs="+", metavar="T|all",
        help="drop and copy again these tables an earlier migrate of this file copied (all: every such table the "
             "source changed since); tables migrate did not create are never dropped",
    )
    migrate.add_argument("--json", action="store_true", help="one JSON object with the result")
    migrate.set_defaults(handler=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from desktop_app.core.errors import PulseError
    from desktop_app.core.ingest.sinks import prepare_target
    from desktop_app.core.ingest.targets import require_server_url
    from desktop_app.core.postgres.migrate import MigrateCancelled, Migration
    from desktop_app.core.postgres.url import mask_url
    from desktop_app.core.worker import Worker

    require_server_url(args.to, f"--to must be a postgresql:// URL (got {mask_url(args.to)}).")
    for note in prepare_target(args.to, interactive=sys.stdin.isatty()):
        print(f"sqlite-pulse: note: {note}", file=sys.stderr)
    show = sys.stderr.isatty() and not args.json

    def progress(table: str, done: int, total: int) -> None:
        if show:
            print(f"\r{table}: {done:,} / {total:,} rows", end="", file=sys.stderr, flush=True)

    migration = Migration(args.source, args.to, tables=args.tables, schema=args.schema, batch_rows=args.batch_rows,
                          lowercase_names=args.lowercase_names, invalid_text=args.invalid_text,
                          restart=args.restart, convert_dates=args.convert_dates)
    outcome: dict = {}

    async def copy() -> None:
        # The same job shape as the window's copy: Ctrl+C / SIGTERM cancel the job, progress reaches this loop.
        worker = Worker("pulse-migrate")
        job = worker.submit("migrate", migration.run_job, progress=progress)
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, job.cancel)
        try:
            outcome["result"] = await job
        except PulseError as exc:
            outcome["error"] = exc
        finally:
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(number)
            await worker.aclose()

    asyncio.run(copy())
    if show:
        print(file=sys.stderr)
    error = outcome.get("error")
    if isinstance(error, MigrateCancelled):
        print(f"sqlite-pulse: {error}", file=sys.stderr)
        if args.json:
            print(json.dumps({"cancelled": True, "message": str(error)}))
        return EXIT_CANCELLED
    if error is not None:
        raise error
    result = outcome["result"]
    failed = [table for table in result.tables if table.status == "failed"]
    code = EXIT_FAILED if failed else EXIT_OK
    if args.json:
        print(json.dumps(result.to_dict()))
        return code
    for table in result.tables:
        if table.status == "failed":
            print(f"{table.name}: FAILED, not copied: {table.reason}")
            continue
        note = "already copied and verified" if table.status == "skipped" else f"{table.seconds:.1f} s"
        print(f"{table.name}: {table.rows:,} rows ({note})")
    for item in result.renamed:
        print(f"renamed: {item['kind']} {item['from']} -> {item['to']} (PostgreSQL names are at most 63 bytes)")
    if result.foreign_keys:
        print(f"foreign keys added: {len(result.foreign_keys)}")
    if result.snapshot:
        print("read from a snapshot of the source (a rollback journal: its writers kept writing meanwhile)")
    for item in result.untranslated:
        label = "added NOT VALID" if "rows" in item else "not translated"  # a key the source's rows break
        written = f" ({item['sql']})" if item.get("sql") and item["type"] in ("check", "default") else ""
        print(f"{label}: {item['type']} {item['name']}{written}: {item['reason']}")
    print(result.headline())
    if failed:
        print(f"sqlite-pulse: {counted(len(failed), 'table')} not copied (see above); the others are copied and a rerun "
              "skips them", file=sys.stderr)
    return code
