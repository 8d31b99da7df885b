"""Dead letters you can act on: list, show, replay, resolve and purge the rows of `pulse_dead_letters`.

A replay runs a letter's raw bytes through the same `MessageMapper` the writer uses, configured for its
target table as that table exists now (raw mode when it has the raw layout, else its columns), and inserts
what now maps on a write connection. Accounting is per letter and inside one transaction per chunk: a
letter either becomes a row (status 'replayed', the row's id in its note) or stays an open dead letter with
its new reason; never both, never lost.

The `status`, `note` and `resolved_at` columns are new: files written before them are read as if every
letter were 'open' (listing never changes a user's file) and are migrated in place (`ALTER TABLE … ADD
COLUMN`, no table rewrite) by `migrate`, which the writing calls need first.

Qt-free; every function takes an apsw connection, so the window runs them on the session's threads (reads
on the browse thread, writes on the one writer) and the verb on its own connections.
"""

from __future__ import annotations

import re
import string
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import apsw

from desktop_app.core.errors import PulseError, QueryError
from desktop_app.core.ingest.mapping import (
    BATCH_LEDGER_TABLE,
    DEAD_LETTER_TABLE,
    TOO_LARGE,
    WRONG_TYPE,
    MappedBatch,
    MessageMapper,
    quote_identifier,
)
from desktop_app.core.ingest.sink import ROW_REFUSALS, existing_columns, immediate_transaction

OPEN, REPLAYED, RESOLVED = "open", "replayed", "resolved"
STATUSES = (OPEN, REPLAYED, RESOLVED)
# Added to files made before them; the same definitions as sink.DEAD_LETTER_SQL (ADD COLUMN needs no rewrite).
NEW_COLUMNS = (("status", "TEXT NOT NULL DEFAULT 'open'"), ("note", "TEXT"), ("resolved_at", "REAL"))
DEFAULT_LIMIT = 200
MAX_LIMIT = 10_000
CHUNK = 500  # letters per write transaction: short, so a running ingest of the same file waits little
RAW_LAYOUT = {"id", "received_at", "payload"}  # sink.RAW_TABLE_SQL's table
SHOW_BYTES = 64 << 10  # a detail view shows at most this much of a letter's raw bytes
COUNT_CAP = 100_000  # "how many would go" counts stop here: never a count over everything
DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*", re.IGNORECASE)
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class DeadLetterError(PulseError):
    """A dead-letter request that cannot be carried out as asked (no table, bad filter, unknown id)."""


@dataclass(frozen=True)
class LetterFilter:
    """Which letters: every given condition must hold (nothing given: all)."""

    ids: tuple[int, ...] | None = None
    reason: str | None = None  # a case-insensitive substring of the reason
    since: float | None = None  # received at or after (Unix time)
    until: float | None = None  # received before
    status: str | None = None
    table: str | None = None  # the letter's target table

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise DeadLetterError(f"Status must be one of {', '.join(STATUSES)} (got {self.status!r}).")


@dataclass(frozen=True)
class Letter:
    id: int
    received_at: float
    target_table: str
    reason: str
    status: str
    note: str | None
    resolved_at: float | None
    size: int  # bytes of raw
    raw: bytes | None = None  # only from `show`

    def to_dict(self, *, with_raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "received_at": self.received_at, "time": iso_time(self.received_at),
            "target_table": self.target_table, "reason": self.reason, "status": self.status, "note": self.note,
            "resolved_at": self.resolved_at, "size": self.size,
        }
        if with_raw and self.raw is not None:
            text = utf8_or_none(self.raw)
            data["raw_text"] = text
            data["raw_hex"] = None if text is not None else self.raw.hex()
        return data


@dataclass
class ReplayResult:
    """What a replay did: `written + still_dead == selected`, and each letter is in exactly one of them."""

    selected: int = 0  # open letters that matched and were tried
    written: int = 0
    still_dead: int = 0
    rows: list[tuple[int, str, int]] = field(default_factory=list)  # (letter id, table, new rowid)
    failures: list[tuple[int, str]] = field(default_factory=list)  # (letter id, new reason)
    not_open: list[int] = field(default_factory=list)  # asked-for ids that are missing or not open

    def reasons(self) -> Counter[str]:
        """Still-dead letters per reason (the part before the first ':')."""
        return Counter(reason.split(":", 1)[0] for _, reason in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected, "written": self.written, "still_dead": self.still_dead,
            "rows": [{"letter": letter, "table": table, "rowid": rowid} for letter, table, rowid in self.rows],
            "still_dead_letters": [{"letter": letter, "reason": reason} for letter, reason in self.failures],
            "reasons": dict(self.reasons()), "not_open": self.not_open,
        }


