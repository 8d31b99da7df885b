"""Retention: keep the last N rows, the last D of time, or at most S bytes of a table. Qt-free.

Two users:
- the ingest writer (`TableTrimmer`): inside each batch's own transaction, after its rows, it deletes at most
  `chunk_for(batch rows)` of the oldest rows (twice the batch, within bounds), so deletion outruns insertion
  at a steady state and no transaction does unbounded work. The rows deleted go into the batch's ledger row
  (`trimmed`), so sum(rows) - sum(trimmed) over the ledger still equals count(*) of a table only the ingest
  writes. Freed pages go to the freelist and the next inserts take them from there: at a steady state the
  file stops growing. A file with auto_vacuum=INCREMENTAL gives pages back with a bounded `incremental_vacuum`.
- the `trim` verb (`trim_table`): any table, each chunk its own short transaction.

How each policy finds the oldest rows (one seek or a bounded range; never a scan per batch):
- rows: a running count of the table (one count(*) at the first batch, then what was inserted and deleted),
  and the `excess` oldest rows deleted; never a rowid above max(rowid) - N, so a count that went stale
  (another process deleted rows) cannot delete rows the policy keeps in an append-only table; a batch that
  deletes fewer rows than its count asked for has the table counted again at the next batch.
- time (`received_at`, or a named column holding Unix seconds): with an index whose first column is the time
  column, the oldest entries of that index below the cutoff. Without one, rowid order stands for time (true of
  an append-only ingest table): the first `chunk` rows in rowid order up to the first one at or after the
  cutoff. A row is never deleted when its time is at or after the cutoff; rows arriving out of order only wait
  for their neighbours; a row with no time (NULL) in that prefix goes with its neighbours.
- bytes: the table's bytes per row are measured from the pages its own inserts allocate (used pages before and
  after the batch's rows: two cheap header reads, no `dbstat` walk), and the byte cap becomes a row cap. The
  estimate counts the table's rows and its indexes, not the ledger or dead letters; it is used once the inserts
  have allocated MIN_MEASURED_PAGES pages. (`trim --keep-bytes` measures the table with `dbstat` instead.)

Dead letters (this table's, by received_at, in id order) and the ledger (by committed_at) have their own ages.
The ledger keeps reconciling: its old rows are folded, per table, into the newest of them (sums of rows, dead
letters and trimmed counts added up there), never deleted outright. That row's id was already there, so a
reader that sums ledger rows by increasing id (the Prometheus endpoint) does not count it twice unless it has
not yet read it, which a retention of minutes or more rules out in practice.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import apsw

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE, quote_identifier

MIN_CHUNK = 256  # rows one batch may delete however small it is (a slow stream still works off a backlog)
MAX_CHUNK = 16_384  # ... and however big (one transaction never does unbounded work)
MIN_MEASURED_PAGES = 16  # bytes per row is trusted once inserts allocated this many pages (quantisation < ~6 %)
LEDGER_EVERY = 64  # the ledger (one row per batch) is folded every this many batches ...
LEDGER_CHUNK = 1024  # ... at most this many of its rows at a time
FREELIST_KEEP_PAGES = 256  # incremental auto-vacuum: pages left on the freelist for the next inserts ...
VACUUM_PAGES = 256  # ... and at most this many given back to the file system per batch
DEFAULT_TIME_COLUMN = "received_at"
TEXT_TYPES = ("TEXT", "BLOB", "CHAR", "CLOB")

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*", re.IGNORECASE)
_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", re.IGNORECASE)
_ROWS = re.compile(r"\s*(\d[\d_,]*)\s*([km])?\s*", re.IGNORECASE)


class RetentionError(PulseError):
    """A retention policy cannot apply to this table (no such time column, not a rowid table, ...)."""


def _number(connection: apsw.Connection, sql: str, args: tuple[object, ...] = ()) -> int:
    """The first column of the first row of `sql`, a whole number (a count, a PRAGMA, a rowid)."""
    value = connection.execute(sql, args).fetchall()[0][0]
    if not isinstance(value, int | float):
        raise TypeError(f"{sql!r} returned {value!r}, not a number")
    return int(value)


@dataclass(frozen=True)
class Retention:
    """What to keep of one table; None everywhere keeps everything."""

    rows: int | None = None  # keep the newest N rows (rowid order)
    seconds: float | None = None  # keep rows whose time is within the last D seconds
    time_column: str | None = None  # the column holding that time (Unix seconds); None: received_at
    bytes: int | None = None  # keep at most S bytes of the table (rows and indexes, estimated)
    dead_letter_seconds: float | None = None  # this table's dead letters: keep the last D seconds
    ledger_seconds: float | None = None  # ledger rows older than this are folded (sums kept)

    @property
    def trims_table(self) -> bool:
        return self.rows is not None or self.seconds is not None or self.bytes is not None

    @property
    def active(self) -> bool:
        return self.trims_table or self.dead_letter_seconds is not None or self.ledger_seconds is not None

    @property
    def column(self) -> str:
        return self.time_column or DEFAULT_TIME_COLUMN

    def describe(self) -> str:
        parts = []
        if self.rows is not None:
            parts.append(f"last {self.rows:,} rows")
        if self.seconds is not None:
            parts.append(f"last {format_duration(self.seconds)} by {self.column}")
        if self.bytes is not None:
            parts.append(f"at most {format_size(self.bytes)}")
        if self.dead_letter_seconds is not None:
            parts.append(f"dead letters {format_duration(self.dead_letter_seconds)}")
        if self.ledger_seconds is not None:
            parts.append(f"ledger {format_duration(self.ledger_seconds)}")
        return ", ".join(parts) or "everything"


# -- parsing what people type ---------------------------------------------------------------------------------

def parse_rows(text: str) -> int:
    """'1000000', '1,000,000', '1_000_000', '250k', '1M' -> a whole number of at least 1; ValueError otherwise."""
    match = _ROWS.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a number of rows (e.g. 1000000, 250k, 1M)")
    value = int(match.group(1).replace("_", "").replace(",", ""))
    value *= {None: 1, "k": 1000, "m": 1_000_000}[(match.group(2) or "").lower() or None]
    if value < 1:
        raise ValueError(f"{text!r}: keep at least 1 row")
    return value


def parse_duration(text: str) -> float:
    """'90s', '30m', '12h', '7d', '2w' (a bare number is seconds) -> seconds above 0; ValueError otherwise."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 30m, 12h, 7d)")
    unit = (match.group(2) or "").lower() or None
    seconds = float(match.group(1)) * _SECONDS[unit]
    if seconds <= 0:
        raise ValueError(f"{text!r}: the duration must be above 0")
    return seconds


