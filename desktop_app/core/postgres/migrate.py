"""`migrate`: copy a SQLite database into PostgreSQL, table by table, resumably.

- One read transaction on the source for the whole run: every table comes from the same snapshot of a
  live database (WAL lets its writers carry on meanwhile).
- Types: from the declared type's SQLite affinity, checked against the storage classes actually present
  (one scan per table), so an INTEGER column holding text becomes text rather than a failed copy. Untyped
  columns take the type of what they hold. INTEGER -> bigint, REAL -> double precision, TEXT -> text,
  BLOB -> bytea; a column mixing numbers and text is text.
- Each table is ONE PostgreSQL transaction: CREATE TABLE (NOT NULL, primary key), COPY in batches with
  progress, CREATE INDEX, count check, and a row in `pulse_migrations`. A cancel or a failure rolls the
  table back whole (PostgreSQL's DDL is transactional); a rerun skips tables recorded as copied and
  verified, and copies the rest.
- Views are tried verbatim (many SELECTs are the same in both dialects); those PostgreSQL refuses, and
  every trigger (PostgreSQL triggers call functions), are listed in the result, never dropped silently.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, cast

import apsw

from desktop_app.core.database import open_database
from desktop_app.core.errors import PulseError, QueryError, QueryInterrupted
from desktop_app.core.ingest.mapping import quote_identifier as q
from desktop_app.core.postgres.copyformat import COPY_OPTIONS, HEADER, TRAILER, RowEncoder
from desktop_app.core.postgres.url import PostgresError, clean_message, connect, describe, load_driver
from desktop_app.core.worker import Job

DEFAULT_BATCH_ROWS = 20_000
LEDGER = "pulse_migrations"
ENCODER_TYPE = {"bigint": "INTEGER", "double precision": "REAL", "text": "TEXT", "bytea": "BLOB"}

Progress = Callable[[str, int, int], None]  # (table, rows copied so far, rows in the table)


class MigrateCancelled(PulseError):
    """Cancelled: the table being copied was rolled back; tables already copied stay and are skipped next time."""


@dataclass
class TableResult:
    name: str
    rows: int
    status: str  # "copied" | "skipped" (copied and verified by an earlier run)
    seconds: float = 0.0
    columns: dict[str, str] = field(default_factory=dict)  # name -> PostgreSQL type


@dataclass
class MigrateResult:
    source: str
    target: str  # masked: user@host:port/dbname
    schema: str
    tables: list[TableResult] = field(default_factory=list)
    untranslated: list[dict[str, str]] = field(default_factory=list)  # {"type", "name", "reason"}
    views: list[str] = field(default_factory=list)  # views created in PostgreSQL as written
    rows: int = 0  # rows copied by this run
    seconds: float = 0.0
    verified: bool = False

    @property
    def rows_per_s(self) -> float:
        return round(self.rows / self.seconds, 1) if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rows_per_s"] = self.rows_per_s
        return data


@dataclass
class ColumnPlan:
    name: str
    declared: str
    notnull: bool
    pk: int  # position in the primary key (1-based), 0 when not part of it
    pg_type: str = "text"


@dataclass
class TablePlan:
    name: str
    columns: list[ColumnPlan]
    without_rowid: bool
    indexes: list[tuple[str, bool, list[str]]]  # (name, unique, ["col" [DESC], ...] already quoted)
    rows: int = 0


def affinity(declared: str) -> str:
    """SQLite's column affinity rules (datatype3.html §3.1), in their order."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in upper or not upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def pg_type_for(declared: str, present: set[str]) -> str:
    """The PostgreSQL type for a column given its declared type and the storage classes it holds."""
    kind = affinity(declared)
    if not present:  # empty or all NULL: the declared type decides
        return {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text", "BLOB": "bytea"}.get(kind, "text")
    if present <= {"integer"} and kind in ("INTEGER", "NUMERIC", "BLOB"):
        return "bigint"
    if present <= {"integer", "real"}:
        return "double precision" if kind != "TEXT" else "text"
    if present == {"blob"}:
        return "bytea"
    if "blob" in present:
        return "bytea"  # blobs mixed with other values: every value kept as bytes (text as UTF-8)
    return "text"


class Migration:
    """One run: `run()` blocks (`cancel()` from any thread; `on_progress` on the running thread), or
    `run_job(job)` as a worker job: the job's cancel stops it, its progress reaches the loop thread."""

    def __init__(self, source: Path | str, url: str, *, tables: list[str] | None = None, schema: str | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS, on_progress: Progress | None = None,
                 password: str | None = None) -> None:
        self.source = Path(source).expanduser().absolute()
        self.url = url
        self.only = tables
        self.schema = schema
        self.batch_rows = batch_rows
        self.on_progress = on_progress
        self._password = password  # from a window's password field; PGPASSWORD / ~/.pgpass otherwise
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run_job(self, job: Job[MigrateResult]) -> MigrateResult:
        self._cancel = job.cancel_event
        self.on_progress = job.report
        return self.run(job.interrupts)

    def run(self, watch: Callable[[apsw.Connection], contextlib.AbstractContextManager] | None = None) -> MigrateResult:
        """`watch(sqlite)` wraps the run (a job's `interrupts`: a cancel also stops a long source scan)."""
        started = time.perf_counter()
        database = open_database(self.source, read_only=True)  # typed errors: missing, not a database, ...
        sqlite = database.connect_read(busy_timeout_ms=5000)
        psycopg = load_driver()
        pg = connect(self.url, password=self._password, autocommit=True, application_name="sqlite-pulse migrate")
        result = MigrateResult(source=str(self.source), target=describe(self.url), schema="")
        watching = watch(sqlite) if watch is not None else contextlib.nullcontext()
        try:
            with watching:
                self._copy_all(sqlite, pg, result)
        except psycopg.Error as exc:
            raise PostgresError(f"{describe(self.url)}: {clean_message(str(exc), self.url)}") from None
        except QueryInterrupted:  # cancelled before the first read
            raise MigrateCancelled("Cancelled before anything was copied.") from None
        except apsw.Error as exc:
            if self._cancel.is_set():  # interrupted by the cancel: nothing of this table was kept
                raise MigrateCancelled("Cancelled while reading the source; a rerun copies the remaining tables.") from None
            raise QueryError(f"Reading {self.source.name} failed: {exc}") from None
        finally:
            if not sqlite.getautocommit():
                sqlite.execute("ROLLBACK")
            sqlite.close()
            pg.close()
        result.seconds = round(time.perf_counter() - started, 3)
        return result

    def _copy_all(self, sqlite: apsw.Connection, pg: Any, result: MigrateResult) -> None:
        sqlite.execute("BEGIN")
        sqlite.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # the snapshot starts here
        schema = self._schema(pg)
        result.schema = schema
        plans = self._plans(sqlite)
        done = self._already_copied(pg, schema)
        for plan in plans:
            if done.get(plan.name) == plan.rows:
                result.tables.append(TableResult(plan.name, plan.rows, "skipped"))
                continue
            if self._cancel.is_set():
                raise MigrateCancelled(f"Cancelled before {plan.name}; a rerun copies the remaining tables.")
            result.tables.append(self._copy_table(sqlite, pg, schema, plan))
            result.rows += result.tables[-1].rows
        result.untranslated = self._indexes_left_out(plans)
        result.untranslated += self._views_and_triggers(sqlite, pg, schema, {plan.name for plan in plans}, result)
        result.verified = True

    # -- planning ---------------------------------------------------------------------------------------

    def _schema(self, pg: Any) -> str:
        if self.schema:
            pg.execute(f"CREATE SCHEMA IF NOT EXISTS {q(self.schema)}")
            return self.schema
        return pg.execute("SELECT current_schema()").fetchone()[0]

    def _plans(self, sqlite: apsw.Connection) -> list[TablePlan]:
        names = [name for (name,) in sqlite.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
        )]
        if self.only:
            missing = [name for name in self.only if name not in names]
            if missing:
                raise QueryError(f"No table named {', '.join(missing)} in {self.source.name}.")
            names = [name for name in names if name in self.only]
        return [self._plan(sqlite, name) for name in names]

    def _plan(self, sqlite: apsw.Connection, name: str) -> TablePlan:
        columns = [
            ColumnPlan(col_name, declared or "", bool(notnull), pk)
            for _, col_name, declared, notnull, _, pk, hidden in sqlite.execute(
                "SELECT cid, name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?)", (name,)
            )
            if hidden == 0
        ]
        without_rowid = bool(cast(tuple[int], sqlite.execute(
            "SELECT wr FROM pragma_table_list WHERE name = ? AND schema = 'main'", (name,)
        ).fetchone())[0])
        # One scan: the row count and, per column, which storage classes occur.
        probes = ", ".join(
            f"max(typeof({q(c.name)}) = 'integer'), max(typeof({q(c.name)}) = 'real'), "
            f"max(typeof({q(c.name)}) = 'text'), max(typeof({q(c.name)}) = 'blob')"
            for c in columns
        )
        # Aggregates: always one row; the probes are NULL on an empty table.
        found = cast(tuple[int | None, ...], sqlite.execute(f"SELECT count(*), {probes} FROM {q(name)}").fetchone())
        for index, column in enumerate(columns):
            flags = found[1 + 4 * index : 5 + 4 * index]
            present = {kind for kind, flag in zip(("integer", "real", "text", "blob"), flags, strict=True) if flag}
            column.pg_type = pg_type_for(column.declared, present)
        indexes: list[tuple[str, bool, list[str]]] = []
        for _, index_name, unique, origin, partial in cast(Iterable[tuple[int, str, int, str, int]], sqlite.execute(
            "SELECT seq, name, \"unique\", origin, partial FROM pragma_index_list(?)", (name,)
        )):
            if origin == "pk":
                continue
            keys = cast(list[tuple[int, str, int]], sqlite.execute(
                "SELECT cid, name, desc FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", (index_name,)
            ).fetchall())
            if partial or any(cid < 0 for cid, _, _ in keys):
                indexes.append((index_name, bool(unique), []))  # expression or partial: listed, not guessed
                continue
            indexes.append((index_name, bool(unique), [q(col) + (" DESC" if desc else "") for _, col, desc in keys]))
        return TablePlan(name, columns, without_rowid, indexes, rows=int(cast(int, found[0])))

    def _already_copied(self, pg: Any, schema: str) -> dict[str, int]:
        pg.execute(
            f"CREATE TABLE IF NOT EXISTS {q(schema)}.{LEDGER}(source text NOT NULL, table_name text NOT NULL, "
            "rows bigint NOT NULL, verified_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, table_name))"
        )
        rows = pg.execute(f"SELECT table_name, rows FROM {q(schema)}.{LEDGER} WHERE source = %s",
                          (str(self.source),)).fetchall()
        return dict(rows)

    # -- copying ----------------------------------------------------------------------------------------

    def _copy_table(self, sqlite: apsw.Connection, pg: Any, schema: str, plan: TablePlan) -> TableResult:
        started = time.perf_counter()
        target = f"{q(schema)}.{q(plan.name)}"
        body = [f"{q(c.name)} {c.pg_type}{' NOT NULL' if c.notnull else ''}" for c in plan.columns]
        key = [c for c in sorted(plan.columns, key=lambda c: c.pk) if c.pk]
        if key:
            body.append(f"PRIMARY KEY ({', '.join(q(c.name) for c in key)})")
        names = ", ".join(q(c.name) for c in plan.columns)
        encoder = RowEncoder([ENCODER_TYPE[c.pg_type] for c in plan.columns], [c.name for c in plan.columns])
        copied = 0
        self._progress(plan.name, 0, plan.rows)
        with pg.transaction():
            if pg.execute("SELECT to_regclass(%s)", (target,)).fetchone()[0] is not None:
                raise PostgresError(
                    f"{plan.name} already exists in schema {schema} and was not copied by a finished migrate "
                    "of this file: drop it, or choose another --schema."
                )
            pg.execute(f"CREATE TABLE {target}({', '.join(body)})")
            cursor = sqlite.execute(f"SELECT {names} FROM {q(plan.name)}")
            with pg.cursor() as pg_cursor, pg_cursor.copy(f"COPY {target}({names}) FROM STDIN {COPY_OPTIONS}") as copy:
                copy.write(HEADER)
                while True:
                    rows = list(islice(cursor, self.batch_rows))
                    if not rows:
                        copy.write(TRAILER)
                        break
                    lines, refused = encoder.lines(rows)
                    if refused:
                        index, reason = next(iter(refused.items()))
                        raise PostgresError(f"{plan.name}: row {copied + index + 1} cannot be copied: {reason}.")
                    copy.write(b"".join(lines))  # type: ignore[arg-type]
                    copied += len(rows)
                    self._progress(plan.name, copied, plan.rows)
                    if self._cancel.is_set():
                        raise MigrateCancelled(
                            f"Cancelled while copying {plan.name} ({copied:,} of {plan.rows:,} rows, rolled back); "
                            "tables already copied are kept and a rerun skips them."
                        )
            for index_name, unique, keys in plan.indexes:
                if keys:
                    pg.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {q(index_name)} ON {target}({', '.join(keys)})")
            counted = pg.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
            if counted != plan.rows or copied != plan.rows:
                raise PostgresError(f"{plan.name}: {plan.rows:,} rows in the source, {counted:,} in PostgreSQL.")
            pg.execute(
                f"INSERT INTO {q(schema)}.{LEDGER}(source, table_name, rows) VALUES (%s, %s, %s) "
                "ON CONFLICT (source, table_name) DO UPDATE SET rows = excluded.rows, verified_at = now()",
                (str(self.source), plan.name, plan.rows),
            )
        return TableResult(plan.name, copied, "copied", round(time.perf_counter() - started, 3),
                           {c.name: c.pg_type for c in plan.columns})

    @staticmethod
    def _indexes_left_out(plans: list[TablePlan]) -> list[dict[str, str]]:
        return [
            {"type": "index", "name": name, "reason": "an expression or partial index: recreate it by hand"}
            for plan in plans for name, _, keys in plan.indexes if not keys
        ]

    def _views_and_triggers(self, sqlite: apsw.Connection, pg: Any, schema: str, tables: set[str],
                            result: MigrateResult) -> list[dict[str, str]]:
        """Views are tried as written (on the target schema's search path); triggers are listed."""
        listed: list[dict[str, str]] = []
        for kind, name, table, sql in sqlite.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger') ORDER BY type, name"
        ):
            if self.only and kind == "trigger" and table not in tables:
                continue
            if kind == "trigger":
                listed.append({"type": "trigger", "name": name,
                               "reason": "PostgreSQL triggers call a function: rewrite it by hand (SQL kept in the source)"})
                continue
            if self.only:
                continue
            exists = pg.execute("SELECT to_regclass(%s)", (f"{q(schema)}.{q(name)}",)).fetchone()[0]
            if exists is not None:
                continue
            try:
                with pg.transaction():
                    pg.execute(f"SET LOCAL search_path TO {q(schema)}")
                    pg.execute(sql)
                result.views.append(name)
            except load_driver().Error as exc:
                reason = clean_message(str(exc), self.url).split(" LINE ")[0]
                listed.append({"type": "view", "name": name, "reason": f"not valid in PostgreSQL: {reason}"})
        return listed

    def _progress(self, table: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(table, done, total)


def migrate(source: Path | str, url: str, **options: Any) -> MigrateResult:
    return Migration(source, url, **options).run()
