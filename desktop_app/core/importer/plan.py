"""What an import will do (`inspect_file`: a Plan and a preview of the first rows) and doing it (`run_import`).

A Plan is data: format, encoding, delimiter, header and typed columns as detected, each of which the user may
override (ImportOptions before inspecting, `Plan.with_types` after). `run_import` runs one Plan on the
caller's write connection in one transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import apsw

from desktop_app.core import errors
from desktop_app.core.errors import ImportFailed, QueryInterrupted
from desktop_app.core.importer import delimited, json_records
from desktop_app.core.importer.columns import Column, check_type, json_type, numbered_names, usable_names
from desktop_app.core.importer.encoding import Encoding, chosen_encoding, detect_encoding, read_sample
from desktop_app.core.importer.table import (
    add_column,
    create_table,
    insert_sql,
    one_transaction,
    target_columns,
)
from desktop_app.core.sql_files import refuse_database_files
from desktop_app.core.sql_script import ScriptProgress, read_script, run_script_file

IMPORT_OWN_FILE = "{name} is the open database's own file: choose the CSV, JSON or SQL file to import."

FORMATS = ("csv", "tsv", "json", "ndjson", "sql")
SUFFIX_FORMATS = {
    ".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".tab": "tsv",
    ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".sql": "sql",
}
SAMPLE_ROWS = 1000  # rows read to infer types and, for JSON, to gather the keys
PREVIEW_ROWS = 20
ROWS_PER_TICK = 4096  # rows between a progress report and a cancel check
JSON_BATCH = 2000
# A row the table refuses (a constraint, a STRICT type, a value too big): the import fails naming its line.
ROW_ERRORS = (apsw.ConstraintError, apsw.MismatchError, apsw.TooBigError)


@dataclass(frozen=True)
class ImportOptions:
    """What the user said; None means detect it."""

    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    empty_is_null: bool = True  # CSV: an empty field is NULL, not ''
    one_transaction: bool = True  # SQL: False runs the script as written (its own transactions)


@dataclass(frozen=True)
class Plan:
    path: Path
    format: str
    encoding: Encoding
    delimiter: str = ","
    header: bool = False
    columns: tuple[Column, ...] = ()
    keys: tuple[str, ...] = ()  # JSON: the key each column comes from
    empty_is_null: bool = True
    one_transaction: bool = True

    def with_types(self, types: Mapping[str, str]) -> Plan:
        """The same plan with some columns' types changed (by column name)."""
        columns = tuple(Column(c.name, check_type(types.get(c.name, c.type))) for c in self.columns)
        return dataclasses.replace(self, columns=columns)

    def describe(self) -> str:
        parts = [self.format.upper()]
        if self.format in ("csv", "tsv"):
            parts.append(f"{delimited.DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated")
            parts.append("first row is the header" if self.header else "no header")
        parts.append(self.encoding.label)
        return ", ".join(parts)


@dataclass(frozen=True)
class Preview:
    plan: Plan
    headings: list[str]
    rows: list[tuple]  # the first rows as they will be read


@dataclass(frozen=True)
class ImportProgress:
    rows: int  # statements, for an SQL script
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class ImportResult:
    format: str
    table: str | None  # None for an SQL script
    rows: int  # statements, for an SQL script
    seconds: float
    created: bool
    added_columns: tuple[str, ...] = ()  # JSON keys first seen after the sample
    folded: int = 0  # an SQL script's own BEGIN/COMMIT run as part of the one transaction

    def summary(self) -> str:
        rate = f" ({self.rows / self.seconds:,.0f}/s)" if self.seconds > 0.05 else ""
        if self.table is None:
            folded = f"; its own BEGIN/COMMIT ({self.folded}) folded into one transaction" if self.folded else ""
            return f"Ran {self.rows:,} statements in {self.seconds:.2f} s{rate}{folded}."
        into = "into the new table" if self.created else "into"
        added = f"; columns added for keys found later: {', '.join(self.added_columns)}" if self.added_columns else ""
        return f"Imported {self.rows:,} row{'' if self.rows == 1 else 's'} {into} {self.table} in {self.seconds:.2f} s{rate}{added}."

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def default_table_name(path: Path) -> str:
    return path.stem.strip() or "imported"


def detect_format(path: Path, sample: bytes) -> str:
    """From the name's suffix, corrected by the first character for JSON ('[' an array, '{' one object a line)."""
    first = json_records.first_char(sample)
    found = SUFFIX_FORMATS.get(path.suffix.lower())
    if found in ("json", "ndjson", None) and first in ("[", "{"):
        return "json" if first == "[" else "ndjson"
    return found or "csv"


def _check_source(path: Path) -> int:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ImportFailed(f"{path} is not a regular file.")
    return info.st_size


