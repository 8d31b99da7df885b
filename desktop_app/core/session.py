"""THE open database: one object owns every connection, thread and job the app has on one file.

A `Session` owns the read connections (browse worker, schema watcher), the metrics sampler, the jobs
(core/worker.py: console queries, export, maintenance, copy to PostgreSQL) with their cancellation, and
exactly one write connection, and publishes what happens as plain events
(`session.events.sample.connect(cb)`). It is Qt-free and lives on an asyncio loop: the window runs it on
qasync's loop, a headless `watch` could run it on a plain one. Work that touches the file runs on the
session's worker threads and is awaited (`await session.checkpoint("passive")`); results and events reach
the loop thread only, through `loop.call_soon_threadsafe` (via `run_in_executor` / `wrap_future`).

Sampling is a task on the loop that awaits one sample at a time on the sampler's own thread, then sleeps
`interval`: no free-running thread, no timer polling, and no sample piles up behind a slow one.

Every job is a `worker.Job` on a thread the session owns: console reads on the console thread, every write
(console writes, the grid's edits, checkpoint, VACUUM, optimize) on the one write thread and its one
connection, long reads (export, backup, checks, copies) each on a thread of their own.

Closing cancels every job (interrupting its statement), waits for the threads, closes the query
and browse connections, and closes the sampler LAST: it keeps a descriptor on the -shm, and on POSIX closing
any descriptor of a file drops every lock this process holds on it, SQLite's included.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import apsw

from desktop_app.core import maintenance
from desktop_app.core.activity import Activity, ActivityMeter
from desktop_app.core.alerts import Alerts, AlertState, Rule, parse_rule
from desktop_app.core.browse import BrowseWorker
from desktop_app.core.database import (
    Database,
    connect_read,
    connect_write,
    create_database,
    limit_value_size,
    open_database,
    pragma_int,
)
from desktop_app.core.errors import DatabaseReadOnly, PulseError, translate
from desktop_app.core.events import Event, Events
from desktop_app.core.growth import GrowthTracker, TableGrowth
from desktop_app.core.metrics import MetricsSampler, Sample
from desktop_app.core.query import (
    PlanNode,
    QueryResult,
    ResultPage,
    SchemaObject,
    estimate_row_count,
    explain,
    explain_plan,
    list_schema,
    require_writable,
    run_script,
)
from desktop_app.core.query_series import QueryRunner, QuerySeries, QueryValue, check_sql
from desktop_app.core.undo import UndoHistory
from desktop_app.core.worker import Job, Worker

if TYPE_CHECKING:
    from desktop_app.core.audit import AuditReport, Finding
    from desktop_app.core.export import ExportResult
    from desktop_app.core.foreign_keys import ForeignKeyReport
    from desktop_app.core.importer import ImportOptions, ImportProgress, ImportResult
    from desktop_app.core.importer import Plan as ImportPlan
    from desktop_app.core.importer import Preview as ImportPreview
    from desktop_app.core.postgres.migrate import MigrateResult
    from desktop_app.core.space import SpaceReport
    from desktop_app.core.sql_script import ScriptProgress, ScriptResult

T = TypeVar("T")
DEFAULT_INTERVAL = 0.25
BACKGROUND_NICENESS = 10
# Maintenance that writes the file: the sampler is told, so the app's own work never raises a flag.
WRITE_JOBS = frozenset({"checkpoint", "vacuum", "optimize"})


def lower_thread_priority(niceness: int = BACKGROUND_NICENESS) -> None:
    """Make the calling thread yield the CPU to the GUI thread (Linux schedules threads individually).

    A quick check or a backup of a big file keeps a core busy for seconds; on a loaded two-core machine the
    window's event loop then waits for a core. Elsewhere this does nothing."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError as exc:  # a sandbox may forbid it: the job still runs, at normal priority
            print(f"sqlite-pulse: could not lower a worker thread's priority: {exc}", file=sys.stderr)