# -- the table and its columns ---------------------------------------------------------------------------------


def has_table(connection: apsw.Connection) -> bool:
    return existing_columns(connection, DEAD_LETTER_TABLE) is not None


def require_table(connection: apsw.Connection) -> list[str]:
    """The dead-letter table's columns, lower-cased; DeadLetterError when the file has none."""
    columns = existing_columns(connection, DEAD_LETTER_TABLE)
    if columns is None:
        raise DeadLetterError(
            f"This file has no {DEAD_LETTER_TABLE} table: no ingest has dead-lettered a message into it "
            "(open the database an ingest writes to)."
        )
    return [name.lower() for name in columns]


def missing_columns(connection: apsw.Connection) -> list[str]:
    """The status/note columns an older file still lacks (empty: up to date)."""
    present = set(require_table(connection))
    return [name for name, _ in NEW_COLUMNS if name not in present]


def migrate(connection: apsw.Connection) -> list[str]:
    """Add the missing status/note columns in place (one short write transaction); the names added."""
    with immediate_transaction(connection):
        added = missing_columns(connection)  # again, under the write lock: another process may have added them
        for name, definition in NEW_COLUMNS:
            if name in added:
                connection.execute(f"ALTER TABLE {DEAD_LETTER_TABLE} ADD COLUMN {name} {definition}")
    return added


def _select_list(present: set[str], *, raw: bool = False) -> str:
    """Columns to read; on an older file the new ones read as an open letter's."""
    status = "status" if "status" in present else "'open'"
    note = "note" if "note" in present else "NULL"
    resolved = "resolved_at" if "resolved_at" in present else "NULL"
    tail = ", raw" if raw else ""
    return (f"id, received_at, target_table, reason, {status}, {note}, {resolved}, length(raw){tail}")


