"""Where mapped batches land. The writer thread drives a `Sink`; `SQLiteSink` is the one we ship.

The interface (a PostgreSQL sink, say with psycopg 3, would be one more class beside SQLiteSink; the
writer does not change):

    open()                      connect; check the target is usable; create nothing yet. Raises PulseError.
    existing_columns(table)     column names of the table as it exists, or None when it does not.
    prepare(spec)               create the bookkeeping tables (dead letters, ledger) and, given a TableSpec,
                                the target table when missing. Idempotent; called before the first write,
                                so a stream that never delivers a message creates nothing.
    write_batch(batch, at)      ONE transaction: the rows, the dead letters, one ledger row. Safe to call
                                again with the same batch after a failure (rows the table refuses move to the
                                batch's dead letters, and that depends only on the row and the table).
    classify(exc)               what a failure means: Failure("retry", ...) retry now (locked: SQLite already
                                waited), Failure("pause", ...) wait and retry (disk full, out of shared memory),
                                Failure("fatal", ...) give up; None: not a database error (a bug: re-raised).
    before_attempt()            apply settings changed from another thread (the size limit).
    close()

Every method but `request_page_limit` and `classify` runs on the writer thread only.
"""

from __future__ import annotations

import errno
import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import apsw

from desktop_app.core import errors
from desktop_app.core.database import connect_write, create_database, open_database, pragma
from desktop_app.core.errors import DatabaseReadOnly, PulseError, QueryError
from desktop_app.core.ingest.mapping import (
    BATCH_LEDGER_TABLE,
    DEAD_LETTER_TABLE,
    WRONG_TYPE,
    Column,
    DeadLetter,
    MappedBatch,
    Message,
    MessageMapper,
    TableSpec,
    _raw_bytes,
    quote_identifier,
)
from desktop_app.core.ingest.retention import DEAD_LETTER_INDEX_SQL, Retention, TableTrimmer, Trimmed
from desktop_app.core.locks import describe_writers

LARGEST_PAGE_COUNT = 0xFFFFFFFE  # SQLite's own ceiling for PRAGMA max_page_count
MAX_ROWS_PER_STATEMENT = 1024
MAX_PARAMETERS = 32_766  # SQLITE_MAX_VARIABLE_NUMBER's default since SQLite 3.32
# What a table can refuse about one row: a STRICT type, a NOT NULL/CHECK/UNIQUE constraint, a value too
# big, or a JSON value that cannot be bound (an object for a numeric column, an integer over 64 bits).
ROW_REFUSALS = (apsw.ConstraintError, apsw.MismatchError, apsw.TooBigError, TypeError, OverflowError)
# Out of space while the WAL index (-shm) grows or is mapped: SQLITE_IOERR_SHMOPEN / SHMSIZE / SHMLOCK / SHMMAP.
SHM_IO_ERRORS = {apsw.SQLITE_IOERR_SHMOPEN, apsw.SQLITE_IOERR_SHMSIZE, apsw.SQLITE_IOERR_SHMLOCK, apsw.SQLITE_IOERR_SHMMAP}
NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.ENOMEM}

