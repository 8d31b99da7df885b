"""Stream a query's rows to CSV, JSON or NDJSON: every row, flat memory, progress, a cancel that cancels.

Rows go from the apsw cursor to the output in chunks of `CHUNK_ROWS`, so memory does not grow with the
result. One encoding for every format: NULL is an empty CSV field / JSON `null`, a BLOB is base64 text,
a float NaN or infinity is JSON `null` (JSON has neither). CSV follows RFC 4180 (CRLF, quotes doubled,
fields with commas, quotes or line breaks quoted) with a header row. JSON is one array of objects, one
object a line, written as it streams; NDJSON is one object a line. Repeated column names get a suffix
in JSON keys (`a`, `a:2`) so no value is lost.

`export_to_file` writes next to the destination and renames on success: a cancelled or failed export
leaves no file behind (the window runs it as a session job, on a thread and read connection of its own);
`export_rows` writes to any binary stream (for the `query` verb's stdout).

Statements are checked with `sqlite3_stmt_readonly` before they run unless writes are allowed, as in the
query console; with several statements, the rows of the last one are exported.
"""

from __future__ import annotations

import binascii
import collections
import contextlib
import csv
import functools
import io
import itertools
import operator
import os
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import apsw
import orjson

from desktop_app.core import errors
from desktop_app.core.cells import blob_text, json_keys
from desktop_app.core.errors import PulseError, QueryError, QueryInterrupted
from desktop_app.core.query import ScriptTracer, has_statement, strip_leading_trivia
from desktop_app.core.sql_files import refuse_database_files

FORMATS = ("csv", "json", "ndjson")
CHUNK_ROWS = 2048
# SQLite calls the cancel check every this many VM instructions, so a long first row is cancellable too.
CANCEL_CHECK_INSTRUCTIONS = 50_000
OUTPUT_BUFFER_BYTES = 1 << 20

Progress = Callable[[int], None]
Cancel = threading.Event | Callable[[], bool] | None


class WritesDisabled(QueryError):
    """A statement would change the database and writes were not allowed: nothing ran."""


@dataclass(frozen=True)
class ExportResult:
    columns: list[str]
    rows: int
    seconds: float
    path: Path | None  # None when written to a stream
    changes: int  # rows changed by the statements (only with writes allowed)


def export_to_file(
    connection: apsw.Connection,
    sql: str,
    destination: Path | str,
    *,
    fmt: str,
    bindings: Sequence[object] = (),
    allow_writes: bool = False,
    progress: Progress | None = None,
    cancel: Cancel = None,
) -> ExportResult:
    """Export to `destination` through a temporary file in the same folder, renamed into place on success."""
    destination = Path(destination).expanduser().absolute()
    refuse_database_files(  # writing the export over the database (or its WAL) would destroy it
        destination,
        Path(connection.filename).absolute() if connection.filename else None,
        "{name} is the database's own file; export to another file.",
    )
    if not destination.parent.is_dir():
        raise PulseError(f"The folder {destination.parent} does not exist.")
    try:
        fd, temp_name = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise PulseError(f"Cannot write in {destination.parent}: {exc.strerror}.") from exc
    temp = Path(temp_name)
    try:
        with open(fd, "wb", buffering=OUTPUT_BUFFER_BYTES) as stream:
            result = export_rows(
                connection,
                sql,
                stream,
                fmt=fmt,
                bindings=bindings,
                allow_writes=allow_writes,
                progress=progress,
                cancel=cancel,
            )
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; an export is a normal file
        os.replace(temp, destination)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise PulseError(f"Cannot write {destination}: {exc.strerror or exc}.") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return ExportResult(result.columns, result.rows, result.seconds, destination, result.changes)


