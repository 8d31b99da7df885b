"""Turn received WebSocket messages into table rows, and account for every one that cannot become a row.

Two modes:
- typed: each JSON object becomes a row of a STRICT table whose columns are the object's keys. The
  columns are given explicitly or inferred from the first messages; an existing table is used as it is.
- raw: each message is stored as it arrived, `(received_at, payload)`; the payload must still be JSON.

A message that cannot become a row goes to the dead-letter table with the reason and its raw bytes:
binary when text is expected, too large, not JSON, not an object, unknown or badly named fields, or a
value that the STRICT column refuses. The mapper also counts sequence-number gaps, in arrival order.

The mapper does the CPU work (`map_batch`) outside the write transaction, so a batch that has to be
retried (database locked, disk full) is mapped once; `insert` is safe to call again with the same batch.
"""

from __future__ import annotations

import json
import math
import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter

import apsw
from orjson import loads as parse_json  # 4-5x faster than json.loads: the writer's main cost per message

from desktop_app.core.errors import QueryError

DEAD_LETTER_TABLE = "pulse_dead_letters"
BATCH_LEDGER_TABLE = "pulse_ingest_batches"
RAW_COLUMNS = ("received_at", "payload")
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
INFERENCE_SAMPLE = 200  # objects looked at to choose the columns and their types
MAJORITY = 0.8  # a type seen in at least this share of a field's values wins; otherwise the column is ANY
COLUMN_TYPES = ("INTEGER", "REAL", "TEXT", "BLOB", "ANY")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

# Reasons stored in the dead-letter table (prefixes: details follow after a colon).
BINARY_MESSAGE = "binary message where text (JSON) is expected"
TOO_LARGE = "message too large"
INVALID_JSON = "not valid JSON"
NOT_AN_OBJECT = "JSON is not an object"
UNKNOWN_FIELD = "field has no column in the table"
BAD_FIELD_NAME = "field name cannot be a column name"
WRONG_TYPE = "value does not fit the column type"

Message = str | bytes
# What the receive loop hands over: the time the chunk was received and its messages, in order.
Chunk = tuple[float, list[Message]]


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def valid_identifier(name: str) -> bool:
    """A name we accept for a table or a column made from stream data: plain, short, not SQLite's own."""
    return bool(IDENTIFIER.fullmatch(name)) and not name.lower().startswith("sqlite_")


def check_table_name(name: str) -> str:
    if not valid_identifier(name) or name.lower() in (DEAD_LETTER_TABLE, BATCH_LEDGER_TABLE):
        raise QueryError(
            f"'{name}' cannot be an ingest table name: use letters, digits and underscores (at most 64), "
            f"start with a letter or underscore, and avoid sqlite_* and {DEAD_LETTER_TABLE}/{BATCH_LEDGER_TABLE}."
        )
    return name


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of COLUMN_TYPES
    json: bool = False  # objects and arrays are stored as JSON text


def parse_columns(spec: str) -> tuple[Column, ...]:
    """'device_id:TEXT,seq:INTEGER,temperature:REAL' -> columns (type defaults to ANY)."""
    columns = []
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, _, kind = part.partition(":")
        name, kind = name.strip(), (kind.strip().upper() or "ANY")
        if not valid_identifier(name):
            raise QueryError(f"'{name}' is not a usable column name (letters, digits, underscores).")
        if kind not in COLUMN_TYPES:
            raise QueryError(f"Column {name}: type must be one of {', '.join(COLUMN_TYPES)}, not {kind}.")
        columns.append(Column(name, kind))
    if not columns:
        raise QueryError("No columns given: expected NAME:TYPE pairs separated by commas.")
    if len({column.name.lower() for column in columns}) != len(columns):
        raise QueryError("A column name appears twice.")
    return tuple(columns)