def _where(flt: LetterFilter, present: set[str]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flt.ids is not None:
        if not flt.ids:
            return "0", []
        clauses.append(f"id IN ({', '.join('?' * len(flt.ids))})")
        params.extend(flt.ids)
    if flt.reason:
        clauses.append("instr(lower(reason), lower(?)) > 0")
        params.append(flt.reason)
    if flt.since is not None:
        clauses.append("received_at >= ?")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("received_at < ?")
        params.append(flt.until)
    if flt.status is not None:
        clauses.append(f"{'status' if 'status' in present else quote_literal(OPEN)} = ?")
        params.append(flt.status)
    if flt.table:
        clauses.append("target_table = ? COLLATE NOCASE")
        params.append(flt.table)
    return (" AND ".join(clauses) or "1"), params


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _letter(row: Sequence[Any]) -> Letter:
    raw = bytes(row[8]) if len(row) > 8 else None
    return Letter(int(row[0]), float(row[1]), str(row[2]), str(row[3]), str(row[4]), row[5], row[6], int(row[7] or 0),
                  raw)


# -- reading ----------------------------------------------------------------------------------------------------


def list_letters(
    connection: apsw.Connection, flt: LetterFilter = LetterFilter(), *, limit: int = DEFAULT_LIMIT,  # noqa: B008
    after_id: int | None = None,
) -> list[Letter]:
    """Up to `limit` letters matching `flt`, newest first, older than `after_id` when given (the next page)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise DeadLetterError(f"The limit must be between 1 and {MAX_LIMIT:,} (got {limit}).")
    present = set(require_table(connection))
    where, params = _where(flt, present)
    if after_id is not None:
        where += " AND id < ?"
        params.append(after_id)
    sql = f"SELECT {_select_list(present)} FROM {DEAD_LETTER_TABLE} WHERE {where} ORDER BY id DESC LIMIT ?"
    return [_letter(row) for row in connection.execute(sql, [*params, limit])]


def show(connection: apsw.Connection, letter_id: int) -> Letter:
    """One letter with its raw bytes; DeadLetterError when there is none with that id."""
    present = set(require_table(connection))
    row = connection.execute(
        f"SELECT {_select_list(present, raw=True)} FROM {DEAD_LETTER_TABLE} WHERE id = ?", (letter_id,)
    ).fetchone()
    if row is None:
        raise DeadLetterError(f"There is no dead letter with id {letter_id} (list them with `dead-letters DB list`).")
    return _letter(row)


def count_matching(connection: apsw.Connection, flt: LetterFilter, *, cap: int = COUNT_CAP) -> int:
    """How many letters match, counted up to `cap` at most (a bounded count, never over everything)."""
    present = set(require_table(connection))
    where, params = _where(flt, present)
    return _bounded_count(connection, where, [*params, cap])


def _bounded_count(connection: apsw.Connection, where: str, params: list[Any]) -> int:
    """count(*) of the letters matching `where`, stopping at the LIMIT that ends `params`."""
    row = connection.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {DEAD_LETTER_TABLE} WHERE {where} LIMIT ?)", params
    ).fetchone()
    return int(row[0]) if row is not None else 0


def utf8_or_none(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def render_raw(raw: bytes, *, limit: int = SHOW_BYTES) -> tuple[str, str]:
    """('text' | 'hex', what to show): UTF-8 text as it is, anything else as a hex dump; at most `limit` bytes."""
    text = utf8_or_none(raw)
    if text is not None:
        shown = raw[:limit].decode("utf-8", "ignore") if len(raw) > limit else text
        more = f"\n… {len(raw) - limit:,} more bytes" if len(raw) > limit else ""
        return "text", shown + more
    return "hex", hex_dump(raw, limit=limit)


PRINTABLE = frozenset(string.printable.encode()) - frozenset(b"\t\n\r\x0b\x0c")


def hex_dump(raw: bytes, *, limit: int = SHOW_BYTES, width: int = 16) -> str:
    """`00000000  7b 22 61 ...  |{"a...|`, like `hexdump -C`."""
    lines = []
    for offset in range(0, min(len(raw), limit), width):
        part = raw[offset : offset + width]
        hexes = " ".join(f"{byte:02x}" for byte in part)
        chars = "".join(chr(byte) if byte in PRINTABLE else "." for byte in part)
        lines.append(f"{offset:08x}  {hexes:<{width * 3 - 1}}  |{chars}|")
    if len(raw) > limit:
        lines.append(f"… {len(raw) - limit:,} more bytes")
    return "\n".join(lines)


# -- replay -----------------------------------------------------------------------------------------------------


@dataclass
class _Target:
    """One target table as it exists now: its mapper and insert statement, or why nothing can go there."""

    mapper: MessageMapper | None
    insert_sql: str = ""
    problem: str | None = None


def _target(connection: apsw.Connection, table: str) -> _Target:
    try:
        columns = existing_columns(connection, table)
    except QueryError as exc:
        return _Target(None, problem=str(exc))
    if columns is None:
        return _Target(None, problem=f"table {table} does not exist: create it (or ingest into it), then replay")
    raw = {name.lower() for name in columns} == RAW_LAYOUT
    try:
        # No size limit (a letter's bytes are what arrived, or a cut oversized head handled before) and no
        # sequence tracking: a replay is not a stream.
        mapper = MessageMapper(table, raw=raw, max_message_bytes=sys.maxsize, seq_field=None)
        spec = mapper.settle(columns, MappedBatch())
    except QueryError as exc:
        return _Target(None, problem=str(exc))
    assert spec is not None  # an existing table always settles
    names = ", ".join(quote_identifier(column.name) for column in spec.columns)
    marks = ", ".join("?" * len(spec.columns))
    return _Target(mapper, f"INSERT INTO {quote_identifier(table)}({names}) VALUES ({marks})")


def _map_one(target: _Target, received_at: float, reason: str, raw: bytes) -> tuple[tuple | None, str]:
    """(row, "") when the letter now maps, else (None, the reason it still cannot)."""
    if target.mapper is None:
        return None, target.problem or "the target table cannot be written"
    if reason.startswith(TOO_LARGE):
        return None, reason  # only its first bytes were kept: replaying them would store a cut message
    text = utf8_or_none(raw)
    batch = target.mapper.map_batch([(received_at, [text if text is not None else raw])])
    if batch.rows:
        return batch.rows[0], ""
    return None, batch.dead[0].reason if batch.dead else "the message mapped to nothing"


def _insert(connection: apsw.Connection, target: _Target, row: tuple) -> tuple[int | None, str]:
    """Insert one row as the sink would (objects kept as JSON text where a scalar was expected); (rowid, "")
    or (None, the table's refusal)."""
    assert target.mapper is not None
    try:
        try:
            connection.execute(target.insert_sql, row)
        except TypeError:
            connection.execute(target.insert_sql, MessageMapper.json_text(row, target.mapper.text_indexes))
    except ROW_REFUSALS as exc:
        return None, f"{WRONG_TYPE}: {exc}"
    return connection.last_insert_rowid(), ""


def replay(
    connection: apsw.Connection,
    flt: LetterFilter,
    *,
    chunk: int = CHUNK,
    cancelled: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Replay the open letters matching `flt`, oldest first, one write transaction per `chunk` letters.

    `connection` must be a write connection (with a busy timeout: an ingest may be writing the same file);
    the file must have the status columns (`migrate` first). `cancelled` is checked between chunks: what
    was committed stays, and is counted. `progress(done, 0)` after each chunk."""
    if missing_columns(connection):
        raise DeadLetterError(f"{DEAD_LETTER_TABLE} has no status column yet: migrate it before a replay.")
    result = ReplayResult()
    present = set(STATUSES) | {"status", "note", "resolved_at"}
    where, params = _where(flt, present)
    if flt.ids is not None:
        found = {
            letter_id for (letter_id,) in connection.execute(
                f"SELECT id FROM {DEAD_LETTER_TABLE} WHERE {where} AND status = ?", [*params, OPEN]
            )
        }
        result.not_open = sorted(set(flt.ids) - found)
    last_id: Any = 0
    while cancelled is None or not cancelled():
        with immediate_transaction(connection):
            letters = connection.execute(
                f"SELECT id, received_at, target_table, reason, raw FROM {DEAD_LETTER_TABLE} "
                f"WHERE {where} AND status = ? AND id > ? ORDER BY id LIMIT ?",
                [*params, OPEN, last_id, chunk],
            ).fetchall()
            if not letters:
                break
            _replay_chunk(connection, letters, result)
        last_id = letters[-1][0]
        if progress is not None:
            progress(result.selected, 0)
    return result


def _replay_chunk(connection: apsw.Connection, letters: list[tuple], result: ReplayResult) -> None:
    """Inside the caller's transaction: each letter becomes a row or keeps being a dead letter, never both."""
    targets: dict[str, _Target] = {}  # read again per chunk: the user may change a table between chunks
    written: Counter[str] = Counter()
    now = time.time()
    for letter_id, received_at, table, reason, raw in letters:
        target = targets.get(table.lower())
        if target is None:
            target = targets[table.lower()] = _target(connection, table)
        row, new_reason = _map_one(target, float(received_at), str(reason), bytes(raw))
        rowid = None
        if row is not None:
            rowid, new_reason = _insert(connection, target, row)
        result.selected += 1
        if rowid is not None:
            connection.execute(
                f"UPDATE {DEAD_LETTER_TABLE} SET status = ?, note = ?, resolved_at = ? WHERE id = ?",
                (REPLAYED, f"replayed into {table} as rowid {rowid}", now, letter_id),
            )
            result.written += 1
            written[str(table)] += 1
            result.rows.append((int(letter_id), str(table), int(rowid)))
        else:
            connection.execute(f"UPDATE {DEAD_LETTER_TABLE} SET reason = ? WHERE id = ?", (new_reason, letter_id))
            result.still_dead += 1
            result.failures.append((int(letter_id), new_reason))
    _ledger(connection, written, now)


def _ledger(connection: apsw.Connection, written: Counter[str], now: float) -> None:
    """A ledger row per table for the rows a replay added, in the same transaction, as the writer does for a
    batch: sum(rows) in the ledger keeps matching what the tables received. Not one dead letter more or
    less (replayed letters stay, marked), so its dead_letters is 0."""
    if not written or existing_columns(connection, BATCH_LEDGER_TABLE) is None:
        return
    connection.executemany(
        f"INSERT INTO {BATCH_LEDGER_TABLE}(target_table, committed_at, rows, dead_letters) VALUES (?, ?, ?, 0)",
        [(table, now, rows) for table, rows in written.items()],
    )


# -- resolve and purge ------------------------------------------------------------------------------------------


def resolve(connection: apsw.Connection, flt: LetterFilter, note: str, *, chunk: int = CHUNK) -> int:
    """Mark the open letters matching `flt` resolved with `note`; how many. Needs the status columns."""
    if not note.strip():
        raise DeadLetterError("Resolving needs a note saying what was done (or why the letters can go).")
    if missing_columns(connection):
        raise DeadLetterError(f"{DEAD_LETTER_TABLE} has no status column yet: migrate it before resolving.")
    where, params = _where(flt, {"status"})
    return _in_chunks(
        connection,
        f"UPDATE {DEAD_LETTER_TABLE} SET status = ?, note = ?, resolved_at = ? WHERE id IN "
        f"(SELECT id FROM {DEAD_LETTER_TABLE} WHERE {where} AND status = ? LIMIT ?)",
        lambda: [RESOLVED, note.strip(), time.time(), *params, OPEN, chunk],
    )


def purge_filter(status: str = RESOLVED, older_than: float | None = None, now: float | None = None) -> tuple[str, list[Any]]:
    if status not in (RESOLVED, REPLAYED):
        raise DeadLetterError(f"Only resolved or replayed letters can be purged (got {status!r}).")
    where = "status = ?"
    params: list[Any] = [status]
    if older_than is not None:
        where += " AND coalesce(resolved_at, received_at) < ?"
        params.append((time.time() if now is None else now) - older_than)
    return where, params


def purgeable(connection: apsw.Connection, status: str = RESOLVED, older_than: float | None = None) -> int:
    """How many letters `purge` would delete (counted up to COUNT_CAP)."""
    if missing_columns(connection):
        return 0  # an older file has no resolved or replayed letters
    where, params = purge_filter(status, older_than)
    return _bounded_count(connection, where, [*params, COUNT_CAP])


def purge(connection: apsw.Connection, status: str = RESOLVED, older_than: float | None = None, *,
          chunk: int = CHUNK) -> int:
    """Delete the resolved (or replayed) letters, those settled more than `older_than` seconds ago when given;
    how many. Open letters are never deleted here."""
    if missing_columns(connection):
        raise DeadLetterError(f"{DEAD_LETTER_TABLE} has no status column yet: migrate it before purging.")
    where, params = purge_filter(status, older_than)
    return _in_chunks(
        connection,
        f"DELETE FROM {DEAD_LETTER_TABLE} WHERE id IN (SELECT id FROM {DEAD_LETTER_TABLE} WHERE {where} LIMIT ?)",
        lambda: [*params, chunk],
    )


def _in_chunks(connection: apsw.Connection, sql: str, params: Callable[[], list[Any]]) -> int:
    """Run a LIMIT-ed statement in short write transactions until it changes nothing; the total changed."""
    total = 0
    while True:
        with immediate_transaction(connection):
            connection.execute(sql, params())
            changed = connection.changes()
        total += changed
        if not changed:
            return total


# -- times ------------------------------------------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '7d', '2w' -> seconds."""
    found = DURATION.fullmatch(text)
    if found is None:
        raise DeadLetterError(f"{text!r} is not a duration: use a number and s, m, h, d or w (e.g. 30m, 7d).")
    return float(found.group(1)) * SECONDS[found.group(2).lower()]


def parse_time(text: str, *, now: float | None = None) -> float:
    """A point in time: relative ('1h' = an hour ago), ISO 8601 (local time unless it names a zone), or Unix
    seconds."""
    text = text.strip()
    if DURATION.fullmatch(text):
        return (time.time() if now is None else now) - parse_duration(text)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise DeadLetterError(
            f"{text!r} is not a time: use ISO 8601 (2024-05-01T12:00), Unix seconds, or an age such as 1h or 7d."
        ) from None


def parse_ids(text: str) -> tuple[int, ...]:
    """'1,2,5' -> (1, 2, 5)."""
    try:
        ids = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise DeadLetterError(f"{text!r} is not a list of letter ids: expected numbers separated by commas.") from None
    if not ids:
        raise DeadLetterError("No letter ids given: expected numbers separated by commas (e.g. --ids 3,4,9).")
    return ids


def iso_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")