# Inspecting -----------------------------------------------------------------------------------------------
def inspect_file(path: Path | str, options: ImportOptions = ImportOptions(), *, preview_rows: int = PREVIEW_ROWS) -> Preview:
    """Detect how to read `path` (what `options` leave open) and read its first rows as they will be imported."""
    path = Path(path)
    _check_source(path)
    sample = read_sample(path)
    fmt = options.format or detect_format(path, sample)
    if fmt not in FORMATS:
        raise ImportFailed(f"Unknown format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    encoding = chosen_encoding(options.encoding, sample) if options.encoding else detect_encoding(sample)
    if b"\x00" in sample and not encoding.codec.startswith(("utf-16", "utf-32")):
        raise ImportFailed(f"{path.name} holds NUL bytes: it is a binary file (a database, an image…), not text.")
    plan = Plan(path, fmt, encoding, empty_is_null=options.empty_is_null, one_transaction=options.one_transaction)
    if fmt == "sql":
        return _inspect_script(plan, preview_rows)
    if fmt in ("json", "ndjson"):
        return _inspect_records(plan, preview_rows)
    return _inspect_delimited(plan, options, sample, preview_rows)


def _inspect_script(plan: Plan, preview_rows: int) -> Preview:
    rows = []
    with contextlib.closing(read_script(plan.path, encoding=plan.encoding.codec)) as statements:
        for statement in statements:
            rows.append((statement.line, statement.first_line))
            if len(rows) >= preview_rows:
                break
    return Preview(plan, ["Line", "Statement"], rows)


def _inspect_delimited(plan: Plan, options: ImportOptions, sample: bytes, preview_rows: int) -> Preview:
    if plan.format == "tsv":
        delimiter = "\t"
    elif options.delimiter:
        delimiter = _one_character(options.delimiter)
    else:
        delimiter = delimited.detect_delimiter(sample.decode(plan.encoding.codec, errors="replace")[: delimited.SNIFF_CHARS])
    with delimited.open_text(plan.path, plan.encoding) as text:
        rows = delimited.sample_rows(text, delimiter, SAMPLE_ROWS + 1)
    if not rows:
        raise ImportFailed(f"{plan.path.name} has no rows to import.")
    header = options.header if options.header is not None else delimited.looks_like_header(rows)
    width = len(rows[0])
    names = usable_names(rows[0]) if header else numbered_names(width)
    data = rows[1:] if header else rows
    columns = tuple(Column(name, kind) for name, kind in zip(names, delimited.column_types(data, width), strict=True))
    plan = dataclasses.replace(plan, delimiter=delimiter, header=header, columns=columns)
    return Preview(plan, names, [tuple(row) for row in data[:preview_rows]])


def _one_character(delimiter: str) -> str:
    value = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(delimiter.lower(), delimiter)
    if len(value) != 1:
        raise ImportFailed(f"The delimiter must be one character (or tab), not {delimiter!r}.")
    return value


def _records(plan: Plan, size: int) -> Generator[tuple[int, dict, int], None, None]:
    if not plan.encoding.is_utf8:
        raise ImportFailed(f"{plan.path.name} is {plan.encoding.label}; JSON files are read as UTF-8.")
    if plan.format == "json":
        yield from json_records.array_records(plan.path, size)
        return
    try:
        source = plan.path.open("rb")
    except OSError as exc:
        raise ImportFailed(f"Cannot read {plan.path}: {exc.strerror or exc}.") from exc
    with source:
        yield from json_records.ndjson_records(source)


def _inspect_records(plan: Plan, preview_rows: int) -> Preview:
    sample: list[dict] = []
    with contextlib.closing(_records(plan, _check_source(plan.path))) as records:
        for _number, record, _done in records:
            sample.append(record)
            if len(sample) >= SAMPLE_ROWS:
                break
    if not sample:
        raise ImportFailed(f"{plan.path.name} has no records to import.")
    keys = list(dict.fromkeys(key for record in sample for key in record))
    names = usable_names(keys)
    columns = tuple(Column(name, json_type(record.get(key) for record in sample)) for name, key in zip(names, keys, strict=True))
    rows = [tuple(json_records.cell(record.get(key)) for key in keys) for record in sample[:preview_rows]]
    return Preview(dataclasses.replace(plan, columns=columns, keys=tuple(keys)), names, rows)


# Importing ------------------------------------------------------------------------------------------------
def _never() -> bool:
    return False


def run_import(
    connection: apsw.Connection,
    plan: Plan,
    table: str | None = None,
    *,
    append: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
    cancelled: Callable[[], bool] = _never,
) -> ImportResult:
    """Import what `plan` describes into `table` (created, or with `append` an existing one) on `connection`,
    in one transaction. Raises ImportFailed (naming the line), QueryInterrupted on a cancel, or another
    PulseError; the database is then as it was."""
    started = time.perf_counter()
    refuse_database_files(plan.path, connection.filename, IMPORT_OWN_FILE)  # open() would drop its locks
    size = _check_source(plan.path)
    report = progress or (lambda _progress: None)
    if plan.format == "sql":
        script = run_script_file(
            connection,
            plan.path,
            encoding=plan.encoding.codec,
            one_transaction=plan.one_transaction,
            progress=lambda p: report(_from_script(p)),
            cancelled=cancelled,
        )
        return ImportResult("sql", None, script.statements, script.seconds, False, folded=script.folded)
    if table is None or not table.strip():
        raise ImportFailed("Name the table to import into.")
    if not plan.columns:
        raise ImportFailed(f"{plan.path.name} has no columns to import.")
    importer = _import_records if plan.format in ("json", "ndjson") else _import_delimited
    try:
        rows, added = importer(connection, plan, table, append, size, report, cancelled)
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return ImportResult(plan.format, table, rows, time.perf_counter() - started, not append, added)


def _from_script(progress: ScriptProgress) -> ImportProgress:
    return ImportProgress(progress.statements, progress.bytes_done, progress.bytes_total)


def _between_batches(
    cancelled: Callable[[], bool], report: Callable[[ImportProgress], None], progress: ImportProgress
) -> None:
    """Stop here if cancelled (the transaction rolls back), else report how far the import got."""
    if cancelled():
        raise QueryInterrupted("Cancelled.")
    report(progress)


def _prepare(connection: apsw.Connection, plan: Plan, table: str, append: bool, *, named: bool) -> list[str]:
    """The table's columns the file's columns go to (the table created first, unless appending)."""
    if append:
        return target_columns(connection, table, plan.columns, named=named)
    create_table(connection, table, plan.columns)
    return [column.name for column in plan.columns]


def _import_delimited(
    connection: apsw.Connection,
    plan: Plan,
    table: str,
    append: bool,
    size: int,
    report: Callable[[ImportProgress], None],
    cancelled: Callable[[], bool],
) -> tuple[int, tuple[str, ...]]:
    done = 0
    with delimited.open_text(plan.path, plan.encoding) as text, one_transaction(connection, cancelled) as cursor:
        targets = _prepare(connection, plan, table, append, named=plan.header)
        raw = cast(BinaryIO, text.buffer)

        def tick(rows: int) -> None:
            nonlocal done
            done = rows
            _between_batches(cancelled, report, ImportProgress(rows, raw.tell(), size))

        rows = delimited.DelimitedRows(text, delimiter=plan.delimiter, header=plan.header, width=len(targets))
        try:
            cursor.executemany(
                insert_sql(table, targets, empty_is_null=plan.empty_is_null), rows.read(every=ROWS_PER_TICK, tick=tick)
            )
        except ROW_ERRORS as exc:
            raise ImportFailed(f"Line {rows.line}: {exc}.") from exc
    report(ImportProgress(done, size, size))
    return done, ()


def _import_records(
    connection: apsw.Connection,
    plan: Plan,
    table: str,
    append: bool,
    size: int,
    report: Callable[[ImportProgress], None],
    cancelled: Callable[[], bool],
) -> tuple[int, tuple[str, ...]]:
    """Records in batches; a key first seen after the sample becomes a column (created tables) or must be one
    of the table's (appending)."""
    done, added = 0, []
    with contextlib.closing(_records(plan, size)) as records, one_transaction(connection, cancelled) as cursor:
        targets = _prepare(connection, plan, table, append, named=True)
        keys = list(plan.keys)
        position = {key: index for index, key in enumerate(keys)}
        sql = insert_sql(table, targets)
        batch: list[tuple] = []
        number = 0

        def where(number: int) -> str:
            return f"{'Line' if plan.format == 'ndjson' else 'Record'} {number}"

        def flush() -> None:
            nonlocal batch, done
            cursor.executemany(sql, batch)
            done += len(batch)
            batch = []

        try:
            for number, record, read in records:
                if not position.keys() >= record.keys():
                    flush()
                    for key in [key for key in record if key not in position]:
                        target = _new_column(connection, table, targets, key, record[key], append, where(number))
                        position[key] = len(keys)
                        keys.append(key)
                        targets.append(target)
                        added.append(target)
                    sql = insert_sql(table, targets)
                batch.append(tuple(json_records.cell(record.get(key)) for key in keys))
                if len(batch) >= JSON_BATCH:
                    flush()
                    _between_batches(cancelled, report, ImportProgress(done, read, size))
            flush()
        except ROW_ERRORS as exc:
            raise ImportFailed(f"{where(number)}: {exc}.") from exc
    report(ImportProgress(done, size, size))
    return done, tuple(added)


def _new_column(
    connection: apsw.Connection, table: str, targets: list[str], key: str, value: object, append: bool, where: str
) -> str:
    """The table column for a key first seen at `where` (a line or a record)."""
    try:
        if append:
            (name,) = target_columns(connection, table, [Column(key, "TEXT")], named=True)
            return name
    except ImportFailed as exc:
        raise ImportFailed(f"{where}: {exc}") from exc
    column = Column(usable_names([*targets, key])[-1], json_type([value]))
    add_column(connection, table, column)
    return column.name