RAW_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS {table}("
    "id INTEGER PRIMARY KEY, received_at REAL NOT NULL, payload TEXT NOT NULL) STRICT"
)
DEAD_LETTER_SQL = (
    f"CREATE TABLE IF NOT EXISTS {DEAD_LETTER_TABLE}("
    "id INTEGER PRIMARY KEY, received_at REAL NOT NULL, target_table TEXT NOT NULL, "
    "reason TEXT NOT NULL, raw BLOB NOT NULL, "
    # What the user did about a letter (core/dead_letters.py); older files get these by ALTER TABLE there.
    "status TEXT NOT NULL DEFAULT 'open', note TEXT, resolved_at REAL) STRICT"
)
# One row per committed batch, written in the batch's own transaction: after a crash the ledger and the
# data agree, which is how "only whole batches are present" can be checked.
LEDGER_SQL = (
    f"CREATE TABLE IF NOT EXISTS {BATCH_LEDGER_TABLE}("
    "id INTEGER PRIMARY KEY, target_table TEXT NOT NULL, committed_at REAL NOT NULL, "
    "rows INTEGER NOT NULL, dead_letters INTEGER NOT NULL, first_seq INTEGER, last_seq INTEGER, "
    "trimmed INTEGER NOT NULL DEFAULT 0, trimmed_dead_letters INTEGER NOT NULL DEFAULT 0) STRICT"
)
# Retention (retention.py) counts what it deleted in the batch's ledger row: sum(rows) - sum(trimmed) is the
# table's count(*). A ledger made before those columns gets them in place, in the first batch's transaction.
LEDGER_COLUMNS_ADDED = (
    ("trimmed", "INTEGER NOT NULL DEFAULT 0"),
    ("trimmed_dead_letters", "INTEGER NOT NULL DEFAULT 0"),
)
INGEST_TABLES = (DEAD_LETTER_TABLE, BATCH_LEDGER_TABLE)


def create_table_sql(table: str, columns: Sequence[Column]) -> str:
    body = ", ".join(f"{quote_identifier(column.name)} {column.type}" for column in columns)
    return f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)}({body}) STRICT"


@dataclass(frozen=True)
class Failure:
    kind: str  # "retry" | "pause" | "fatal"
    error: PulseError
    resumes: str | None = None  # a pause: when writing resumes, in words (None: when space frees)


class Sink(Protocol):
    journal_mode: str | None

    def open(self) -> None: ...
    def existing_columns(self, table: str) -> list[str] | None: ...
    def prepare(self, spec: TableSpec | None) -> None: ...
    def write_batch(self, batch: MappedBatch, committed_at: float) -> None: ...
    def classify(self, exc: BaseException) -> Failure | None: ...
    def before_attempt(self) -> None: ...
    def close(self) -> None: ...