def parse_size(text: str) -> int:
    """'500MB', '2GiB', '64kB', '4096' (bytes) -> bytes above 0: kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB
    of 1024. ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 500MB, 2GiB)")
    unit = (match.group(2) or "b").lower()
    power = "bkmgt".index(unit[0])
    base = 1024 if "i" in unit else 1000
    value = int(float(match.group(1)) * base**power)
    if value < 1:
        raise ValueError(f"{text!r}: the size must be at least 1 byte")
    return value


def format_duration(seconds: float) -> str:
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g}{unit}"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << power:
            return f"{size / (1 << power):.3g} {unit}"
    return f"{size} B"


def chunk_for(batch_rows: int) -> int:
    """Rows one batch's transaction may delete: twice what it inserted, within [MIN_CHUNK, MAX_CHUNK]."""
    return max(MIN_CHUNK, min(MAX_CHUNK, 2 * batch_rows))


# -- the table, as retention sees it ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TableFacts:
    time_index: bool  # an index starts with the time column: time retention walks it


def table_facts(connection: apsw.Connection, table: str, policy: Retention) -> TableFacts:
    """Check that `policy` can apply to `table` (a rowid table; a numeric time column); RetentionError otherwise."""
    kind = connection.execute("SELECT type FROM sqlite_schema WHERE name = ? COLLATE NOCASE", (table,)).fetchall()
    if not kind:
        raise RetentionError(f"There is no table {table}: check the name (`sqlite-pulse space DB` lists the tables).")
    if kind[0][0] != "table":
        raise RetentionError(f"{table} is a {kind[0][0]}, not a table: only a table's rows can be trimmed.")
    quoted = quote_identifier(table)
    try:
        connection.execute(f"SELECT rowid FROM {quoted} LIMIT 0").fetchall()
    except apsw.SQLError:
        raise RetentionError(f"{table} is a WITHOUT ROWID table: retention needs a rowid table.") from None
    if policy.seconds is None:
        return TableFacts(time_index=False)
    column = policy.column
    types = {
        str(name).lower(): str(kind).upper()
        for name, kind in connection.execute("SELECT name, type FROM pragma_table_xinfo(?)", (table,)).fetchall()
    }
    if column.lower() not in types:
        hint = "" if policy.time_column else (
            " Name the column holding each row's time in Unix seconds (--retain-time-column, --time-column)."
        )
        raise RetentionError(f"{table} has no column {column}: time retention cannot tell the rows' age.{hint}")
    if any(word in types[column.lower()] for word in TEXT_TYPES):
        raise RetentionError(
            f"{table}.{column} is {types[column.lower()]}: time retention needs Unix seconds (INTEGER or REAL)."
        )
    indexed = False
    for (index,) in connection.execute("SELECT name FROM pragma_index_list(?)", (table,)).fetchall():
        first = connection.execute("SELECT name FROM pragma_index_info(?) WHERE seqno = 0", (index,)).fetchall()
        if first and first[0][0] is not None and str(first[0][0]).lower() == column.lower():
            partial = connection.execute("SELECT partial FROM pragma_index_list(?) WHERE name = ?", (table, index))
            if not any(row[0] for row in partial.fetchall()):
                indexed = True
    return TableFacts(time_index=indexed)


