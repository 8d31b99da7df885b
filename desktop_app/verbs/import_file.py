"""`sqlite-pulse import DB FILE [--table T] [--create|--append] [--type COLUMN=TYPE] ...`: a CSV/TSV, NDJSON/JSON or SQL file into
a database (created with production settings when it does not exist), in one transaction (core/importer).

Format, encoding, delimiter and header are detected unless given; what was detected is printed with the
summary. Progress goes to stderr once an import has taken a second. Ctrl+C rolls everything back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop_app.core.importer import ImportProgress, Plan

EXIT_OK = 0
EXIT_INTERRUPTED = 130
PROGRESS_AFTER_S = 1.0  # quick imports print only their summary
PROGRESS_EVERY_S = 1.0  # when stderr is not a terminal (a log): one line a second


def register(subparsers: argparse._SubParsersAction) -> None:
    verb = subparsers.add_parser(
        "import",
        help="import a CSV/TSV, NDJSON/JSON or SQL file into a table (one transaction)",
        description=(
            "Import FILE into DB (created if missing). CSV/TSV: delimiter, header, encoding and column types "
            "(INTEGER, REAL, TEXT; '007' stays text) are detected. JSON: an array of objects or one object a "
            "line; keys are columns, nested values JSON text. SQL: the script's statements. One transaction: "
            "an error (naming its line) or Ctrl+C leaves the database as it was."
        ),
    )
    verb.add_argument("db", type=Path, help="the database (created when it does not exist)")
    verb.add_argument("file", type=Path, help="the file to import")
    verb.add_argument("--table", help="the table to fill (default: the file's name without its suffix)")
    verb.add_argument("--format", choices=("csv", "tsv", "json", "ndjson", "sql"), help="default: from the file")
    mode = verb.add_mutually_exclusive_group()
    mode.add_argument("--create", action="store_true", help="create the table (it must not exist; the default)")
    mode.add_argument("--append", action="store_true", help="add rows to an existing table (columns matched by name)")
    verb.add_argument("--delimiter", metavar="X", help="CSV field separator: one character, or tab")
    header = verb.add_mutually_exclusive_group()
    header.add_argument("--no-header", dest="header", action="store_false", default=None, help="the first row is data")
    header.add_argument("--header", dest="header", action="store_true", help="the first row names the columns")
    verb.add_argument("--encoding", metavar="E", help="text encoding (default: detected: UTF-8, UTF-16, cp1252)")
    verb.add_argument(
        "--type", action="append", default=[], metavar="COLUMN=TYPE",
        help="a column's type instead of the inferred one: INTEGER, REAL or TEXT (repeat)",
    )
    verb.add_argument("--keep-empty", action="store_true", help="CSV: an empty field is '' (default: NULL)")
    verb.add_argument(
        "--as-written", action="store_true", help="SQL: run the script with its own transactions, not in one"
    )
    verb.add_argument("--json", action="store_true", help="print one JSON object")
    verb.set_defaults(handler=run_import_verb)


def run_import_verb(args: argparse.Namespace) -> int:
    from desktop_app.core.database import create_database, open_database
    from desktop_app.core.errors import ImportFailed, PulseError
    from desktop_app.core.importer import ImportOptions, default_table_name, inspect_file, run_import

    options = ImportOptions(
        format=args.format,
        encoding=args.encoding,
        delimiter=args.delimiter,
        header=args.header,
        empty_is_null=not args.keep_empty,
        one_transaction=not args.as_written,
    )
    try:
        inspected = inspect_file(args.file, options, preview_rows=0)
    except PulseError as exc:  # "Line 3: ..." says which file too
        text = str(exc)
        raise ImportFailed(text if args.file.name in text else f"{args.file.name}: {text}") from exc
    plan = with_types(inspected.plan, args.type)
    if plan.format == "sql" and (args.table or args.append):
        raise ImportFailed("An SQL script names its own tables: leave out --table and --append.")
    table = args.table or default_table_name(args.file)
    created_db = not args.db.exists()
    database = create_database(args.db) if created_db else open_database(args.db, read_only=False)
    connection = database.connect_write()
    show = Progress(enabled=not args.json)
    try:
        result = run_import(connection, plan, table, append=args.append, progress=show)
    except KeyboardInterrupt:
        show.clear()
        if plan.format == "sql" and not plan.one_transaction:
            left = "what the script's statements committed before it stays (it ran as written)"
        else:
            made = f" ({args.db} was created and stays, empty)" if created_db else ""
            left = f"nothing was imported{made}"
        print(f"sqlite-pulse: import interrupted: {left}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PulseError as exc:
        show.clear()  # a progress line on the terminal is not left in front of the message
        raise ImportFailed(failure(exc, args.file, plan, args.db, created_db=created_db)) from exc
    finally:
        connection.close()
    show.clear()
    if args.json:
        print(json.dumps({**result.to_dict(), "db": str(database.path), "read_as": plan.describe(), "created_db": created_db}))
        return EXIT_OK
    if created_db:
        print(f"Created {args.db}.")
    print(f"{args.file.name}: {plan.describe()}.")
    print(result.summary())
    return EXIT_OK


def failure(error: Exception, source: Path, plan: Plan, db: Path, *, created_db: bool) -> str:
    """The error, the file it is in, and what it left: nothing (one transaction), or with an SQL script run
    as written, what its statements before the error committed."""
    text = str(error).strip()
    if not text.endswith("."):
        text += "."
    if plan.format == "sql" and not plan.one_transaction:
        left = "What the statements before it committed stays (the script ran as written)."
    elif created_db:
        left = f"Nothing was imported ({db} was created and stays, empty)."
    else:
        left = f"Nothing was imported: {db.name} is as it was."
    return f"{source.name}: {text} {left}"


def with_types(plan: Plan, choices: list[str]) -> Plan:
    """The plan with each --type COLUMN=TYPE applied; an unknown column or type is a clear error."""
    from desktop_app.core.errors import ImportFailed

    types = {}
    names = {column.name for column in plan.columns}
    for choice in choices:
        name, _, kind = choice.partition("=")
        if name not in names:
            raise ImportFailed(f"--type {choice}: the file has no column {name!r} (it has {', '.join(sorted(names))}).")
        types[name] = kind
    try:
        return plan.with_types(types)
    except ValueError as exc:
        raise ImportFailed(f"--type: {exc}.") from exc


class Progress:
    """Progress on stderr: rewritten in place on a terminal, a line a second otherwise; quiet for the first second."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.terminal = sys.stderr.isatty()
        self.started = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, progress: ImportProgress) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.started < PROGRESS_AFTER_S:
            return
        if not self.terminal and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        share = f" ({100 * progress.bytes_done / progress.bytes_total:.0f}%)" if progress.bytes_total else ""
        text = f"{progress.rows:,} done{share}, {now - self.started:.0f} s"
        if self.terminal:
            sys.stderr.write(f"\r\x1b[K{text}")
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown and self.terminal:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
