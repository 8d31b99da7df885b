"""Turn received WebSocket messages into table rows, and account for every one that cannot become a row.

Two modes:
- typed: each JSON object becomes a row of a STRICT table whose columns are the object's keys. The
  columns are given explicitly or inferred from the first messages; an existing table is used as it is.
- raw: each message is stored as it arrived, `(received_at, payload)`; the payload must still be JSON.

A message that cannot become a row goes to the dead-letter table with the reason and its raw bytes:
binary when text is expected, too large, not JSON, not an object, unknown or badly named fields, or a
value that the STRICT column refuses. The mapper also counts sequence-number gaps, in arrival order.

Pure: no SQL and no I/O here (the sink writes, see sink.py). The writer thread maps a batch once, outside
any transaction, so a batch that has to be retried (database locked, disk full) is not mapped again.
"""

from __future__ import annotations

import enum
import json
import math
import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Final, cast

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
Chunk = tuple[float, list["Message | Oversized"]]


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
    duplicates: int = 0  # rows the sink skipped for a key already present (--dedupe-key): neither row nor dead

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
    # Dead letters since `last` that show a number which cannot be read reliably (JSON cut at the number,
    # `garbage seq 7`): they arrived, so the numbers they carry are not missing. A gap no wider is theirs.
    unread: int = 0

    def see(self, seq: int) -> None:
        last = self.last
        if last is not None and seq != last + 1:
            self.jump(last, seq)
        self.last = seq
        self.unread = 0

    def jump(self, last: int, seq: int) -> None:
        """`seq` followed `last` out of order (the hot loops check `seq != last + 1` themselves)."""
        if seq > last:
            skipped = seq - last - 1 - self.unread
            if skipped > 0:
                self.gaps += 1
                self.missing += skipped
        else:
            self.resets += 1


def _raw_bytes(message: Message) -> bytes:
    return message.encode("utf-8", "surrogatepass") if isinstance(message, str) else bytes(message)


REJECTED = object()  # _screen's answer for a message that went to the dead letters
KEEP_OVERSIZED_BYTES = 64 << 10  # an oversized message's dead letter keeps this much of it (and its real size)
SEQ_SCAN_BYTES = 4096  # where a dead letter's sequence number is looked for when it cannot be parsed


class Unreadable(enum.Enum):
    """A dead letter's sequence number when it shows one that cannot be read reliably."""

    UNREADABLE = "unreadable"


UNREADABLE: Final = Unreadable.UNREADABLE


class Oversized:
    """A message over the size limit, cut down where it was received: the first bytes and the real size."""

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int) -> None:
        self.head, self.size = head, size

    def __len__(self) -> int:
        return len(self.head)


def cut_oversized(message: Message | Oversized, limit: int) -> Message | Oversized:
    """`message`, or an Oversized stand-in when it is over `limit` bytes (UTF-8 for text)."""
    if isinstance(message, str):
        if len(message) * 4 <= limit:
            return message
        data = message.encode("utf-8", "surrogatepass")
    else:
        if isinstance(message, Oversized) or len(message) <= limit:
            return message
        data = bytes(message)
    if len(data) <= limit:
        return message
    return Oversized(data[: min(limit, KEEP_OVERSIZED_BYTES)], len(data))


@dataclass(frozen=True)
class TableSpec:
    """The target table a sink must create (when missing): its columns, or the raw layout."""

    table: str
    columns: tuple[Column, ...]
    raw: bool = False