class SessionEvents(Events):
    """What a session publishes, on its loop thread."""

    def __init__(self) -> None:
        self.opened: Event[Session] = Event("opened")
        self.closed: Event[Session] = Event("closed")
        self.sample: Event[Sample, Activity] = Event("sample")
        self.sampler_error: Event[PulseError] = Event("sampler_error")  # once per distinct problem
        self.schema_changed: Event[list[SchemaObject]] = Event("schema_changed")
        # data_version moved: another connection committed
        self.data_changed: Event[Sample] = Event("data_changed")
        self.job_started: Event[Job[Any]] = Event("job_started")
        self.job_progress: Event[Job[Any], int, int] = Event("job_progress")  # (job, done, total)
        self.job_done: Event[Job[Any], Any] = Event("job_done")  # (job, result)
        self.job_failed: Event[Job[Any], PulseError] = Event("job_failed")
        # The user's query series: the values of the runs of one pass (after its `sample`), and the alerts
        # whose state changed (fired or cleared).
        self.queries: Event[list[QueryValue]] = Event("queries")
        self.alerts: Event[list[AlertState]] = Event("alerts")


@dataclass(frozen=True)
class Tick:
    """What one pass of the sampler thread found."""

    sample: Sample
    activity: Activity
    schema: list[SchemaObject] | None  # set when the schema changed (or on the first pass)
    queries: list[QueryValue]  # the query series that were due
    growth: dict[str, TableGrowth] | None = None  # set when the per-table probe ran


