"""Run an SQL script statement by statement: each with the line it starts on, progress, cancel, clear errors.

    statements = read_script(path)                   # streamed: a 1 GB dump is never held whole
    result = run_statements(connection, statements, total_bytes=path.stat().st_size,
                            progress=report, cancelled=job.cancel_event.is_set)

`split_script(text)` does the same for a script already in memory. Statement ends are found with SQLite's
own `sqlite3_complete` (apsw.complete), so a `;` inside a string, a comment or a trigger's BEGIN…END does not
end a statement. An error names the line the failing statement starts on and its first line of text.

By default the whole script runs in ONE transaction: a failure or a cancel rolls everything back and leaves
the database as it was. The script's own BEGIN/COMMIT/END are folded into it (a `sqlite3 .dump` runs as one
transaction); a ROLLBACK in the script cannot be honoured then and is refused with its line. With
`one_transaction=False` the script runs as written: what it committed stays, an open transaction of its own
is rolled back on failure. PRAGMAs before the first other statement run before the transaction begins
(`PRAGMA foreign_keys` and `journal_mode` do nothing inside one).
"""

from __future__ import annotations

import codecs
import contextlib
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import apsw

from desktop_app.core import errors
from desktop_app.core.errors import PulseError, QueryError, QueryInterrupted
from desktop_app.core.query import CANCEL_CHECK_INSTRUCTIONS, strip_leading_trivia
from desktop_app.core.sql_files import refuse_database_files

READ_CHUNK = 1 << 20  # a line is read in pieces of at most this many bytes: a 1 GB one-line script stays flat
MAX_STATEMENT_CHARS = errors.MAX_VALUE_BYTES  # one statement longer than this is refused, not held in memory
PROGRESS_EVERY_S = 0.1  # progress callbacks at most this often (plus one at the end)
TRANSACTION_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK"})
ROLLBACK_TO = re.compile(r"ROLLBACK\s+(?:TRANSACTION\s+)?TO\b", re.IGNORECASE)  # to a savepoint: allowed


class ScriptError(QueryError):
    """A statement of the script failed (or cannot run as asked); `line` is where it starts."""

    def __init__(self, message: str, *, line: int, text: str) -> None:
        # One line: SQLite quotes an unterminated string with its newline
        super().__init__(f"Line {line}: {message.strip().replace(chr(10), chr(92) + 'n')} (in: {text})")
        self.line = line
        self.text = text


@dataclass(frozen=True)
class Statement:
    sql: str  # one statement, leading comments and blank lines removed
    line: int  # 1-based line of the source it starts on
    end_byte: int  # bytes of the source read when it ended (for progress)

    @property
    def first_line(self) -> str:
        """Its first line of text, shortened: for error messages."""
        text = self.sql.split("\n", 1)[0].strip()
        return text if len(text) <= 80 else text[:79] + "…"

    @property
    def first_word(self) -> str:
        return self.sql.split(None, 1)[0].rstrip(";").upper() if self.sql.strip() else ""


@dataclass(frozen=True)
class ScriptProgress:
    statements: int
    bytes_done: int
    bytes_total: int  # 0 when unknown


@dataclass(frozen=True)
class ScriptResult:
    statements: int  # statements run (the script's own folded BEGIN/COMMIT not counted)
    changes: int  # rows inserted, updated or deleted (triggers included)
    seconds: float
    one_transaction: bool
    folded: int  # the script's own BEGIN/COMMIT/END that one_transaction absorbed


# Splitting ----------------------------------------------------------------------------------------------
def split_script(text: str) -> Iterator[Statement]:
    """The statements of `text`, in order; `end_byte` counts UTF-8 bytes."""

    def pieces() -> Iterator[tuple[str, int]]:
        done = 0
        for line in text.splitlines(keepends=True):
            done += len(line.encode("utf-8", "surrogatepass"))
            yield line, done

    return _split(pieces())


def read_script(path: Path | str, *, encoding: str = "utf-8") -> Generator[Statement, None, None]:
    """The statements of the file at `path`, read as they are needed. A UTF-8 byte order mark is skipped.
    Raises PulseError for a missing file, undecodable bytes (naming the line) or a UTF-16 file. The file is
    open while the iterator runs: `close()` it when stopping early (run_script_file does)."""
    path = Path(path)
    try:
        source = path.open("rb")
    except OSError as exc:
        raise PulseError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    with source:
        yield from _split(_decoded_lines(source, path, encoding))