def _kind(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool | int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "text"
    return "json"  # dict or list


def infer_columns(objects: Iterable[dict]) -> tuple[Column, ...]:
    """Columns in first-seen key order, typed by what most values are; odd ones out end as dead letters."""
    seen: dict[str, dict[str, int]] = {}
    for obj in objects:
        for key, value in obj.items():
            kinds = seen.setdefault(key, {})
            kind = _kind(value)
            if kind is not None:
                kinds[kind] = kinds.get(kind, 0) + 1
    columns = []
    for key, kinds in seen.items():
        if not valid_identifier(key):
            continue  # messages carrying it become dead letters with BAD_FIELD_NAME
        columns.append(_column_for(key, kinds))
    return tuple(columns)


def _column_for(key: str, kinds: dict[str, int]) -> Column:
    total = sum(kinds.values())
    if total == 0:
        return Column(key, "ANY")
    numeric = kinds.get("int", 0) + kinds.get("float", 0)
    if numeric >= MAJORITY * total:
        return Column(key, "REAL" if kinds.get("float") else "INTEGER")
    if kinds.get("text", 0) >= MAJORITY * total:
        return Column(key, "TEXT")
    if kinds.get("json", 0) >= MAJORITY * total:
        return Column(key, "TEXT", json=True)
    return Column(key, "ANY")


def create_table_sql(table: str, columns: Sequence[Column]) -> str:
    body = ", ".join(f"{quote_identifier(column.name)} {column.type}" for column in columns)
    return f"CREATE TABLE IF NOT EXISTS {quote_identifier(table)}({body}) STRICT"


RAW_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS {table}("
    "id INTEGER PRIMARY KEY, received_at REAL NOT NULL, payload TEXT NOT NULL) STRICT"
)
DEAD_LETTER_SQL = (
    f"CREATE TABLE IF NOT EXISTS {DEAD_LETTER_TABLE}("
    "id INTEGER PRIMARY KEY, received_at REAL NOT NULL, target_table TEXT NOT NULL, "
    "reason TEXT NOT NULL, raw BLOB NOT NULL) STRICT"
)
# One row per committed batch, written in the batch's own transaction: after a crash the ledger and the
# data agree, which is how "only whole batches are present" can be checked.
LEDGER_SQL = (
    f"CREATE TABLE IF NOT EXISTS {BATCH_LEDGER_TABLE}("
    "id INTEGER PRIMARY KEY, target_table TEXT NOT NULL, committed_at REAL NOT NULL, "
    "rows INTEGER NOT NULL, dead_letters INTEGER NOT NULL, first_seq INTEGER, last_seq INTEGER) STRICT"
)


@dataclass
class DeadLetter:
    received_at: float
    reason: str
    raw: bytes


@dataclass
class MappedBatch:
    """Rows ready to insert and the messages that will not fit, for one transaction."""

    rows: list[tuple] = field(default_factory=list)
    sources: list[Message] = field(default_factory=list)  # the message each row came from
    chunk_starts: list[tuple[int, float]] = field(default_factory=list)  # (first row index, received_at)
    dead: list[DeadLetter] = field(default_factory=list)
    messages: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    pending_objects: list[tuple[float, Message, dict]] = field(default_factory=list)  # typed, before inference

    def received_at(self, row_index: int) -> float:
        position = bisect_right(self.chunk_starts, (row_index, math.inf)) - 1
        return self.chunk_starts[max(position, 0)][1] if self.chunk_starts else time.time()


@dataclass
class SequenceTracker:
    """Counts gaps in a stream's sequence numbers, in arrival order."""

    last: int | None = None
    gaps: int = 0  # times one or more numbers were skipped
    missing: int = 0  # numbers skipped in total
    resets: int = 0  # a number not above the previous one: the source restarted or repeated

    def see(self, seq: int) -> None:
        last = self.last
        if last is not None and seq != last + 1:
            self.jump(last, seq)
        self.last = seq

    def jump(self, last: int, seq: int) -> None:
        """`seq` followed `last` out of order (the hot loops check `seq != last + 1` themselves)."""
        if seq > last:
            self.gaps += 1
            self.missing += seq - last - 1
        else:
            self.resets += 1


def _raw_bytes(message: Message) -> bytes:
    return message.encode("utf-8", "surrogatepass") if isinstance(message, str) else bytes(message)


def _too_large(message: Message, limit: int) -> bool:
    size = len(message)
    if size > limit:
        return True
    # A str of n characters is n..4n bytes in UTF-8: only encode when it could be over the limit.
    return isinstance(message, str) and size * 4 > limit and len(message.encode("utf-8", "surrogatepass")) > limit


# What a table can refuse about one row: a STRICT type, a NOT NULL/CHECK/UNIQUE constraint, a value too
# big, or a JSON value that cannot be bound (an object for a numeric column, an integer over 64 bits).
ROW_REFUSALS = (apsw.ConstraintError, apsw.MismatchError, apsw.TooBigError, TypeError, OverflowError)
REJECTED = object()  # _screen's answer for a message that went to the dead letters
MAX_ROWS_PER_STATEMENT = 1024
MAX_PARAMETERS = 32_766  # SQLITE_MAX_VARIABLE_NUMBER's default since SQLite 3.32


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


class MessageMapper:
    """Maps messages for one target table. Used from the writer thread only.

    Per batch: `map_batch` (CPU work, outside any transaction), then `ensure_table` (creates an inferred
    table in its own short transaction, once), then `insert` inside the writer's transaction.
    """

    def __init__(
        self,
        table: str,
        *,
        raw: bool = False,
        columns: Sequence[Column] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        seq_field: str | None = "seq",
    ) -> None:
        self.table = check_table_name(table)
        self.raw = raw
        self.max_message_bytes = max_message_bytes
        self.seq_field = seq_field
        self.sequence = SequenceTracker()
        self._explicit = tuple(columns) if columns else None
        self.columns: tuple[Column, ...] | None = None
        self._insert_sql = ""

    # -- schema ---------------------------------------------------------------------------------------------

    def prepare(self, connection: apsw.Connection) -> None:
        """Create the bookkeeping tables; adopt an existing target table's columns. One short transaction."""
        with immediate_transaction(connection):
            connection.execute(DEAD_LETTER_SQL)
            connection.execute(LEDGER_SQL)
            existing = self._existing_columns(connection)
            if self.raw:
                if existing is None:
                    connection.execute(RAW_TABLE_SQL.format(table=quote_identifier(self.table)))
                elif not {"received_at", "payload"} <= {name.lower() for name in existing}:
                    raise QueryError(
                        f"Table {self.table} exists without received_at and payload columns, which raw mode "
                        "needs. Choose another table name."
                    )
                self._use_columns(tuple(Column(name, "ANY") for name in RAW_COLUMNS))
            elif existing is not None:
                explicit = {column.name.lower(): column for column in self._explicit or ()}
                self._use_columns(tuple(explicit.get(name.lower(), Column(name, "ANY")) for name in existing))
            elif self._explicit:
                connection.execute(create_table_sql(self.table, self._explicit))
                self._use_columns(self._explicit)

    def _existing_columns(self, connection: apsw.Connection) -> list[str] | None:
        rows = connection.execute(
            "SELECT type FROM sqlite_schema WHERE name = ? COLLATE NOCASE", (self.table,)
        ).fetchall()
        if not rows:
            return None
        if rows[0][0] != "table":
            raise QueryError(f"{self.table} is a {rows[0][0]}, not a table: choose another name.")
        # hidden: 0 normal, 1 hidden (virtual tables), 2/3 generated; only normal columns take values.
        info = connection.execute(
            "SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0", (self.table,)
        ).fetchall()
        return [name for (name,) in info]

    def _use_columns(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        names = [column.name for column in columns]
        self._names = names
        self._keys = {name: index for index, name in enumerate(names)}
        self._keys_folded = {name.lower(): index for index, name in enumerate(names)}
        self._getter = itemgetter(*names) if len(names) > 1 else (lambda obj: (obj[names[0]],))
        self._json_indexes = [index for index, column in enumerate(columns) if column.json]
        self._text_indexes = [index for index, column in enumerate(columns) if column.type in ("TEXT", "ANY")]
        self._seq_index = self._keys.get(self.seq_field) if self.seq_field else None
        self._row_placeholders = "(" + ", ".join("?" * len(names)) + ")"
        quoted = ", ".join(quote_identifier(name) for name in names)
        self._insert_head = f"INSERT INTO {quote_identifier(self.table)}({quoted}) VALUES "
        self._insert_sql = self._insert_head + self._row_placeholders
        # Statement sizes for multi-row inserts: powers of two, within SQLite's limit on bound parameters.
        largest = min(MAX_ROWS_PER_STATEMENT, max(1, MAX_PARAMETERS // len(names)))
        self._statement_sizes = [1 << bit for bit in range(largest.bit_length() - 1, -1, -1)]
        self._multi_row_sql: dict[int, str] = {}

    def ensure_table(self, connection: apsw.Connection, batch: MappedBatch) -> None:
        """First typed batch without a table: infer the columns, create the table, map the held-back objects.

        The DDL commits on its own before the batch's transaction, so a batch retried after a rollback never
        finds its table missing. Safe to call again after a failure: nothing changes until the commit.
        """
        if not batch.pending_objects:
            return
        if self.columns is None:
            with immediate_transaction(connection):
                existing = self._existing_columns(connection)  # someone may have created it since prepare()
                if existing is not None:
                    columns = tuple(Column(name, "ANY") for name in existing)
                else:
                    columns = infer_columns(obj for _, _, obj in batch.pending_objects[:INFERENCE_SAMPLE])
                    if columns:
                        connection.execute(create_table_sql(self.table, columns))
            if not columns:  # no usable field in any sampled object: wait for better messages
                for received_at, message, obj in batch.pending_objects:
                    reason = f"{BAD_FIELD_NAME}: {next(iter(obj))[:80]!r}" if obj else "JSON object is empty"
                    batch.dead.append(DeadLetter(received_at, reason, _raw_bytes(message)))
                batch.pending_objects = []
                return
            self._use_columns(columns)
        pending, batch.pending_objects = batch.pending_objects, []
        for received_at, message, obj in pending:
            row = self._row_slow(received_at, message, obj, batch)
            if row is not None:
                batch.chunk_starts.append((len(batch.rows), received_at))
                batch.rows.append(row)
                batch.sources.append(message)
                if self._seq_index is not None:
                    self._note_seq(row[self._seq_index], batch)

    # -- mapping (outside the transaction) ----------------------------------------------------------------

    def map_batch(self, chunks: Iterable[Chunk]) -> MappedBatch:
        batch = MappedBatch()
        if self.raw:
            self._map_raw(chunks, batch)
        elif self.columns is None:
            self._map_untyped(chunks, batch)
        else:
            self._map_typed(chunks, batch)
        return batch

    def _screen(self, received_at: float, message: Message, batch: MappedBatch) -> object:
        """Parsed JSON, or REJECTED after dead-lettering a binary, oversized or unparsable message."""
        if not isinstance(message, str):
            batch.dead.append(DeadLetter(received_at, BINARY_MESSAGE, _raw_bytes(message)))
            return REJECTED
        if _too_large(message, self.max_message_bytes):
            reason = f"{TOO_LARGE}: over {self.max_message_bytes:,} bytes"
            batch.dead.append(DeadLetter(received_at, reason, _raw_bytes(message)))
            return REJECTED
        try:
            return parse_json(message)
        except ValueError as exc:
            batch.dead.append(DeadLetter(received_at, f"{INVALID_JSON}: {exc}", _raw_bytes(message)))
            return REJECTED

    def _note_seq(self, seq: object, batch: MappedBatch) -> None:
        if seq.__class__ is int:
            self.sequence.see(seq)
            if batch.first_seq is None:
                batch.first_seq = seq
            batch.last_seq = seq

    # The loops below are the hot path (one pass per message): locals, no per-message function calls on
    # the common case; anything unusual takes `_screen` or `_row_slow`.

    def _map_raw(self, chunks: Iterable[Chunk], batch: MappedBatch) -> None:
        rows, sources, loads = batch.rows, batch.sources, parse_json
        seq_field, limit, screen = self.seq_field, self.max_message_bytes, self._screen
        tracker = self.sequence
        last, first = tracker.last, None
        for received_at, messages in chunks:
            batch.messages += len(messages)
            batch.chunk_starts.append((len(rows), received_at))
            for message in messages:
                if message.__class__ is str and len(message) * 4 <= limit:
                    try:
                        parsed = loads(message)
                    except ValueError:
                        screen(received_at, message, batch)
                        continue
                else:
                    parsed = screen(received_at, message, batch)
                    if parsed is REJECTED:
                        continue
                rows.append((received_at, message))
                sources.append(message)
                if seq_field and parsed.__class__ is dict:
                    seq = parsed.get(seq_field)
                    if seq.__class__ is int:
                        if last is not None and seq != last + 1:
                            tracker.jump(last, seq)
                        last = seq
                        if first is None:
                            first = seq
        self._close_sequence(batch, first, last)

    def _close_sequence(self, batch: MappedBatch, first: int | None, last: int | None) -> None:
        self.sequence.last = last
        if first is not None:
            batch.first_seq, batch.last_seq = first, last

    def _map_untyped(self, chunks: Iterable[Chunk], batch: MappedBatch) -> None:
        """No columns yet: parse and hold the objects back; `ensure_table` infers the table from them."""
        for received_at, messages in chunks:
            batch.messages += len(messages)
            for message in messages:
                parsed = self._screen(received_at, message, batch)
                if parsed is REJECTED:
                    continue
                if parsed.__class__ is not dict:
                    batch.dead.append(DeadLetter(received_at, NOT_AN_OBJECT, _raw_bytes(message)))
                    continue
                batch.pending_objects.append((received_at, message, parsed))

    def _map_typed(self, chunks: Iterable[Chunk], batch: MappedBatch) -> None:
        rows, sources, loads, getter = batch.rows, batch.sources, parse_json, self._getter
        width, json_indexes, seq_index = len(self._names), self._json_indexes, self._seq_index
        limit, screen, slow = self.max_message_bytes, self._screen, self._row_slow
        tracker = self.sequence
        last, first = tracker.last, None
        for received_at, messages in chunks:
            batch.messages += len(messages)
            batch.chunk_starts.append((len(rows), received_at))
            for message in messages:
                if message.__class__ is str and len(message) * 4 <= limit:
                    try:
                        obj = loads(message)
                    except ValueError:
                        screen(received_at, message, batch)
                        continue
                else:
                    obj = screen(received_at, message, batch)
                    if obj is REJECTED:
                        continue
                if obj.__class__ is not dict:
                    batch.dead.append(DeadLetter(received_at, NOT_AN_OBJECT, _raw_bytes(message)))
                    continue
                row = None
                if len(obj) == width:
                    try:
                        row = getter(obj)  # exactly the table's keys, in any order
                    except KeyError:
                        row = None
                    else:
                        if json_indexes:
                            row = self._json_text(row, json_indexes)
                if row is None:
                    row = slow(received_at, message, obj, batch)
                    if row is None:
                        continue
                rows.append(row)
                sources.append(message)
                if seq_index is not None:
                    seq = row[seq_index]
                    if seq.__class__ is int:
                        if last is not None and seq != last + 1:
                            tracker.jump(last, seq)
                        last = seq
                        if first is None:
                            first = seq
        self._close_sequence(batch, first, last)

    def _row_slow(self, received_at: float, message: Message, obj: dict, batch: MappedBatch) -> tuple | None:
        """Missing keys become NULL; an unknown or badly named key sends the message to the dead letters."""
        row: list[object] = [None] * len(self._names)
        keys, folded = self._keys, self._keys_folded
        for key, value in obj.items():
            index = keys.get(key)
            if index is None:
                index = folded.get(key.lower())
            if index is None:
                reason = UNKNOWN_FIELD if valid_identifier(key) else BAD_FIELD_NAME
                batch.dead.append(DeadLetter(received_at, f"{reason}: {key[:80]!r}", _raw_bytes(message)))
                return None
            row[index] = value
        return self._json_text(tuple(row), self._json_indexes)

    @staticmethod
    def _json_text(row: tuple, indexes: Sequence[int]) -> tuple:
        """Objects and arrays at `indexes` become compact JSON text."""
        if not any(isinstance(row[index], dict | list) for index in indexes):
            return row
        values = list(row)
        for index in indexes:
            if isinstance(values[index], dict | list):
                values[index] = json.dumps(values[index], separators=(",", ":"))
        return tuple(values)

    # -- writing (inside the writer's transaction) --------------------------------------------------------

    def insert(self, connection: apsw.Connection, batch: MappedBatch, committed_at: float) -> None:
        """Insert the batch's rows, dead letters and ledger entry. The caller owns the transaction.

        Re-runnable after a rollback: rows the table refuses move to the dead letters once, and whether a
        row is refused depends on nothing but the row and the table.
        """
        if batch.pending_objects:
            raise RuntimeError("ensure_table() must run before insert()")
        if batch.rows:
            connection.execute("SAVEPOINT pulse_rows")
            try:
                self._insert_rows(connection, batch.rows)
            except ROW_REFUSALS:
                connection.execute("ROLLBACK TO pulse_rows")
                self._insert_one_by_one(connection, batch)
            connection.execute("RELEASE pulse_rows")
        if batch.dead:
            connection.executemany(
                f"INSERT INTO {DEAD_LETTER_TABLE}(received_at, target_table, reason, raw) VALUES (?, ?, ?, ?)",
                [(dead.received_at, self.table, dead.reason, dead.raw) for dead in batch.dead],
            )
        connection.execute(
            f"INSERT INTO {BATCH_LEDGER_TABLE}(target_table, committed_at, rows, dead_letters, first_seq, "
            "last_seq) VALUES (?, ?, ?, ?, ?, ?)",
            (self.table, committed_at, len(batch.rows), len(batch.dead), batch.first_seq, batch.last_seq),
        )

    def _insert_rows(self, connection: apsw.Connection, rows: list[tuple]) -> None:
        """Insert with a few multi-row statements (a 1000-row batch is a handful of statements).

        Each statement step releases the GIL; while the receive loop is busy, taking it back can cost
        milliseconds, so a statement per row (executemany) makes the writer wait on every row.
        """
        done, total = 0, len(rows)
        for size in self._statement_sizes:
            if total - done < size:
                continue
            sql = self._multi_row_sql.get(size)
            if sql is None:
                sql = self._multi_row_sql[size] = self._insert_head + ", ".join([self._row_placeholders] * size)
            while total - done >= size:
                connection.execute(sql, list(chain.from_iterable(rows[done : done + size])))
                done += size

    def _insert_one_by_one(self, connection: apsw.Connection, batch: MappedBatch) -> None:
        """Some row was refused: insert one at a time (each statement is atomic) and dead-letter the refused."""
        kept_rows, kept_sources, starts = [], [], []
        for index, (row, source) in enumerate(zip(batch.rows, batch.sources, strict=True)):
            try:
                try:
                    connection.execute(self._insert_sql, row)
                except TypeError:
                    # An object or array where a TEXT or ANY column expected a scalar: keep it as JSON text.
                    row = self._json_text(row, self._text_indexes)
                    connection.execute(self._insert_sql, row)
            except ROW_REFUSALS as exc:
                reason = f"{WRONG_TYPE}: {exc}"
                batch.dead.append(DeadLetter(batch.received_at(index), reason, _raw_bytes(source)))
            else:
                starts.append((len(kept_rows), batch.received_at(index)))
                kept_rows.append(row)
                kept_sources.append(source)
        batch.rows, batch.sources, batch.chunk_starts = kept_rows, kept_sources, starts