class Session:
    """One open database. Create with `await Session.open(path)`; end with `await session.close()`."""

    def __init__(self, *, interval: float = DEFAULT_INTERVAL) -> None:
        self.interval = interval
        self.events = SessionEvents()
        self.database: Database | None = None
        self.schema: list[SchemaObject] = []
        self.last_sample: Sample | None = None
        self.last_activity: Activity | None = None
        self.query_values: dict[str, QueryValue] = {}  # the latest run of each query series
        self.table_growth: dict[str, TableGrowth] = {}  # estimated rows and inserts/min per rowid table
        self.alerts = Alerts()
        # The grid's edits and the Structure menu's changes, one history (core/undo.py), emptied on close
        self.undo_history = UndoHistory(self.write, self.refresh_schema)
        self._queries_runner = QueryRunner()  # runs on the sampler thread, on its read connection
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sampler_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pulse-sampler")
        self._browse: BrowseWorker | None = None
        self._counter: BrowseWorker | None = None  # exact counts: a full pass must not hold up paging
        self._jobs: set[Job] = set()  # maintenance jobs (announced through the job_* events)
        self._queries: set[Job] = set()  # the console's, for cancel_query()
        # Workers, each started on first use. The console's read connection and the one write connection
        # are created, used and closed on their worker's thread only.
        self._console: Worker | None = None
        self._console_connection: apsw.Connection | None = None
        self._writer: Worker | None = None
        self._write_connection: apsw.Connection | None = None
        self._one_offs: set[Worker] = set()  # a thread per long read job, ended with it
        self._sampling: asyncio.Task | None = None
        self._last_sampler_error = ""
        self._closing = False
        self._announced = False  # `closed` emitted (once, by whichever close path gets there first)
        self._teardown_lock = threading.Lock()
        self._teardown_thread: threading.Thread | None = None
        self._torn_down = threading.Event()
        # Owned by the sampler thread: created, used and closed there only (the sampler's own-change
        # notes are the exception: thread-safe by design, jobs call them from their own threads).
        self._sampler: MetricsSampler | None = None
        self._meta: apsw.Connection | None = None
        self._meter = ActivityMeter()
        self._growth = GrowthTracker()
        self._schema_version: int | None = None
        self._schema_stale = threading.Event()
        self._own_writes = threading.Event()

    # Lifecycle --------------------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls, path: Path | str, *, read_only: bool = True, interval: float = DEFAULT_INTERVAL, create: bool = False
    ) -> Session:
        """Validate and open `path` (or create it with production settings), take the first sample, start
        sampling. Raises a typed PulseError; nothing is left open when it does."""
        session = cls(interval=interval)
        try:
            await session._start(Path(path), read_only=read_only, create=create)
        except BaseException:
            await session.close()
            raise
        return session

    async def _start(self, path: Path, *, read_only: bool, create: bool) -> None:
        self._loop = asyncio.get_running_loop()
        if create:
            database = await self._loop.run_in_executor(self._sampler_pool, create_database, path)
        else:
            database = await self._loop.run_in_executor(self._sampler_pool, lambda: open_database(path, read_only=read_only))
        self.database = database
        self._browse = BrowseWorker(database)
        self._counter = BrowseWorker(database, name="pulse-count")
        tick = await self._loop.run_in_executor(self._sampler_pool, self._sample_once)
        self._publish(tick)
        self._sampling = self._loop.create_task(self._sample_forever(), name=f"pulse-sampling:{path.name}")
        self.events.opened.emit(self)

    @property
    def path(self) -> Path:
        assert self.database is not None
        return self.database.path

    @property
    def read_only(self) -> bool:
        return self.database is None or self.database.read_only

    @property
    def closed(self) -> bool:
        return self._closing

    async def close(self) -> None:
        """Stop everything; the heavy part (joining threads, waiting for a running VACUUM) runs off the loop.
        Emits `closed` once everything is shut, then drops every subscriber."""
        if self._closing:
            await self._wait_torn_down()
            return
        self._closing = True
        await self._stop_sampling()
        self._ask_everything_to_stop()
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def teardown() -> None:
            try:
                self._teardown()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop may be gone at exit
                    loop.call_soon_threadsafe(_settle, done)

        with self._teardown_lock:
            self._teardown_thread = threading.Thread(target=teardown, name="pulse-close")
            self._teardown_thread.start()
        await done
        self._teardown_thread.join()  # it has only its return left: nothing of the session outlives close()
        self._announce_closed()

    def close_now(self) -> None:
        """Blocking close, for shutdown paths that cannot await (the window's closeEvent)."""
        if not self._closing:
            self._closing = True
            if self._sampling is not None:
                self._sampling.cancel()
            self._ask_everything_to_stop()
        with self._teardown_lock:
            thread = self._teardown_thread
        if thread is not None:
            thread.join()
        else:
            self._teardown()
        self._announce_closed()

    async def _wait_torn_down(self) -> None:
        while not self._torn_down.is_set():
            await asyncio.sleep(0.02)

    async def _stop_sampling(self) -> None:
        task = self._sampling
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _workers(self) -> list[Worker]:
        return [w for w in (self._console, *self._one_offs.copy(), self._writer) if w is not None]

    def _ask_everything_to_stop(self) -> None:
        for job_worker in self._workers():
            job_worker.cancel_all()
            job_worker.stop()
        for worker in (self._browse, self._counter):
            if worker is not None:
                worker.interrupt()

    def _teardown(self) -> None:
        """Blocking, once: queries, browsing, jobs, then the sampler (its -shm descriptor) LAST."""
        with self._teardown_lock:
            if self._torn_down.is_set():
                return
            if self._console is not None:
                self._console.close()
            for worker in (self._browse, self._counter):
                if worker is not None:
                    worker.close()
            for job_worker in (*self._one_offs.copy(), self._writer):  # the writer after the reads it may wait on
                if job_worker is not None:
                    job_worker.close()
            self._sampler_pool.submit(self._close_sampler_side)
            self._sampler_pool.shutdown(wait=True, cancel_futures=False)
            self._torn_down.set()

    def _announce_closed(self) -> None:
        if self._announced:
            return
        self._announced = True
        self.undo_history.clear()
        self.events.closed.emit(self)
        self.events.disconnect_all()

    # Sampling (the loop side) -----------------------------------------------------------------------------
    async def _sample_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                tick = await loop.run_in_executor(self._sampler_pool, self._sample_once)
            except PulseError as exc:
                if str(exc) != self._last_sampler_error:  # report a persisting problem once, keep trying
                    self._last_sampler_error = str(exc)
                    self.events.sampler_error.emit(exc)
                continue
            self._last_sampler_error = ""
            self._publish(tick)

    def _publish(self, tick: Tick) -> None:
        self.last_sample, self.last_activity = tick.sample, tick.activity
        if tick.growth is not None:
            self.table_growth = tick.growth
        names = {series.name for series in self.query_series}
        for value in tick.queries:
            if value.name in names:  # a run that raced a removal is dropped
                self.query_values[value.name] = value
        if tick.schema is not None and tick.schema != self.schema:
            self.schema = tick.schema
            self.events.schema_changed.emit(list(tick.schema))
        self.events.sample.emit(tick.sample, tick.activity)
        if tick.sample.external_write:
            self.events.data_changed.emit(tick.sample)
        if tick.queries:
            self.events.queries.emit(list(tick.queries))
            if changed := self.alerts.update(tick.queries):
                self.events.alerts.emit(changed)

    # Query series -------------------------------------------------------------------------------------------
    @property
    def query_series(self) -> tuple[QuerySeries, ...]:
        return self._queries_runner.series

    def set_query_series(self, series: Sequence[QuerySeries], rules: Sequence[Rule] = ()) -> None:
        """Sample these series from the next pass on (each at its own interval), with their own rules and
        `rules` besides. Alerts start afresh; values of series no longer listed are dropped."""
        names = [item.name for item in series]
        if len(set(names)) != len(names):
            raise PulseError("Two query series share a name: each needs its own.")
        own = [parse_rule(item.rule, query=item.name) for item in series if item.rule.strip()]
        self.alerts = Alerts([*own, *rules])
        self.query_values = {name: value for name, value in self.query_values.items() if name in names}
        self._queries_runner.set_series(series)

    async def check_query(self, sql: str) -> int:
        """Raise QueryError unless `sql` can be a series (one read-only statement, one or two columns); return
        its column count. Prepared, not run, on the console's connection."""
        return await self._query(
            self._console_worker().submit("check_query", lambda j: self._on_console(j, lambda _, c: check_sql(c, sql)))
        )

    def note_own_writes(self) -> None:
        """Our ingest writes this database (the sampler's flags take it into account). Any thread."""
        self._own_writes.set()

    async def sample_now(self) -> Sample:
        """Take a sample at once (after a job, say) and publish it like any other."""
        if self._closing:
            raise PulseError("The database was closed.")
        tick = await asyncio.get_running_loop().run_in_executor(self._sampler_pool, self._sample_once)
        self._publish(tick)
        return tick.sample

    # Sampling (the sampler thread) ------------------------------------------------------------------------
    def _sample_once(self) -> Tick:
        assert self.database is not None
        if self._sampler is None:
            self._meta = connect_read(self.database.path, busy_timeout_ms=200)
            self._sampler = MetricsSampler(self.database.path)
        if self._own_writes.is_set():
            self._own_writes.clear()
            self._sampler.note_own_writes()
        sample = self._sampler.sample()
        activity = self._meter.update(sample)
        schema = self._schema_if_changed()
        assert self._meta is not None
        queries = self._queries_runner.run_due(self._meta) if self._queries_runner.series else []
        growth = None
        if self._growth.due():
            self._growth.probe(self._meta, sample.data_bytes or sample.db_bytes)
            growth = dict(self._growth.tables)
        if (flag := self._growth.flag()) is not None:
            sample = dataclasses.replace(sample, red_flags=[*sample.red_flags, flag])
        return Tick(sample, activity, schema, queries, growth)

    def _schema_if_changed(self) -> list[SchemaObject] | None:
        """The schema list when its version moved (one cheap pragma otherwise)."""
        assert self._meta is not None and self.database is not None
        try:
            version = pragma_int(self._meta, "schema_version")
        except apsw.Error as exc:
            raise translate(exc, self.database.path) from exc
        if version == self._schema_version and not self._schema_stale.is_set():
            return None
        self._schema_stale.clear()
        objects = list_schema(self._meta)
        self._schema_version = version
        return objects

    def _close_sampler_side(self) -> None:
        if self._meta is not None:
            self._meta.close()
            self._meta = None
        if self._sampler is not None:
            self._sampler.close()
            self._sampler = None

    # Schema and browsing ----------------------------------------------------------------------------------
    async def refresh_schema(self) -> list[SchemaObject]:
        """Read the schema list now (Refresh, F5); emits `schema_changed` when it differs from the last one."""
        self._schema_stale.set()
        await self.sample_now()
        return list(self.schema)

    def _browser(self) -> BrowseWorker:
        if self._browse is None or self._closing:
            raise PulseError("The database was closed.")
        return self._browse

    async def estimate_rows(self, table: str) -> int | None:
        return await self._browser().call(lambda c: estimate_row_count(c, table))

    async def browse(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run `fn(connection)` on the browse thread (one short statement, please)."""
        return await self._browser().call(fn)

    async def count(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run a long read (an exact count) on its own thread, so paging goes on meanwhile; cancel the
        awaiting task to interrupt it."""
        if self._counter is None or self._closing:
            raise PulseError("The database was closed.")
        return await self._counter.call(fn)

    # Console ----------------------------------------------------------------------------------------------
    async def run_query(
        self, sql: str, *, allow_writes: bool = False, on_page: Callable[[ResultPage], None] | None = None
    ) -> QueryResult:
        """Run `sql`; pages of the last statement's rows go to `on_page` on the loop thread, in order. Reads
        run on the console's read-only connection, writes (`allow_writes`) on the session's one writer."""

        def work(job: Job[QueryResult], connection: apsw.Connection) -> QueryResult:
            return run_script(
                connection, sql, allow_writes=allow_writes, on_page=job.report, cancelled=job.cancel_event.is_set
            )

        if allow_writes:
            if self.database is not None:
                require_writable(self.database)
            job: Job[QueryResult] = self._writer_worker().submit(
                "query", lambda j: self._on_writer(j, work), progress=on_page
            )
        else:
            job = self._console_worker().submit("query", lambda j: self._on_console(j, work), progress=on_page)
        return await self._query(job)

    async def explain_plan(self, sql: str) -> list[PlanNode]:
        return await self._query(
            self._console_worker().submit("explain_plan", lambda j: self._on_console(j, lambda _, c: explain_plan(c, sql)))
        )

    async def explain(self, sql: str) -> ResultPage:
        return await self._query(
            self._console_worker().submit("explain", lambda j: self._on_console(j, lambda _, c: explain(c, sql)))
        )

    async def _query(self, job: Job[T]) -> T:
        """Await a console job; cancelling the awaiting task cancels (interrupts) the job."""
        self._queries.add(job)
        try:
            return await job
        finally:
            self._queries.discard(job)

    def cancel_query(self) -> None:
        """Interrupt the console's running statement and drop what is queued (each ends in QueryInterrupted)."""
        for job in list(self._queries):
            job.cancel()

    def _console_worker(self) -> Worker:
        if self._closing or self.database is None:
            raise PulseError("The database was closed.")
        if self._console is None:
            self._console = Worker("pulse-query", on_stop=self._close_console_connection)
        return self._console

    def _on_console(self, job: Job[T], work: Callable[[Job[T], apsw.Connection], T]) -> T:
        """On the console thread: `work(job, connection)` on its read connection, interruptible by the job."""
        assert self.database is not None
        if self._console_connection is None:
            self._console_connection = self.database.connect_read()
        with job.interrupts(self._console_connection) as connection:
            return work(job, connection)

    def _close_console_connection(self) -> None:
        if self._console_connection is not None:
            self._console_connection.close()
            self._console_connection = None

    # The one write connection ---------------------------------------------------------------------------
    async def write(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run `fn(connection)` on the session's one write connection (opened on first use, on the write
        thread; never a read connection). Its commits are the app's own: the sampler raises no flag for them
        and `data_changed` does not fire, so the caller refreshes what it shows."""
        if self._closing or self.database is None:
            raise PulseError("The database was closed.")
        if self.database.read_only:
            raise DatabaseReadOnly(f"{self.path.name} was opened read-only; reopen it read-write to change it.")
        return await self._writer_worker().submit("write", lambda job: self._on_writer(job, self._own(fn)))

    @property
    def write_connections(self) -> int:
        """How many write connections the session holds now: 0 or 1, never more."""
        return int(self._write_connection is not None)

    def _writer_worker(self) -> Worker:
        if self._closing or self.database is None:
            raise PulseError("The database was closed.")
        if self._writer is None:
            self._writer = Worker("pulse-write", on_stop=self._close_write_connection)
        return self._writer

    def _on_writer(self, job: Job[T], work: Callable[[Job[T], apsw.Connection], T]) -> T:
        """On the write thread: `work(job, connection)` on the one write connection, interruptible by the job."""
        if self._write_connection is None:
            # Opened by path: a checkpoint may run on a session opened read-only (edits check before).
            self._write_connection = connect_write(self.path)
            limit_value_size(self._write_connection)  # it runs the user's SQL too
        with job.interrupts(self._write_connection) as connection:
            return work(job, connection)

    def _own(self, fn: Callable[[apsw.Connection], T]) -> Callable[[Job, apsw.Connection], T]:
        """`fn` as a write job whose commits the sampler counts as the app's own."""

        def work(_job: Job, connection: apsw.Connection) -> T:
            sampler = self._sampler  # made by the first sample, before anything can write
            if sampler is None:
                return fn(connection)
            with sampler.own_changes():
                return fn(connection)

        return work

    def _close_write_connection(self) -> None:
        if self._write_connection is not None:
            self._write_connection.close()
            self._write_connection = None

    # Long reads, each on a thread of its own ---------------------------------------------------------------
    def _one_off(self, name: str, work: Callable[[Job[T]], T], **options: Any) -> Job[T]:
        """Start `work(job)` on a new worker thread that ends with it; closing the session cancels it."""
        if self._closing or self.database is None:
            raise PulseError("The database was closed.")
        worker = Worker(f"pulse-{name}", on_start=lower_thread_priority)
        self._one_offs.add(worker)
        job = worker.submit(name, work, **options)
        worker.stop()  # the thread ends after this one job
        job.future.add_done_callback(lambda _future: self._one_offs.discard(worker))
        return job

    def export(
        self,
        sql: str,
        destination: Path | str,
        *,
        fmt: str,
        bindings: tuple = (),
        progress: Callable[[int], None] | None = None,
    ) -> Job[ExportResult]:
        """Stream every row of `sql` to `destination` on a thread and read connection of its own
        (`await job`); `progress(rows)` runs on the loop thread. `job.cancel()` or closing the session
        stops it, and a cancelled export leaves no file."""
        from desktop_app.core.export import FORMATS, export_to_file  # noqa: PLC0415 (loaded with the first export)

        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")
        database = self.database

        def work(job: Job[ExportResult]) -> ExportResult:
            assert database is not None
            connection = database.connect_read()
            try:
                with job.interrupts(connection):
                    return export_to_file(
                        connection, sql, destination, fmt=fmt, bindings=bindings, progress=job.report, cancel=job.cancel_event
                    )
            finally:
                connection.close()

        return self._one_off("export", work, progress=progress)

    def copy_to_postgres(
        self,
        url: str,
        *,
        schema: str | None = None,
        password: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        convert_dates: bool = False,
    ) -> Job[MigrateResult]:
        """Copy every table into PostgreSQL from one snapshot (core/postgres/migrate.py); `progress(table,
        done, total)` on the loop thread; a cancel rolls back the table being copied."""
        from desktop_app.core.postgres.migrate import Migration  # noqa: PLC0415 (psycopg loads only when asked)

        migration = Migration(self.path, url, schema=schema, password=password, convert_dates=convert_dates)
        return self._one_off("migrate", migration.run_job, progress=progress)

    def analyze_space(self, progress: Callable[[int, int], None] | None = None) -> Job[SpaceReport]:
        """Where the file's bytes go (core/space.py), on a thread and read connection of its own;
        `progress(done, total)` objects on the loop thread. `job.cancel()` or closing the session interrupts it."""
        from desktop_app.core.space import analyze  # noqa: PLC0415 (loaded with the first scan)

        database = self.database

        def work(job: Job[SpaceReport]) -> SpaceReport:
            assert database is not None
            connection = database.connect_read()
            try:
                with job.interrupts(connection):
                    return analyze(connection, progress=job.report, cancelled=job.cancel_event.is_set)
            finally:
                connection.close()

        return self._one_off("space", work, progress=progress)

    def audit(self, progress: Callable[[int, int, str], None] | None = None) -> Job[AuditReport]:
        """The production checklist (core/audit.py) on a thread and read connection of its own;
        `progress(done, total, check)` on the loop thread. `job.cancel()` or closing the session interrupts it.
        One-click fixes are offered only when this session may write."""
        from desktop_app.core.audit import audit  # noqa: PLC0415 (loaded with the first audit)

        database, writable = self.database, not self.read_only

        def work(job: Job[AuditReport]) -> AuditReport:
            assert database is not None
            connection = database.connect_read()
            try:
                with job.interrupts(connection):
                    return audit(
                        connection, database.path, progress=job.report, cancelled=job.cancel_event.is_set,
                        writable=writable,
                    )
            finally:
                connection.close()

        return self._one_off("audit", work, progress=progress)

    async def apply_fix(self, finding: Finding) -> str:
        """Carry out an audit finding's one-click fix on the one writer; returns what was done."""
        from desktop_app.core.audit import apply_fix  # noqa: PLC0415

        return await self.write(lambda connection: apply_fix(connection, finding))

    # Maintenance jobs -------------------------------------------------------------------------------------
    @property
    def jobs(self) -> frozenset[Job]:
        return frozenset(self._jobs)

    def checkpoint(self, mode: str = "passive") -> Job:
        return self._start_job("checkpoint", lambda job, c: maintenance.checkpoint_on(c, mode), on_writer=True)

    def backup(
        self,
        destination: Path | str,
        *,
        progress: Callable[[int, int], None] | None = None,
        overwrite: bool = False,
        cancel: threading.Event | None = None,
    ) -> Job:
        """Online backup to `destination`; `progress(done, total)` runs on the loop thread after each step.
        `job.cancel()` (or setting `cancel`) stops it between steps; the result then says `cancelled`."""
        return self._start_job(
            "backup",
            lambda job: maintenance.backup(
                self.path, destination, progress=job.report, cancel=job.cancel_event, overwrite=overwrite
            ),
            progress=progress,
            cancel=cancel,
        )

    def vacuum(self) -> Job:
        return self._start_job("vacuum", lambda job, c: maintenance.vacuum_on(c), on_writer=True)

    def vacuum_into(self, destination: Path | str) -> Job:
        return self._start_job("vacuum_into", lambda job: maintenance.vacuum_into(self.path, destination))

    def integrity_check(self, *, quick: bool = False) -> Job:
        return self._start_job(
            "integrity_check", lambda job: maintenance.integrity_check(self.path, quick=quick, interrupts=job.interrupts)
        )

    def optimize(self) -> Job:
        return self._start_job("optimize", lambda job, c: maintenance.optimize_on(c), on_writer=True)

    def _start_job(
        self,
        name: str,
        work: Callable[..., Any],
        *,
        on_writer: bool = False,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Job:
        """`work(job, connection)` on the one writer (its commits the app's own), or `work(job)` on a thread
        of its own; progress and the result reach the loop thread, announced through the job_* events."""
        if self._closing or self.database is None:
            raise PulseError("The database was closed.")
        holder: list[Job] = []

        def deliver(done: int, total: int) -> None:
            self.events.job_progress.emit(holder[0], done, total)
            if progress is not None:
                progress(done, total)

        if on_writer:
            write = self._own_job(work) if name in WRITE_JOBS else work
            job: Job[Any] = self._writer_worker().submit(
                name, lambda j: self._on_writer(j, write), progress=deliver, cancel_event=cancel
            )
        else:
            job = self._one_off(name, work, progress=deliver, cancel_event=cancel)
        holder.append(job)
        self._jobs.add(job)
        job.future.add_done_callback(lambda future: self._job_ended(job, future))
        self.events.job_started.emit(job)
        return job

    def _own_job(self, work: Callable[[Job, apsw.Connection], T]) -> Callable[[Job, apsw.Connection], T]:
        def run(job: Job, connection: apsw.Connection) -> T:
            return self._own(lambda c: work(job, c))(job, connection)

        return run

    def _job_ended(self, job: Job, future: asyncio.Future) -> None:
        self._jobs.discard(job)
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            self.events.job_done.emit(job, future.result())
        elif isinstance(error, PulseError):
            self.events.job_failed.emit(job, error)

    # Foreign keys (core/foreign_keys.py): the check, a long read on a thread of its own ------------------
    def foreign_key_check(self, progress: Callable[[int, int], None] | None = None) -> Job[ForeignKeyReport]:
        """`PRAGMA foreign_key_check`, table by table; `progress(done, total)` on the loop thread;
        `job.cancel()` or closing the session interrupts it."""
        from desktop_app.core import foreign_keys  # noqa: PLC0415 (loaded with the first check)

        database = self.database

        def work(job: Job[ForeignKeyReport]) -> ForeignKeyReport:
            assert database is not None
            connection = database.connect_read()
            try:
                with job.interrupts(connection):
                    return foreign_keys.check(connection, progress=job.report, cancelled=job.cancel_event.is_set)
            finally:
                connection.close()

        return self._start_job("foreign_key_check", work, progress=progress)

    # The console's Execute file: a .sql file statement by statement on the one writer ----------------------
    def run_sql_file(
        self, path: Path, *, one_transaction: bool = True, progress: Callable[[ScriptProgress], None] | None = None
    ) -> Job[ScriptResult]:
        """Run the file at `path` (read on the write thread as it runs) on the one write connection;
        `progress(ScriptProgress)` on the loop thread. In one transaction, the first error (ScriptError, naming
        its line) or `job.cancel()` rolls the whole file back; otherwise it runs as written and what it
        committed stays. Refused on a read-only open."""
        from desktop_app.core.sql_files import refuse_database_files  # noqa: PLC0415 (loaded with the first file)
        from desktop_app.core.sql_script import run_script_file  # noqa: PLC0415

        if self.database is not None:
            require_writable(self.database)
        refuse_database_files(path, self.path)  # said at once; run_script_file refuses it too

        def work(job: Job[ScriptResult], connection: apsw.Connection) -> ScriptResult:
            return run_script_file(
                connection, path, one_transaction=one_transaction, progress=job.report, cancelled=job.cancel_event.is_set
            )

        return self._writer_worker().submit(
            "sql_file", lambda job: self._on_writer(job, self._own_job(work)), progress=progress
        )

    # Import (core/importer): a file into a table, in one transaction on the one write connection ---------------
    async def inspect_import(self, path: Path, options: ImportOptions) -> ImportPreview:
        """How `path` would be imported and its first rows (core/importer), read off the loop thread. Never one
        of the open database's own files: Python's open() on those would drop SQLite's locks."""
        from desktop_app.core.importer.plan import IMPORT_OWN_FILE, inspect_file  # noqa: PLC0415 (the first import)
        from desktop_app.core.sql_files import refuse_database_files  # noqa: PLC0415

        def work() -> ImportPreview:
            refuse_database_files(path, self.path, IMPORT_OWN_FILE)
            return inspect_file(path, options)

        return await asyncio.get_running_loop().run_in_executor(None, work)

    def import_file(
        self,
        plan: ImportPlan,
        table: str | None,
        *,
        append: bool = False,
        progress: Callable[[ImportProgress], None] | None = None,
    ) -> Job[ImportResult]:
        """Run `plan` on the write thread (`await job`); `progress` runs on the loop thread; `job.cancel()`
        rolls everything back. Its commit is the app's own: the caller refreshes the schema."""
        from desktop_app.core.importer.plan import IMPORT_OWN_FILE, run_import  # noqa: PLC0415 (the first import)
        from desktop_app.core.sql_files import refuse_database_files  # noqa: PLC0415

        if self._closing or self.database is None:
            raise PulseError("The database was closed.")
        if self.database.read_only:
            raise DatabaseReadOnly(f"{self.path.name} was opened read-only; reopen it read-write to import into it.")
        refuse_database_files(plan.path, self.path, IMPORT_OWN_FILE)  # said at once; run_import refuses it too

        def work(job: Job[ImportResult], connection: apsw.Connection) -> ImportResult:
            return run_import(connection, plan, table, append=append, progress=job.report, cancelled=job.cancel_event.is_set)

        return self._writer_worker().submit("import", lambda j: self._on_writer(j, self._own_job(work)), progress=progress)


def _settle(future: asyncio.Future, result: object = None, error: BaseException | None = None) -> None:
    """Resolve `future` on the loop thread (a late reply to an abandoned request is dropped)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