def _delete_oldest_sql(table: str) -> str:
    quoted = quote_identifier(table)
    # The oldest `:count` rows: those below the rowid `:count` steps in (one seek and a walk of :count cells,
    # then one range: measured 0.23 ms per 1024 rows, against 0.27-0.39 ms for `rowid IN (SELECT ... LIMIT)`).
    # Never a rowid above max(rowid) - keep (see the module's note on a stale count), which is also the bound
    # when :count reaches past the table's last row.
    top = f"(SELECT max(rowid) FROM {quoted})"
    return (
        f"DELETE FROM {quoted} WHERE rowid < min(coalesce((SELECT rowid FROM {quoted} ORDER BY rowid "
        f"LIMIT 1 OFFSET :count), {top} + 1), {top} - :keep + 1)"
    )


def _delete_older_sql(table: str, column: str, indexed: bool) -> str:
    quoted, time_column = quote_identifier(table), quote_identifier(column)
    if indexed:
        return (
            f"DELETE FROM {quoted} WHERE rowid IN (SELECT rowid FROM {quoted} WHERE {time_column} < :cutoff "
            f"ORDER BY {time_column} LIMIT :count)"
        )
    # The first :count rows in rowid order, up to the first one at or after the cutoff: every rowid below that
    # bound is inside `head`, so one statement deletes at most :count rows and reads at most twice that.
    return (
        f"WITH head(r, t) AS (SELECT rowid, {time_column} FROM {quoted} ORDER BY rowid LIMIT :count) "
        f"DELETE FROM {quoted} WHERE rowid < coalesce((SELECT min(r) FROM head WHERE NOT (t < :cutoff)), "
        "(SELECT max(r) + 1 FROM head))"
    )


_DEAD_LETTERS_SQL = (
    f"WITH head(r, t) AS (SELECT id, received_at FROM {DEAD_LETTER_TABLE} WHERE target_table = :table "
    "ORDER BY id LIMIT :count) "
    f"DELETE FROM {DEAD_LETTER_TABLE} WHERE target_table = :table AND id < coalesce("
    "(SELECT min(r) FROM head WHERE NOT (t < :cutoff)), (SELECT max(r) + 1 FROM head))"
)
DEAD_LETTER_INDEX_SQL = (
    f"CREATE INDEX IF NOT EXISTS {DEAD_LETTER_TABLE}_by_table ON {DEAD_LETTER_TABLE}(target_table)"
)
_USED_PAGES_SQL = "SELECT page_count - freelist_count FROM pragma_page_count(), pragma_freelist_count()"
_LEDGER_FOLD_SQL = (
    f"UPDATE {BATCH_LEDGER_TABLE} SET (rows, dead_letters, trimmed, trimmed_dead_letters, first_seq) = "
    "(SELECT sum(rows), sum(dead_letters), sum(trimmed), sum(trimmed_dead_letters), min(first_seq) "
    f"FROM {BATCH_LEDGER_TABLE} WHERE target_table = :table AND id <= :keep) WHERE id = :keep"
)
_LEDGER_DROP_SQL = f"DELETE FROM {BATCH_LEDGER_TABLE} WHERE target_table = :table AND id < :keep"