class MessageMapper:
    """Maps messages for one target table. Pure: no I/O; used from the writer thread only.

    Per batch: `map_batch` (CPU work). The first batch that needs the table's columns waits for `settle`
    (the writer passes the columns of the table as it exists, or None) and `finish` (maps the held-back
    objects); then the sink writes the batch.
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
        self.settled = False  # the target table's columns are known
        self._rejected_seq: int | Unreadable | None = None
        self._seq_pattern = (
            re.compile(rb'"' + re.escape(seq_field.encode()) + rb'"\s*:\s*(-?\d{1,18})[\s,}]') if seq_field else None
        )
        # The field's name with a number after it, however broken the text around (`"seq": 7` cut, `seq 7`).
        self._seq_hint = re.compile(rb"\b" + re.escape(seq_field.encode()) + rb"\b\W{0,4}-?\d") if seq_field else None

    # -- schema ---------------------------------------------------------------------------------------------

    def settle(self, existing: list[str] | None, batch: MappedBatch) -> TableSpec | None:
        """Decide the target table's columns given the table as it exists (`existing`: its column names,
        or None when missing). Returns what the sink must create, or None when nothing can be created yet
        (inferred columns, and no usable object so far: those messages become dead letters)."""
        if self.raw:
            if existing is not None and not {"received_at", "payload"} <= {name.lower() for name in existing}:
                raise QueryError(
                    f"Table {self.table} exists without received_at and payload columns, which raw mode "
                    "needs. Choose another table name."
                )
            self.use_columns(tuple(Column(name, "ANY") for name in RAW_COLUMNS))
            return TableSpec(self.table, self.columns or (), raw=True)
        if existing is not None:
            explicit = {column.name.lower(): column for column in self._explicit or ()}
            self.use_columns(tuple(explicit.get(name.lower(), Column(name, "ANY")) for name in existing))
            return TableSpec(self.table, self.columns or ())
        columns = self._explicit or infer_columns(obj for _, _, obj in batch.pending_objects[:INFERENCE_SAMPLE])
        if not columns:
            return None
        self.use_columns(tuple(columns))
        return TableSpec(self.table, tuple(columns))

    def finish(self, batch: MappedBatch) -> None:
        """Map the objects a batch held back while the columns were unknown (after `settle`)."""
        pending, batch.pending_objects = batch.pending_objects, []
        for received_at, message, obj in pending:
            if self.columns is None:  # no usable field in any sampled object: wait for better messages
                reason = f"{BAD_FIELD_NAME}: {next(iter(obj))[:80]!r}" if obj else "JSON object is empty"
                batch.dead.append(DeadLetter(received_at, reason, _raw_bytes(message)))
                continue
            row = self._row_slow(received_at, message, obj, batch)
            if row is not None:
                batch.chunk_starts.append((len(batch.rows), received_at))
                batch.rows.append(row)
                batch.sources.append(message)

    def use_columns(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.settled = True
        names = [column.name for column in columns]
        self._names = names
        self._keys = {name: index for index, name in enumerate(names)}
        self._keys_folded = {name.lower(): index for index, name in enumerate(names)}
        self._getter = itemgetter(*names) if len(names) > 1 else (lambda obj: (obj[names[0]],))
        self._json_indexes = [index for index, column in enumerate(columns) if column.json]
        self.text_indexes = [index for index, column in enumerate(columns) if column.type in ("TEXT", "ANY")]
        self._seq_index = self._keys.get(self.seq_field) if self.seq_field else None

    # -- mapping (outside the transaction) ----------------------------------------------------------------

    def map_batch(self, chunks: Iterable[Chunk]) -> MappedBatch:
        batch = MappedBatch()
        if self.raw:
            self._map_rows(chunks, batch, typed=False)
        elif self.columns is None:
            self._map_untyped(chunks, batch)
        else:
            self._map_rows(chunks, batch, typed=True)
        return batch

    def _screen(self, received_at: float, message: Message | Oversized, batch: MappedBatch) -> object:
        """Parsed JSON, or REJECTED after dead-lettering a binary, oversized or unparsable message (its
        sequence number, when one can be read, is left in `_rejected_seq`: a dead letter is not missing;
        UNREADABLE when it shows one that cannot be read reliably)."""
        self._rejected_seq = None
        if message.__class__ is not Oversized:
            message = cut_oversized(message, self.max_message_bytes)
        if isinstance(message, Oversized):
            kept = len(message.head)
            reason = (
                f"{TOO_LARGE}: {message.size:,} bytes, over the {self.max_message_bytes:,}-byte limit"
                f" (the first {kept:,} bytes are kept)"
            )
            batch.dead.append(DeadLetter(received_at, reason, message.head))
            self._rejected_seq = self._scan_seq(message.head)
            return REJECTED
        if message.__class__ is not str:
            batch.dead.append(DeadLetter(received_at, BINARY_MESSAGE, _raw_bytes(message)))
            self._rejected_seq = self._seq_of(message)
            return REJECTED
        try:
            return parse_json(message)
        except ValueError as exc:
            batch.dead.append(DeadLetter(received_at, f"{INVALID_JSON}: {exc}", _raw_bytes(message)))
            self._rejected_seq = self._scan_seq(message)
            return REJECTED

    def _seq_of(self, message: Message) -> int | Unreadable | None:
        """The sequence number of a message that will not become a row, when it can be read at all."""
        if not self.seq_field:
            return None
        try:
            parsed = parse_json(message)
        except ValueError:
            return self._scan_seq(message)
        return self._seq_in(parsed)

    def _seq_in(self, parsed: object) -> int | None:
        if self.seq_field and parsed.__class__ is dict:
            seq = parsed.get(self.seq_field)
            if seq.__class__ is int:
                return seq
        return None

    def _scan_seq(self, message: Message) -> int | Unreadable | None:
        """`"seq": 123` in the first bytes of a message that is cut or not valid JSON; UNREADABLE when a number
        shows but not reliably (at the very end it may itself be cut: `"seq": 7` of `"seq": 71`)."""
        if self._seq_pattern is None or self._seq_hint is None:
            return None
        head = message[:SEQ_SCAN_BYTES]
        if isinstance(head, str):
            head = head.encode("utf-8", "surrogatepass")
        found = self._seq_pattern.search(head)
        if found:
            return int(found.group(1))
        return UNREADABLE if self._seq_hint.search(head) else None

    def _close_sequence(self, batch: MappedBatch, first: int | None, last: int | None, unread: int) -> None:
        self.sequence.last, self.sequence.unread = last, unread
        if first is not None:
            batch.first_seq = first if batch.first_seq is None else batch.first_seq
            batch.last_seq = last

    # The loop below is the hot path (one pass per message): locals, no per-message function calls on
    # the common case; anything unusual takes `_screen` or `_row_slow`.

    def _map_rows(self, chunks: Iterable[Chunk], batch: MappedBatch, *, typed: bool) -> None:
        rows, sources, dead, loads = batch.rows, batch.sources, batch.dead, parse_json
        limit, screen = self.max_message_bytes, self._screen
        tracker = self.sequence
        last, first, unread = tracker.last, None, tracker.unread
        if typed:
            getter, slow = self._getter, self._row_slow
            width, json_indexes, seq_index = len(self._names), self._json_indexes, self._seq_index
        else:
            seq_field = self.seq_field
        for received_at, messages in chunks:
            batch.messages += len(messages)
            batch.chunk_starts.append((len(rows), received_at))
            # An Oversized goes to screen() and never past it: past it, a message is text (or bytes).
            for message in cast(list[Message], messages):
                seq = None
                if message.__class__ is str and len(message) * 4 <= limit:
                    try:
                        obj = loads(message)
                    except ValueError:
                        obj = screen(received_at, message, batch)
                else:
                    obj = screen(received_at, message, batch)
                if obj is REJECTED:
                    seq = self._rejected_seq
                    if seq is UNREADABLE:
                        unread += 1
                elif not typed:
                    rows.append((received_at, message))
                    sources.append(message)
                    if seq_field and obj.__class__ is dict:
                        seq = obj.get(seq_field)
                elif obj.__class__ is not dict:
                    dead.append(DeadLetter(received_at, NOT_AN_OBJECT, _raw_bytes(message)))
                else:
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
                        seq = self._rejected_seq
                    else:
                        rows.append(row)
                        sources.append(message)
                        if seq_index is not None:
                            seq = row[seq_index]
                if seq.__class__ is int:
                    if last is not None and seq != last + 1:
                        tracker.unread = unread
                        tracker.jump(last, seq)
                    last, unread = seq, 0
                    if first is None:
                        first = seq
        self._close_sequence(batch, first, last, unread)

    def _map_untyped(self, chunks: Iterable[Chunk], batch: MappedBatch) -> None:
        """No columns yet: parse and hold the objects back; `settle` infers the table from them."""
        tracker = self.sequence
        first = None
        for received_at, messages in chunks:
            batch.messages += len(messages)
            for message in cast(list[Message], messages):  # (as in _map_rows)
                parsed = self._screen(received_at, message, batch)
                if parsed is REJECTED:
                    seq = self._rejected_seq
                    if seq is UNREADABLE:
                        tracker.unread += 1
                        seq = None
                elif parsed.__class__ is not dict:
                    batch.dead.append(DeadLetter(received_at, NOT_AN_OBJECT, _raw_bytes(message)))
                    seq = None
                else:
                    batch.pending_objects.append((received_at, message, parsed))
                    seq = self._seq_in(parsed)
                if seq is not None:
                    tracker.see(seq)
                    if first is None:
                        first = seq
        if first is not None:
            self._close_sequence(batch, first, tracker.last, tracker.unread)

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
                self._rejected_seq = self._seq_in(obj)
                return None
            row[index] = value
        return self.json_text(tuple(row), self._json_indexes)

    @staticmethod
    def json_text(row: tuple, indexes: Sequence[int]) -> tuple:
        """Objects and arrays at `indexes` become compact JSON text."""
        if not any(isinstance(row[index], dict | list) for index in indexes):
            return row
        values = list(row)
        for index in indexes:
            if isinstance(values[index], dict | list):
                values[index] = json.dumps(values[index], separators=(",", ":"))
        return tuple(values)

    _json_text = json_text