def _decoded_lines(source: BinaryIO, path: Path, encoding: str) -> Iterator[tuple[str, int]]:
    """(text, bytes read so far) per line or piece of a long line. Lines split on b'\\n', so the encoding
    must be ASCII-compatible: UTF-16 is refused with a clear message."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
    except LookupError as exc:
        raise PulseError(f"Unknown text encoding {encoding!r}.") from exc
    done, line = 0, 1
    while piece := source.readline(READ_CHUNK):
        if done == 0:
            if piece.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise PulseError(f"{path.name} is UTF-16 text; save it as UTF-8 to run it.")
            if piece.startswith(codecs.BOM_UTF8):
                piece = piece[len(codecs.BOM_UTF8) :]
                done = len(codecs.BOM_UTF8)
        done += len(piece)
        try:
            text = decoder.decode(piece)
        except UnicodeDecodeError as exc:
            raise PulseError(
                f"{path.name}, line {line}: these bytes are not {encoding} text ({exc.reason}); "
                "give the file's encoding."
            ) from exc
        yield text, done
        line += piece.endswith(b"\n")


def _split(pieces: Iterable[tuple[str, int]]) -> Iterator[Statement]:
    """Cut a stream of text pieces at the `;` that complete a statement (apsw.complete): strings, comments
    and CREATE TRIGGER bodies are SQLite's to judge. Only pieces holding a `;` cost a completeness check."""
    pending: list[str] = []  # text of the statement being read
    pending_chars = 0
    start_line = 1  # line `pending` starts on
    line = 1  # line the current piece starts on
    done = 0
    for piece, done in pieces:
        rest = piece
        search_from = 0
        while (cut := rest.find(";", search_from)) >= 0:
            candidate = "".join(pending) + rest[: cut + 1]
            if not apsw.complete(candidate):
                search_from = cut + 1
                continue
            if (statement := _statement(candidate, start_line, done)) is not None:
                yield statement
            pending, pending_chars = [], 0
            rest, search_from, start_line = rest[cut + 1 :], 0, line
        if rest:
            pending.append(rest)
            pending_chars += len(rest)
            if pending_chars > MAX_STATEMENT_CHARS:
                raise PulseError(
                    f"The statement starting on line {_start_of(''.join(pending[:1]), start_line)} is longer "
                    f"than {MAX_STATEMENT_CHARS >> 20} MiB (a missing ';'?)."
                )
        if piece.endswith("\n"):
            line += 1
            if not pending:
                start_line = line
    if pending and (statement := _statement("".join(pending), start_line, done)) is not None:
        yield statement  # the last statement may end without a ';'


def _start_of(text: str, start_line: int) -> int:
    """The line where `text`'s first statement token is, given the line `text` starts on."""
    body = strip_leading_trivia(text)
    return start_line + text.count("\n", 0, len(text) - len(body))


def _statement(text: str, start_line: int, done: int) -> Statement | None:
    body = strip_leading_trivia(text)
    if not body:
        return None  # only comments, blank lines or empty `;`
    return Statement(body, start_line + text.count("\n", 0, len(text) - len(body)), done)


# Running ------------------------------------------------------------------------------------------------
def _never() -> bool:
    return False


