"""The `query` verb: run SQL against a database and stream every row out as CSV, JSON, NDJSON or a table.

Read-only unless `--write` is given: the connection is `mode=ro` and each statement is checked with
`sqlite3_stmt_readonly` before it runs. Values are always bound (`?` placeholders, one `--param` each).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import unicodedata
from pathlib import Path

TABLE_ROW_LIMIT = 1000  # --table is for people: an aligned table of more rows is not read, and costs memory
TABLE_CELL_WIDTH = 60
FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".txt": "table"}


def register(subparsers: argparse._SubParsersAction) -> None:
    query = subparsers.add_parser(
        "query",
        help="run SQL and write all rows as CSV, JSON, NDJSON or a table (read-only unless --write)",
        description=(
            "Run SQL and stream every row of its (last) result. CSV follows RFC 4180 with a header row; "
            "JSON is one array of objects; NDJSON one object a line. NULL is an empty CSV field or null, "
            "a BLOB is base64 text. The format defaults to the --output file's suffix, else CSV."
        ),
    )
    query.add_argument("db", type=Path, help="the database (opened read-only unless --write)")
    query.add_argument(
        "sql",
        help="one or more statements (- reads them from stdin); ? placeholders take the --param values in order",
    )
    formats = query.add_mutually_exclusive_group()
    for name, text in (
        ("csv", "RFC 4180 CSV with a header row (the default)"),
        ("json", "one JSON array of objects, one object a line"),
        ("ndjson", "one JSON object a line"),
    ):
        formats.add_argument(f"--{name}", dest="format", action="store_const", const=name, help=text)
    formats.add_argument(
        "--table",
        dest="format",
        action="store_const",
        const="table",
        help=f"an aligned text table for reading (first {TABLE_ROW_LIMIT:,} rows)",
    )
    query.add_argument("--output", "-o", type=Path, metavar="FILE", help="write here instead of stdout")
    query.add_argument(
        "--param", "-p", action="append", default=[], metavar="VALUE", help="bind a ? placeholder (repeat)"
    )
    query.add_argument("--write", action="store_true", help="allow statements that change the database")
    query.set_defaults(handler=run_query)


def run_query(args: argparse.Namespace) -> int:
    from desktop_app.core.database import limit_value_size, open_database
    from desktop_app.core.errors import PulseError
    from desktop_app.core.export import WritesDisabled, export_rows, export_to_file

    if args.sql == "-":
        args.sql = sys.stdin.read()
    fmt = args.format or (FORMAT_BY_SUFFIX.get(args.output.suffix.lower()) if args.output else None) or "csv"
    database = open_database(args.db, read_only=not args.write)
    if args.write:
        connection = database.connect_write()
        limit_value_size(connection)  # as read connections are: --write runs the same views
    else:
        connection = database.connect_read()
    try:
        if fmt == "table":
            rows = write_table(connection, args)
        elif args.output:
            rows = export_to_file(
                connection, args.sql, args.output, fmt=fmt, bindings=args.param, allow_writes=args.write
            ).rows
        else:
            rows = export_rows(
                connection, args.sql, sys.stdout.buffer, fmt=fmt, bindings=args.param, allow_writes=args.write
            ).rows
    except WritesDisabled as exc:
        raise PulseError(f"{exc} Add --write to run it.") from exc
    except BrokenPipeError:  # the reader stopped early (`| head`): not an error, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush fails quietly
        return 0
    finally:
        connection.close()
    if args.output:
        print(f"{rows:,} row{'' if rows == 1 else 's'} written to {args.output}", file=sys.stderr)
    return 0


def write_table(connection, args: argparse.Namespace) -> int:  # noqa: ANN001 - an apsw.Connection
    """The first TABLE_ROW_LIMIT rows, aligned; the statement stops there, the rest is never read."""
    from desktop_app.core.export import result_chunks

    chunks = result_chunks(connection, args.sql, bindings=args.param, allow_writes=args.write)
    with contextlib.closing(chunks):
        columns, rows = next(chunks)
        for _columns, chunk in chunks:
            rows.extend(chunk)
            if len(rows) > TABLE_ROW_LIMIT:
                break
    more = len(rows) > TABLE_ROW_LIMIT
    del rows[TABLE_ROW_LIMIT:]
    if not columns:
        return 0  # statements without a result (with --write): nothing to show
    text = format_table(columns, rows, more) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return len(rows)


def format_table(columns: list[str], rows: list[tuple], more: bool) -> str:
    """An aligned table: NULL shown as NULL, BLOBs by size, long or multi-line text shortened."""
    cells = [[_cell(value) for value in row] for row in rows]
    header = [_shorten(name) for name in columns]
    widths = [_width(name) for name in header]
    for row in cells:
        widths = [max(width, _width(cell)) for width, cell in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[index], int | float) or row[index] is None for row in rows) and bool(rows)
        for index in range(len(columns))
    ]
    lines = [_line(header, widths, numeric), "  ".join("-" * width for width in widths)]
    lines.extend(_line(row, widths, numeric) for row in cells)
    count = f"{len(rows):,} row{'s' if len(rows) != 1 else ''}"
    lines.append(
        f"({count} shown; more rows not shown: use --csv, --json or --ndjson for all)"
        if more
        else f"({count})"
    )
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int], right: list[bool]) -> str:
    parts = []
    for cell, width, align_right in zip(cells, widths, right, strict=True):
        pad = " " * (width - _width(cell))
        parts.append(pad + cell if align_right else cell + pad)
    return "  ".join(parts).rstrip()


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<BLOB {len(value):,} bytes>"
    return _shorten(str(value))


def _shorten(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\n", "⏎").replace("\t", " ")
    if len(text) > TABLE_CELL_WIDTH:
        text = text[: TABLE_CELL_WIDTH - 1] + "…"
    return text


def _width(text: str) -> int:
    """Columns a terminal uses for `text`: wide East Asian characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width