@contextmanager
def immediate_transaction(connection: apsw.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so a read never has to upgrade mid-way."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if not connection.getautocommit():  # SQLite may already have rolled back (e.g. after SQLITE_FULL)
            connection.execute("ROLLBACK")
        raise


class SQLiteSink:
    """A SQLite file in WAL mode (a new file is created so; an existing one keeps its journal mode)."""

    def __init__(self, path: Path | str, mapper: MessageMapper, *, busy_timeout_ms: int = 200,
                 max_page_count: int | None = None, retention: Retention | None = None,
                 dedupe: tuple[str, ...] = ()) -> None:
        self.path = Path(path).expanduser().absolute()
        self.mapper = mapper
        # De-duplication (--dedupe-key): a UNIQUE index on these columns, rows with a key already present are
        # skipped (ON CONFLICT DO NOTHING) and counted in `duplicates` once their batch has committed.
        self.dedupe = dedupe
        self.duplicates = 0
        self.trimmed = self.trimmed_dead_letters = 0  # rows and dead letters deleted by retention, committed
        self._key_indexes: list[int] = []
        self._insert_tail = ""  # deduplicating: ON CONFLICT DO NOTHING
        self._returning = ""  # ... and RETURNING the key, to learn which rows went in
        self.retention = retention if retention is not None and retention.active else None
        self._trimmer = TableTrimmer(self.retention, mapper.table) if self.retention is not None else None
        self.busy_timeout_ms = busy_timeout_ms
        self.journal_mode: str | None = None
        self._connection: apsw.Connection | None = None
        self._owned = True
        self._target_ready = False
        self._settings_lock = threading.Lock()
        self._page_limit = max_page_count
        self._page_limit_dirty = max_page_count is not None
        self._statement_sizes: list[int] = []
        self._multi_row_sql: dict[int, str] = {}

    # -- the interface -------------------------------------------------------------------------------------

    def open(self) -> None:
        path = self.path
        if not path.exists() or path.stat().st_size == 0:
            create_database(path)  # a new file: WAL and the recommended page size
        else:
            open_database(path, read_only=False)  # typed errors for a missing/foreign/corrupt file
        connection = connect_write(path, busy_timeout_ms=self.busy_timeout_ms)
        try:
            # An existing database keeps its journal mode: changing it silently is not ours to do.
            self.journal_mode = str(pragma(connection, "journal_mode")).lower()
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._owned = True

    def attach(self, connection: apsw.Connection) -> None:
        """Write through a connection opened elsewhere (instead of `open()`); it stays the caller's to close."""
        self._connection = connection
        self._owned = False
        self.journal_mode = str(pragma(connection, "journal_mode")).lower()

    def existing_columns(self, table: str) -> list[str] | None:
        return existing_columns(self._conn(), table)

    def prepare(self, spec: TableSpec | None) -> None:
        connection = self._conn()
        with immediate_transaction(connection):
            connection.execute(DEAD_LETTER_SQL)
            connection.execute(LEDGER_SQL)
            migrate_ledger(connection)
            if self.retention is not None and self.retention.dead_letter_seconds is not None:
                connection.execute(DEAD_LETTER_INDEX_SQL)  # this table's oldest dead letters in one seek
            if spec is not None:
                if spec.raw:
                    connection.execute(RAW_TABLE_SQL.format(table=quote_identifier(spec.table)))
                else:
                    connection.execute(create_table_sql(spec.table, spec.columns))
                if self.dedupe:
                    create_dedupe_index(connection, spec, self.dedupe)
        if spec is not None:
            self._use_table(spec)

    def write_batch(self, batch: MappedBatch, committed_at: float) -> None:
        connection = self._conn()
        table = self.mapper.table
        trimmer = self._trimmer if self._target_ready else None
        trimmed = Trimmed()
        with immediate_transaction(connection):
            if trimmer is not None:
                trimmer.before_rows(connection)
            if batch.rows:
                connection.execute("SAVEPOINT pulse_rows")
                try:
                    inserted = self._insert_rows(connection, batch.rows)
                except ROW_REFUSALS:
                    connection.execute("ROLLBACK TO pulse_rows")
                    inserted = self._insert_one_by_one(connection, batch)
                connection.execute("RELEASE pulse_rows")
                if self.dedupe:  # before the ledger row: it counts the rows that went in
                    batch.duplicates += drop_duplicates(batch, inserted, self._key_indexes)
            if batch.dead:
                connection.executemany(
                    f"INSERT INTO {DEAD_LETTER_TABLE}(received_at, target_table, reason, raw) VALUES (?, ?, ?, ?)",
                    [(dead.received_at, table, dead.reason, dead.raw) for dead in batch.dead],
                )
            if trimmer is not None:  # in this transaction: the ledger row below counts what it deleted
                trimmed = trimmer.trim(connection, len(batch.rows), committed_at)
            connection.execute(
                f"INSERT INTO {BATCH_LEDGER_TABLE}(target_table, committed_at, rows, dead_letters, first_seq, "
                "last_seq, trimmed, trimmed_dead_letters) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (table, committed_at, len(batch.rows), len(batch.dead), batch.first_seq, batch.last_seq,
                 trimmed.rows, trimmed.dead_letters),
            )
            if trimmer is not None:
                trimmer.fold_ledger(connection, committed_at)
        if trimmer is not None:
            trimmer.committed()  # only now: a failed attempt (retried) leaves its running numbers as they were
        self.duplicates += batch.duplicates  # committed: a retried attempt's rows were dropped once, counted once
        self.trimmed += trimmed.rows  # retention's deletes, committed with this batch (its ledger row says so too)
        self.trimmed_dead_letters += trimmed.dead_letters

    def classify(self, exc: BaseException) -> Failure | None:
        if isinstance(exc, apsw.BusyError | apsw.LockedError):
            return Failure("retry", errors.DatabaseLocked(
                f"{self.path.name} is locked by another connection{describe_writers(self.path)}. "
                "A write or a long transaction is in progress."
            ))
        if isinstance(exc, apsw.FullError):
            return Failure("pause", errors.translate(exc, self.path))
        os_errno = self._system_errno()
        if isinstance(exc, apsw.IOError) and (
            getattr(exc, "extendedresult", None) in SHM_IO_ERRORS or os_errno in NO_SPACE_ERRNOS
        ):
            where = "the WAL index (-shm)" if getattr(exc, "extendedresult", None) in SHM_IO_ERRORS else "the disk"
            return Failure("pause", errors.DatabaseFull(
                f"{self.path.name}: out of space in {where} ({os.strerror(os_errno) if os_errno else exc})."
            ))
        if os_errno == errno.EROFS or isinstance(exc, apsw.ReadOnlyError):
            cause = "the filesystem it is on is read-only" if os_errno == errno.EROFS else f"it is read-only ({exc})"
            return Failure("fatal", DatabaseReadOnly(f"Cannot write to {self.path.name}: {cause}."))
        if isinstance(exc, apsw.Error):
            return Failure("fatal", errors.translate(exc, self.path))
        if isinstance(exc, PulseError):
            return Failure("fatal", exc)
        return None

    def request_page_limit(self, pages: int | None) -> None:
        """Any thread: change the connection's size limit (None: unlimited) before the next attempt."""
        with self._settings_lock:
            self._page_limit, self._page_limit_dirty = pages, True

    def before_attempt(self) -> None:
        with self._settings_lock:
            if not self._page_limit_dirty or self._connection is None:
                return
            pages, self._page_limit_dirty = self._page_limit, False
        limit = LARGEST_PAGE_COUNT if pages is None else int(pages)
        self._connection.execute(f"PRAGMA max_page_count = {limit}").fetchall()

    def close(self) -> None:
        if self._connection is not None and self._owned:
            self._connection.close()
        self._connection = None

    # -- inside -------------------------------------------------------------------------------------------

    def _conn(self) -> apsw.Connection:
        if self._connection is None:
            raise RuntimeError("the sink is not open")
        return self._connection

    def _system_errno(self) -> int:
        try:
            return self._connection.system_errno if self._connection is not None else 0
        except apsw.Error:
            return 0

    def _use_table(self, spec: TableSpec) -> None:
        names = [column.name for column in spec.columns]
        self._row_placeholders = "(" + ", ".join("?" * len(names)) + ")"
        quoted = ", ".join(quote_identifier(name) for name in names)
        self._insert_head = f"INSERT INTO {quote_identifier(spec.table)}({quoted}) VALUES "
        if self.dedupe:  # each statement says which rows went in: the others repeated a key
            folded = [name.lower() for name in names]
            self._key_indexes = [folded.index(key.lower()) for key in self.dedupe]
            keys = ", ".join(quote_identifier(names[index]) for index in self._key_indexes)
            self._insert_tail, self._returning = " ON CONFLICT DO NOTHING", f" RETURNING {keys}"
        self._insert_sql = self._insert_head + self._row_placeholders + self._insert_tail + self._returning
        # Statement sizes for multi-row inserts: powers of two, within SQLite's limit on bound parameters.
        largest = min(MAX_ROWS_PER_STATEMENT, max(1, MAX_PARAMETERS // max(len(names), 1)))
        self._statement_sizes = [1 << bit for bit in range(largest.bit_length() - 1, -1, -1)]
        self._multi_row_sql = {}
        self._target_ready = True

    def _insert_rows(self, connection: apsw.Connection, rows: list[tuple]) -> list[tuple] | None:
        """Insert with a few multi-row statements (a 1000-row batch is a handful of statements). Deduplicating:
        returns the keys of the rows that went in, or None when all did (always None otherwise).

        Each statement step releases the GIL; while the receive loop is busy, taking it back can cost
        milliseconds, so a statement per row (executemany) makes the writer wait on every row.
        """
        if not self._target_ready:
            raise RuntimeError("prepare() must create the target table before rows are written")
        done, total = 0, len(rows)
        parts: list[tuple[list[tuple] | None, int, int]] = []  # deduplicating: (keys that went in, start, size)
        for size in self._statement_sizes:
            if total - done < size:
                continue
            sql = self._multi_row_sql.get(size)
            if sql is None:
                sql = self._multi_row_sql[size] = (
                    self._insert_head + ", ".join([self._row_placeholders] * size) + self._insert_tail
                )
            while total - done >= size:
                params = list(chain.from_iterable(rows[done : done + size]))
                if self.dedupe:
                    parts.append((self._insert_keyed(connection, sql, params, size), done, size))
                else:
                    connection.execute(sql, params)
                done += size
        if all(keys is None for keys, _, _ in parts):
            return None
        indexes = self._key_indexes
        return [key for keys, start, size in parts for key in (
            keys if keys is not None else [tuple(row[i] for i in indexes) for row in rows[start : start + size]]
        )]

    def _insert_keyed(self, connection: apsw.Connection, sql: str, params: list, size: int) -> list[tuple] | None:
        """One deduplicating statement: None when every row went in (one look at changes(), the usual case), else
        the keys of those that did: the statement is run again with RETURNING, which costs ~20% more per row, so
        only a batch holding repeats (redeliveries) pays for it."""
        connection.execute("SAVEPOINT pulse_keys")
        connection.execute(sql, params)
        if connection.changes() == size:
            connection.execute("RELEASE pulse_keys")
            return None
        connection.execute("ROLLBACK TO pulse_keys")
        keys = connection.execute(sql + self._returning, params).fetchall()
        connection.execute("RELEASE pulse_keys")
        return keys

    def _insert_one_by_one(self, connection: apsw.Connection, batch: MappedBatch) -> list[tuple] | None:
        """Some row was refused: insert one at a time (each statement is atomic) and dead-letter the refused.
        Returns the keys of the rows that went in, as `_insert_rows` does."""
        refused: dict[int, str] = {}
        inserted: list[tuple] = []
        text_indexes = self.mapper.text_indexes
        for index, row in enumerate(batch.rows):
            try:
                try:
                    inserted.extend(connection.execute(self._insert_sql, row).fetchall())
                except TypeError:
                    # An object or array where a TEXT or ANY column expected a scalar: keep it as JSON text.
                    row = MessageMapper.json_text(row, text_indexes)
                    inserted.extend(connection.execute(self._insert_sql, row).fetchall())
                    batch.rows[index] = row
            except ROW_REFUSALS as exc:
                refused[index] = str(exc)
        refuse_rows(batch, refused)
        return inserted


def raw_bytes(message: Message) -> bytes:
    """A message as a dead letter keeps it (text as UTF-8, lone surrogates kept)."""
    return _raw_bytes(message)


def create_dedupe_index(connection: apsw.Connection, spec: TableSpec, key: tuple[str, ...]) -> None:
    """The UNIQUE index --dedupe-key needs on the target table (inside the caller's transaction)."""
    names = {column.name.lower(): column.name for column in spec.columns}
    missing = [name for name in key if name.lower() not in names]
    if missing:
        raise PulseError(
            f"--dedupe-key {'+'.join(key)}: the table {spec.table} has no {missing[0]} column. The messages must "
            f"carry that field (or name it in --columns)."
        )
    columns = [names[name.lower()] for name in key]
    index = quote_identifier(f"pulse_dedupe_{spec.table}_{'_'.join(columns)}")
    try:
        connection.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {quote_identifier(spec.table)}"
            f"({', '.join(quote_identifier(column) for column in columns)})"
        )
    except apsw.ConstraintError:
        raise PulseError(
            f"--dedupe-key {'+'.join(key)}: the table {spec.table} already holds repeated {'+'.join(columns)} "
            "values, so it cannot have a unique index on them. Ingest into a new table, or delete the repeats."
        ) from None


def drop_duplicates(batch: MappedBatch, inserted: list[tuple] | None, key_indexes: list[int]) -> int:
    """Remove from `batch` the rows the table skipped (`inserted`: the keys of those that went in, None when
    all did; a key repeated within the batch went in once, first). Returns how many were skipped."""
    if inserted is None or len(inserted) == len(batch.rows):
        return 0
    left = Counter(inserted)
    kept_rows: list[tuple[Any, ...]] = []
    kept_sources: list[Message] = []
    starts: list[tuple[int, float]] = []
    for index, (row, source) in enumerate(zip(batch.rows, batch.sources, strict=True)):
        key = tuple(row[position] for position in key_indexes)
        if left[key] > 0:
            left[key] -= 1
            starts.append((len(kept_rows), batch.received_at(index)))
            kept_rows.append(row)
            kept_sources.append(source)
    skipped = len(batch.rows) - len(kept_rows)
    batch.rows, batch.sources, batch.chunk_starts = kept_rows, kept_sources, starts
    return skipped


def refuse_rows(batch: MappedBatch, refused: dict[int, str]) -> None:
    """Move the rows the table refused ({row index: reason}) from `batch` to its dead letters, keeping the
    rest (and their chunk starts) in order. Every sink uses it, so a refused row reads the same everywhere."""
    kept_rows: list[tuple[Any, ...]] = []
    kept_sources: list[Message] = []
    starts: list[tuple[int, float]] = []
    for index, (row, source) in enumerate(zip(batch.rows, batch.sources, strict=True)):
        reason = refused.get(index)
        if reason is not None:
            batch.dead.append(DeadLetter(batch.received_at(index), f"{WRONG_TYPE}: {reason}", raw_bytes(source)))
        else:
            starts.append((len(kept_rows), batch.received_at(index)))
            kept_rows.append(row)
            kept_sources.append(source)
    batch.rows, batch.sources, batch.chunk_starts = kept_rows, kept_sources, starts


# -- which sink: the one place that reads a target's scheme ---------------------------------------------------

def migrate_ledger(connection: apsw.Connection) -> None:
    """Add the ledger columns a file made by an older version lacks (inside the caller's write transaction)."""
    present = {
        str(name).lower()
        for (name,) in connection.execute("SELECT name FROM pragma_table_info(?)", (BATCH_LEDGER_TABLE,)).fetchall()
    }
    for name, declaration in LEDGER_COLUMNS_ADDED:
        if name not in present:
            connection.execute(f"ALTER TABLE {BATCH_LEDGER_TABLE} ADD COLUMN {name} {declaration}")


def existing_columns(connection: apsw.Connection, table: str) -> list[str] | None:
    rows = connection.execute("SELECT type FROM sqlite_schema WHERE name = ? COLLATE NOCASE", (table,)).fetchall()
    if not rows:
        return None
    if rows[0][0] != "table":
        raise QueryError(f"{table} is a {rows[0][0]}, not a table: choose another name.")
    # hidden: 0 normal, 1 hidden (virtual tables), 2/3 generated; only normal columns take values.
    info = connection.execute("SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0", (table,)).fetchall()
    return [str(name) for (name,) in info]


def missing_ingest_tables(connection: apsw.Connection, table: str) -> list[str]:
    """The tables an ingest into `table` would create in this database (for asking the user first)."""
    names = [table, *INGEST_TABLES]
    present = {
        str(name).lower()
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN (?, ?, ?) COLLATE NOCASE", names
        ).fetchall()
    }
    return [name for name in names if name.lower() not in present]