def run_statements(
    connection: apsw.Connection,
    statements: Iterable[Statement],
    *,
    total_bytes: int = 0,
    one_transaction: bool = True,
    progress: Callable[[ScriptProgress], None] | None = None,
    cancelled: Callable[[], bool] = _never,
) -> ScriptResult:
    """Run `statements` in order on `connection` (the caller's, on the caller's thread); rows a statement
    returns are read and dropped. Raises ScriptError naming the failing statement's line, QueryInterrupted
    when `cancelled()` turns true (checked between statements and every few thousand VM steps; the caller
    may also `connection.interrupt()`), or another PulseError (locked, disk full). Leaves no transaction
    open; with `one_transaction` a failure or cancel leaves the database as it was."""
    if not connection.get_autocommit():
        raise PulseError("A transaction is already open on this connection; an SQL script runs on its own.")
    started = time.perf_counter()
    changes_before = connection.total_changes()
    count = folded = 0
    began = False
    unended: Statement | None = None  # the script's own BEGIN not yet matched by its COMMIT (one transaction)
    last_report = started
    connection.set_progress_handler(cancelled, CANCEL_CHECK_INSTRUCTIONS)
    cursor = connection.cursor()
    try:
        for statement in statements:
            if cancelled():
                raise QueryInterrupted("Cancelled.")
            word = statement.first_word
            if one_transaction and word in TRANSACTION_WORDS:
                if word == "ROLLBACK" and not ROLLBACK_TO.match(statement.sql):
                    raise ScriptError(
                        "the script rolls back its own transaction here, which cannot be done inside the one "
                        "transaction the import runs in; run it as written instead",
                        line=statement.line,
                        text=statement.first_line,
                    )
                if word != "ROLLBACK":
                    folded += 1
                    unended = statement if word == "BEGIN" else None
                    continue
            if one_transaction and not began and word != "PRAGMA":
                connection.execute("BEGIN IMMEDIATE")  # a read, then a write, would not wait for another writer
                began = True
            _execute(cursor, statement)
            count += 1
            now = time.perf_counter()
            if progress is not None and now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                progress(ScriptProgress(count, statement.end_byte, total_bytes))
        if unended is not None:  # as written, SQLite (and the sqlite3 shell) would roll it back at the end
            raise ScriptError(
                "this BEGIN is never committed (the file ends first), so nothing of it would be kept; end the "
                "script with COMMIT",
                line=unended.line,
                text=unended.first_line,
            )
        if began:
            connection.execute("COMMIT")
        elif not connection.get_autocommit():
            raise QueryError(
                "The script left a transaction open (BEGIN without COMMIT); it was rolled back. End it with COMMIT."
            )
    except BaseException:
        _stop(connection, cursor)  # first: a pending interrupt or cancel would stop the ROLLBACK too
        if not connection.get_autocommit():
            connection.execute("ROLLBACK")
        raise
    finally:
        _stop(connection, cursor)
    if progress is not None:
        progress(ScriptProgress(count, total_bytes, total_bytes))
    return ScriptResult(
        statements=count,
        changes=connection.total_changes() - changes_before,
        seconds=time.perf_counter() - started,
        one_transaction=one_transaction,
        folded=folded,
    )


def run_script_file(
    connection: apsw.Connection,
    path: Path | str,
    *,
    encoding: str = "utf-8",
    one_transaction: bool = True,
    progress: Callable[[ScriptProgress], None] | None = None,
    cancelled: Callable[[], bool] = _never,
) -> ScriptResult:
    """`run_statements` over the file at `path`, streamed, with its size as the progress total. Never one of
    `connection`'s own files: Python's open() and close() on those would drop SQLite's locks."""
    path = Path(path)
    refuse_database_files(path, connection.filename)
    with contextlib.closing(read_script(path, encoding=encoding)) as statements:
        return run_statements(
            connection,
            statements,
            total_bytes=path.stat().st_size,
            one_transaction=one_transaction,
            progress=progress,
            cancelled=cancelled,
        )


def _stop(connection: apsw.Connection, cursor: apsw.Cursor) -> None:
    cursor.close(force=True)
    connection.set_progress_handler(None)


def _execute(cursor: apsw.Cursor, statement: Statement) -> None:
    try:
        for _row in cursor.execute(statement.sql):
            pass
    except apsw.InterruptError as exc:
        raise QueryInterrupted("Cancelled.") from exc
    except (apsw.SQLError, apsw.ConstraintError, apsw.MismatchError, apsw.BindingsError, apsw.RangeError) as exc:
        message = str(exc).removeprefix("SQLError: ")
        if statement.sql.startswith("."):
            message = "this is a sqlite3 shell command, not SQL"
        raise ScriptError(message, line=statement.line, text=statement.first_line) from exc
    except apsw.Error as exc:
        raise errors.translate(exc, cursor.connection.filename) from exc