@dataclass(frozen=True)
class Trimmed:
    rows: int = 0
    dead_letters: int = 0


class TableTrimmer:
    """A retention policy applied by the ingest writer to one table, inside each batch's transaction.

    On the writer thread only: `before_rows` (bytes policy), then `trim` after the batch's rows and dead letters,
    then `fold_ledger` after its ledger row; `committed` once COMMIT succeeded (a rolled-back attempt changes
    none of the running numbers: the retry's `before_rows` starts afresh)."""

    def __init__(self, policy: Retention, table: str) -> None:
        self.policy = policy
        self.table = table
        self._facts: TableFacts | None = None
        self._count: int | None = None  # rows in the table as of the last commit
        self._measured_rows = 0  # rows whose inserts were measured (bytes policy)
        self._measured_pages = 0
        self._used_before: int | None = None
        self._page_size = 0
        self._incremental = False
        self._batches = 0
        self._pending: tuple[int, int, int, int] | None = None  # (inserted, deleted, measured rows, measured pages)
        self._stale = False  # the running count proved wrong in the batch in progress

    @property
    def bytes_per_row(self) -> float | None:
        """The measured bytes per row, once enough pages were measured."""
        if self._measured_pages < MIN_MEASURED_PAGES or not self._measured_rows:
            return None
        return self._measured_pages * self._page_size / self._measured_rows

    def row_cap(self, measured: tuple[int, int] = (0, 0)) -> int | None:
        """The rows kept: the rows policy, and the byte cap turned into rows (the smaller). `measured`: rows
        and pages of the batch in progress, not yet committed."""
        caps = [self.policy.rows] if self.policy.rows is not None else []
        rows, pages = self._measured_rows + measured[0], self._measured_pages + measured[1]
        if self.policy.bytes is not None and pages >= MIN_MEASURED_PAGES and rows:
            caps.append(max(1, int(self.policy.bytes // (pages * self._page_size / rows))))
        return min(caps) if caps else None

    def _prepare(self, connection: apsw.Connection) -> TableFacts:
        if self._facts is None:
            self._facts = table_facts(connection, self.table, self.policy)
            self._page_size = _number(connection, "PRAGMA page_size")
            self._incremental = _number(connection, "PRAGMA auto_vacuum") == 2
        if self._count is None and (self.policy.rows is not None or self.policy.bytes is not None):
            # Once per run (a big existing table makes this first batch slower, once).
            self._count = _number(connection, f"SELECT count(*) FROM {quote_identifier(self.table)}")
        return self._facts

    def before_rows(self, connection: apsw.Connection) -> None:
        """Inside the transaction, before the batch's rows: the table's facts and row count (once), the used
        pages (bytes policy)."""
        self._pending = None
        self._used_before = None
        self._prepare(connection)
        if self.policy.bytes is not None:
            self._used_before = _number(connection, _USED_PAGES_SQL)

    def trim(self, connection: apsw.Connection, inserted: int, now: float) -> Trimmed:
        """Inside the transaction, after the batch's rows (`inserted` of them) and dead letters: delete at most
        chunk_for(inserted) rows of the table, and of its dead letters. Returns what was deleted."""
        policy = self.policy
        facts = self._prepare(connection)  # known since before_rows: no statement here
        chunk = chunk_for(inserted)
        measured = (0, 0)
        stale = False
        if self._used_before is not None:
            grown = _number(connection, _USED_PAGES_SQL) - self._used_before
            measured = (inserted, max(grown, 0))
        deleted = 0
        cap = self.row_cap(measured)
        if cap is not None and self._count is not None:
            excess = self._count + inserted - cap
            if excess > 0:
                wanted = min(excess, chunk)
                connection.execute(_delete_oldest_sql(self.table), {"keep": cap, "count": wanted})
                deleted += connection.changes()
                stale = deleted < wanted  # someone else deleted rows: count the table again next batch
        if policy.seconds is not None and deleted < chunk:
            connection.execute(
                _delete_older_sql(self.table, policy.column, facts.time_index),
                {"cutoff": now - policy.seconds, "count": chunk - deleted},
            )
            deleted += connection.changes()
        dead = 0
        if policy.dead_letter_seconds is not None:
            connection.execute(
                _DEAD_LETTERS_SQL, {"table": self.table, "cutoff": now - policy.dead_letter_seconds, "count": chunk}
            )
            dead = connection.changes()
        if (deleted or dead) and self._incremental:
            give_back(connection)
        self._pending = (inserted, deleted, *measured)
        self._stale = stale
        return Trimmed(deleted, dead)

    def fold_ledger(self, connection: apsw.Connection, now: float) -> None:
        """Inside the transaction, every LEDGER_EVERY batches: fold ledger rows older than the ledger's age."""
        if self.policy.ledger_seconds is None or (self._batches + 1) % LEDGER_EVERY:
            return
        fold_ledger(connection, now - self.policy.ledger_seconds, LEDGER_CHUNK)

    def committed(self) -> None:
        """After COMMIT: the running count and the bytes measure take this batch in."""
        self._batches += 1
        if self._pending is None:
            return
        inserted, deleted, rows, pages = self._pending
        self._pending = None
        if self._count is not None:
            self._count = None if self._stale else self._count + inserted - deleted
        self._measured_rows += rows
        self._measured_pages += pages


def fold_ledger(connection: apsw.Connection, cutoff: float, chunk: int) -> int:
    """Fold the oldest ledger rows committed before `cutoff` (at most `chunk`), per table, into the newest of
    them: sums are kept, so the ledger still reconciles. Returns the ledger rows removed."""
    groups: dict[str, list[int]] = {}
    head = connection.execute(  # read whole before changing the table: no statement left open on it
        f"SELECT id, target_table, committed_at FROM {BATCH_LEDGER_TABLE} ORDER BY id LIMIT ?", (chunk,)
    ).fetchall()
    for ledger_id, table, committed_at in head:
        if not isinstance(committed_at, int | float) or committed_at >= cutoff or not isinstance(ledger_id, int):
            break  # id order is commit order: what follows is newer
        groups.setdefault(str(table), []).append(ledger_id)
    removed = 0
    for table, ids in groups.items():
        if len(ids) < 2:
            continue
        keep = {"table": table, "keep": ids[-1]}
        connection.execute(_LEDGER_FOLD_SQL, keep)
        connection.execute(_LEDGER_DROP_SQL, keep)
        removed += connection.changes()
    return removed


def give_back(connection: apsw.Connection) -> None:
    """auto_vacuum=INCREMENTAL: return freelist pages beyond FREELIST_KEEP_PAGES to the file system, at most
    VACUUM_PAGES per call (the pages kept are what the next inserts reuse)."""
    free = _number(connection, "PRAGMA freelist_count")
    if free > FREELIST_KEEP_PAGES:
        connection.execute(f"PRAGMA incremental_vacuum({min(free - FREELIST_KEEP_PAGES, VACUUM_PAGES)})").fetchall()


# -- the trim verb: any table, chunk by chunk, each its own transaction -------------------------------------------

@dataclass(frozen=True)
class TrimResult:
    table: str
    rows_before: int
    deleted: int  # rows deleted (or, on a dry run, that would be)
    dry_run: bool
    chunks: int
    seconds: float
    freelist_pages: int  # after
    page_size: int
    kept_rows: int | None  # the row cap applied (rows or bytes policy)
    bytes_per_row: float | None  # bytes policy: the table's measured bytes per row

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table, "rows_before": self.rows_before, "deleted": self.deleted, "dry_run": self.dry_run,
            "chunks": self.chunks, "seconds": round(self.seconds, 3), "freelist_pages": self.freelist_pages,
            "freelist_bytes": self.freelist_pages * self.page_size, "kept_rows": self.kept_rows,
            "bytes_per_row": None if self.bytes_per_row is None else round(self.bytes_per_row, 1),
        }


def table_bytes(connection: apsw.Connection, table: str) -> int:
    """Bytes of a table's b-tree and its indexes' (pages x page size), through `dbstat` (walks them once)."""
    connection.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.pulse_trim_dbstat USING dbstat(main)")
    names = [table, *(str(name) for (name,) in connection.execute(
        "SELECT name FROM pragma_index_list(?)", (table,)).fetchall())]
    marks = ", ".join("?" * len(names))
    pages = _number(connection, f"SELECT count(*) FROM temp.pulse_trim_dbstat WHERE name IN ({marks})", tuple(names))
    return pages * _number(connection, "PRAGMA page_size")


def trim_table(
    connection: apsw.Connection,
    table: str,
    policy: Retention,
    *,
    chunk: int = 10_000,
    dry_run: bool = False,
    now: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> TrimResult:
    """Apply `policy` (rows, seconds or bytes) to `table` once. Each chunk is its own BEGIN IMMEDIATE ...
    COMMIT, so a writer in another process gets the lock between chunks (the connection's busy timeout waits
    for it). A dry run only counts."""
    started = time.monotonic()
    now = time.time() if now is None else now
    facts = table_facts(connection, table, policy)
    quoted = quote_identifier(table)
    total = _number(connection, f"SELECT count(*) FROM {quoted}")
    keep: int | None = policy.rows
    per_row: float | None = None
    if policy.bytes is not None and total:
        per_row = table_bytes(connection, table) / total
        by_bytes = int(policy.bytes // per_row)
        keep = by_bytes if keep is None else min(keep, by_bytes)
    deleted = chunks = 0
    if keep is not None and total > keep:
        boundary = _number(connection, f"SELECT rowid FROM {quoted} ORDER BY rowid DESC LIMIT 1 OFFSET ?", (keep,))
        if dry_run:
            deleted = total - keep
        else:
            sql = (f"DELETE FROM {quoted} WHERE rowid IN (SELECT rowid FROM {quoted} WHERE rowid <= ? "
                   "ORDER BY rowid LIMIT ?)")
            deleted, chunks = _in_chunks(connection, sql, (boundary, chunk), progress)
    if policy.seconds is not None:
        cutoff = now - policy.seconds
        column = quote_identifier(policy.column)
        if dry_run:
            deleted += _number(connection, f"SELECT count(*) FROM {quoted} WHERE {column} < ?", (cutoff,))
        elif facts.time_index:
            sql = (f"DELETE FROM {quoted} WHERE rowid IN (SELECT rowid FROM {quoted} WHERE {column} < ? "
                   f"ORDER BY {column} LIMIT ?)")
            more, done = _in_chunks(connection, sql, (cutoff, chunk), progress, deleted)
            deleted, chunks = deleted + more, chunks + done
        else:
            more, done = _time_walk(connection, quoted, column, cutoff, chunk, progress, deleted)
            deleted, chunks = deleted + more, chunks + done
    free = _number(connection, "PRAGMA freelist_count")
    page_size = _number(connection, "PRAGMA page_size")
    return TrimResult(table, total, deleted, dry_run, chunks, time.monotonic() - started, free, page_size,
                      keep, per_row)


def _in_chunks(connection: apsw.Connection, sql: str, args: tuple[object, ...],
               progress: Callable[[int], None] | None, done_before: int = 0) -> tuple[int, int]:
    deleted = chunks = 0
    while True:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(sql, args)
            changed = connection.changes()
            connection.execute("COMMIT")
        except BaseException:
            if not connection.getautocommit():
                connection.execute("ROLLBACK")
            raise
        if not changed:
            return deleted, chunks
        deleted += changed
        chunks += 1
        if progress is not None:
            progress(done_before + deleted)


def _time_walk(connection: apsw.Connection, quoted: str, column: str, cutoff: float, chunk: int,
               progress: Callable[[int], None] | None, done_before: int) -> tuple[int, int]:
    """No index on the time column, and a table filled by anything: walk it in rowid order, `chunk` rows per
    transaction, deleting the old ones of each (rows out of time order are still found)."""
    after: object = None  # the last rowid looked at
    deleted = chunks = 0
    while True:
        connection.execute("BEGIN IMMEDIATE")
        try:
            rows = connection.execute(
                f"SELECT rowid, {column} < ? FROM {quoted} WHERE rowid > coalesce(?, -9223372036854775808) "
                "ORDER BY rowid LIMIT ?", (cutoff, after, chunk)).fetchall()
            old = [(rowid,) for rowid, is_old in rows if is_old]
            if old:
                connection.executemany(f"DELETE FROM {quoted} WHERE rowid = ?", old)
            connection.execute("COMMIT")
        except BaseException:
            if not connection.getautocommit():
                connection.execute("ROLLBACK")
            raise
        if not rows:
            return deleted, chunks
        after = rows[-1][0]
        deleted += len(old)
        chunks += 1
        if progress is not None and old:
            progress(done_before + deleted)