def export_rows(
    connection: apsw.Connection,
    sql: str,
    stream: BinaryIO,
    *,
    fmt: str,
    bindings: Sequence[object] = (),
    allow_writes: bool = False,
    progress: Progress | None = None,
    cancel: Cancel = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ExportResult:
    """Run `sql` with `bindings` and write the last statement's rows to the binary `stream`, chunk by chunk.

    `progress(rows)` is called after each chunk; `cancel` (an Event, or a callable returning True) is checked
    between chunks and, through the connection's progress handler (taken for the run), while SQLite is still
    computing a row. Cancelled runs raise `QueryInterrupted`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
    started = time.perf_counter()
    changes_before = connection.total_changes()
    rows = 0
    chunks = result_chunks(
        connection, sql, bindings=bindings, allow_writes=allow_writes, cancel=cancel, chunk_rows=chunk_rows
    )
    with contextlib.closing(chunks):
        columns, chunk = next(chunks)
        writer = _WRITERS[fmt](stream, columns)
        if chunk:
            writer.write(chunk)
            rows += len(chunk)
        for _columns, chunk in chunks:
            writer.write(chunk)
            rows += len(chunk)
            if progress is not None:
                progress(rows)
    writer.close()
    stream.flush()
    return ExportResult(
        columns=list(columns),
        rows=rows,
        seconds=time.perf_counter() - started,
        path=None,
        changes=connection.total_changes() - changes_before,
    )


def result_chunks(
    connection: apsw.Connection,
    sql: str,
    *,
    bindings: Sequence[object] = (),
    allow_writes: bool = False,
    cancel: Cancel = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Generator[tuple[list[str], list[tuple]], None, None]:
    """Yield (columns, rows) chunks of the last statement's result; the first yield may have no rows.

    Errors arrive as typed `PulseError`s. Closing the generator early stops the statement; either way no
    statement or transaction is left open.
    """
    if not has_statement(sql):
        raise QueryError("There is no SQL statement to run.")
    is_cancelled = _cancel_check(cancel)
    tracker = _Statements(sql, allow_writes)
    cursor = connection.cursor()
    cursor.exec_trace = tracker
    connection.set_progress_handler(is_cancelled, CANCEL_CHECK_INSTRUCTIONS)
    try:
        try:
            iterator = cursor.execute(sql, tuple(bindings))
            chunk: list[tuple] = []
            if not tracker.at_last:  # earlier statements run and their rows are dropped
                for row in iterator:
                    if tracker.at_last:  # the tracer ran before this row, so it is the last statement's
                        chunk.append(row)
                        break
                    if is_cancelled():
                        raise QueryInterrupted("Cancelled.")
            yield tracker.columns, chunk
            while True:
                if is_cancelled():
                    raise QueryInterrupted("Cancelled.")
                chunk = list(itertools.islice(iterator, chunk_rows))
                if not chunk:
                    break
                yield tracker.columns, chunk
        except apsw.ExecTraceAbort as exc:
            raise tracker.abort or QueryError("The run was stopped.") from exc
        except apsw.ReadOnlyError as exc:
            if allow_writes:
                raise errors.translate(exc, connection.filename) from exc
            raise WritesDisabled(
                f"Writes are disabled, and this statement tried to change the database ({exc})."
            ) from exc
        except apsw.BindingsError as exc:
            message = " ".join(str(exc).split())
            raise QueryError(
                f"The values given do not match the statement's ? placeholders: {message}"
            ) from exc
        except apsw.Error as exc:
            raise errors.translate(exc, connection.filename) from exc
        except UnicodeDecodeError as exc:  # SQLite stores what it is given; Python text must be UTF-8
            raise QueryError(
                "A text value is not valid UTF-8 (its bytes were stored as TEXT); "
                "CAST that column AS BLOB to export its bytes."
            ) from exc
    finally:
        cursor.close(force=True)
        connection.set_progress_handler(None)
        left_open = not connection.get_autocommit()
        if left_open:  # never leave a transaction (and its lock or snapshot) open
            connection.execute("ROLLBACK")
    if left_open and allow_writes:
        raise QueryError("The statements left a transaction open (BEGIN without COMMIT); it was rolled back.")


# ----- statement checks -----


class _Statements(ScriptTracer):
    """The console's tracer, refusing a write with the export's own error type and wording."""

    def refuse_write(self, statement: str) -> PulseError:
        text = " ".join(strip_leading_trivia(statement).split()).rstrip(";")
        return WritesDisabled(f"Writes are disabled, and this statement changes the database: {text[:80]}.")


def _cancel_check(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


# ----- formats -----


def _orjson_default(value: object) -> object:
    if isinstance(value, bytes):
        return blob_text(value)
    raise TypeError(f"cannot export a {type(value).__name__}")


# One JSON object per row; NaN and infinity come out as null (orjson's choice, and JSON has neither).
_dump_record = functools.partial(orjson.dumps, default=_orjson_default)
_dump_line = functools.partial(orjson.dumps, default=_orjson_default, option=orjson.OPT_APPEND_NEWLINE)


class _Writer:
    def __init__(self, stream: BinaryIO, columns: Sequence[str]) -> None:
        self.stream = stream
        self.columns = list(columns)

    def write(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _CsvWriter(_Writer):
    """RFC 4180, the csv module's minimal quoting, built a chunk at a time, column by column, at C speed.

    Python's csv.writer formats each value in a per-row loop and was the export's bottleneck; here every
    step is a C-level map/join over a whole column of the chunk: numbers through orjson (shortest
    round-trip floats, like repr), None to "", quotes only where a value holds `,` `"` CR or LF, BLOBs
    to base64. The output parses to the same fields as csv.writer's (a test compares them).
    """

    def __init__(self, stream: BinaryIO, columns: Sequence[str]) -> None:
        super().__init__(stream, columns)
        if self.columns:
            header = io.StringIO()
            csv.writer(header, lineterminator="\r\n").writerow(self.columns)
            stream.write(header.getvalue().encode("utf-8"))

    def write(self, rows: list[tuple]) -> None:
        single = len(self.columns) == 1
        fields = [_csv_fields(column, single) for column in zip(*rows, strict=True)]
        self.stream.write(("\r\n".join(map(",".join, zip(*fields, strict=True))) + "\r\n").encode("utf-8"))


_NoneType = type(None)
_NUMBERS = frozenset({int, float, _NoneType})
_NULL_AS_EMPTY: dict[object, str] = {None: ""}
_NULL_TOKEN_AS_EMPTY = {"null": ""}
_EMPTY_QUOTED = {"": '""'}  # a lone empty field would be a blank line, which CSV readers skip
_CSV_SPECIALS = (",", '"', "\r", "\n")
_quoted = '"{}"'.format
_base64 = functools.partial(binascii.b2a_base64, newline=False)


def _replace_at(values: list, flags: list[bool], replacements: Iterable[object]) -> None:
    """values[i] = next replacement for each i whose flag is set, without a Python-level loop."""
    collections.deque(map(values.__setitem__, itertools.compress(range(len(values)), flags), replacements), 0)


def _csv_fields(column: tuple, single: bool) -> list[str]:
    """One chunk's values of one column as CSV fields."""
    types = set(map(type, column))
    fields: list[str] | None = None
    if types <= _NUMBERS:
        tokens = orjson.dumps(column)[1:-1].decode("ascii").split(",")
        if _NoneType not in types and float not in types:
            fields = tokens
        elif tokens.count("null") == column.count(None):  # else NaN or infinity, which orjson writes as null
            fields = list(map(_NULL_TOKEN_AS_EMPTY.get, tokens, tokens))
    if fields is None:
        fields = list(column)
        if bytes in types:
            is_blob = list(map(operator.is_, map(type, fields), itertools.repeat(bytes)))
            _replace_at(fields, is_blob, map(bytes.decode, map(_base64, itertools.compress(fields, is_blob))))
        if _NoneType in types:
            fields = list(map(_NULL_AS_EMPTY.get, fields, fields))
        if types - {str, bytes, _NoneType}:
            fields = list(map(str, fields))  # str(float) is repr(float): shortest round-trip
        if str in types:
            _quote_where_needed(fields)
    if single:
        fields = list(map(_EMPTY_QUOTED.get, fields, fields))
    return fields


def _quote_where_needed(fields: list[str]) -> None:
    text = "".join(fields)
    flags: list[bool] | None = None
    for special in _CSV_SPECIALS:
        if special in text:  # one scan of the whole chunk's text; per-value checks only when it has one
            hits = map(operator.contains, fields, itertools.repeat(special))
            flags = list(hits) if flags is None else list(map(operator.or_, flags, hits))
    if flags is not None:
        doubled = map(
            str.replace, itertools.compress(fields, flags), itertools.repeat('"'), itertools.repeat('""')
        )
        _replace_at(fields, flags, map(_quoted, doubled))


class _NdjsonWriter(_Writer):
    # Each encoded row is written and freed at once: orjson's output buffers are large, and holding a
    # chunk's worth of them (to join) was four times slower than writing them one by one.
    def __init__(self, stream: BinaryIO, columns: Sequence[str]) -> None:
        super().__init__(stream, columns)
        self.keys = json_keys(self.columns)

    def records(self, rows: Iterable[tuple]) -> Iterator[dict]:
        """Each row as a dict, built without a Python-level loop."""
        return map(dict, map(zip, itertools.repeat(self.keys), rows))

    def write(self, rows: list[tuple]) -> None:
        self.stream.writelines(map(_dump_line, self.records(rows)))


class _JsonWriter(_NdjsonWriter):
    """`[` then one object a line, commas between, `]`: valid JSON at the end, never held in memory."""

    def __init__(self, stream: BinaryIO, columns: Sequence[str]) -> None:
        super().__init__(stream, columns)
        self.empty = True
        stream.write(b"[")

    def write(self, rows: list[tuple]) -> None:
        encoded = map(_dump_record, self.records(rows))
        if self.empty:
            self.stream.write(b"\n" + next(encoded))
            self.empty = False
        # ",\n" before every further object, interleaved without a Python-level loop.
        self.stream.writelines(itertools.chain.from_iterable(zip(itertools.repeat(b",\n"), encoded)))

    def close(self) -> None:
        self.stream.write(b"]\n" if self.empty else b"\n]\n")


_WRITERS: dict[str, type[_Writer]] = {"csv": _CsvWriter, "json": _JsonWriter, "ndjson": _NdjsonWriter}
