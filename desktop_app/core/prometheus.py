"""`watch DB [DB ...] --serve HOST:PORT`: the sampler's figures in the Prometheus text format. The endpoint
(`serve`) also carries `ingest --metrics`, a run's own counters (core/ingest/metrics.py).

One `FleetMetrics` holds the latest sample of each database (the watch loop calls `update`); a scrape
renders them through prometheus_client's custom-collector API with a `db` label, so a scrape never
touches a database itself and costs the same however often Prometheus asks.

Ingest counters come from the database itself: an ingest (by any process) records each committed batch
in `pulse_ingest_batches`, so summing the ledger rows added since the last sample gives rows, dead letters
and batches without any channel between the ingest and the watcher.

The endpoint may face anyone who can reach it: a request must arrive whole within REQUEST_SECONDS, at most
MAX_CONNECTIONS are served at once (the oldest still sending its request makes way for a new one), and no client
behaviour ends the accept loop.
"""

from __future__ import annotations

import contextlib
import io
import platform
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import apsw

from desktop_app.core import series as series_table
from desktop_app.core.database import connect_read
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE
from desktop_app.core.metrics import Sample
from desktop_app.core.series import Observation, Series

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from desktop_app.core.alerts import AlertState
    from desktop_app.core.query_series import QueryValue

PREFIX = "sqlite_pulse"
DEFAULT_HOST = "127.0.0.1"


def parse_listen(text: str, option: str = "--serve") -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' -> (host, port); the host defaults to 127.0.0.1 (loopback only)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        raise PulseError(f"{option} {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9187.") from None
    if not 0 <= number <= 65535:
        raise PulseError(f"{option} {text!r}: the port must be 0-65535.")
    return host, number


class LedgerReader:
    """Ingest counters of one database from its ingest ledger, read incrementally (by id) when it exists."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = self.dead_letters = self.batches = 0
        self.last_commit: float | None = None
        self._last_id = 0
        self._connection: apsw.Connection | None = None

    def read(self) -> bool:
        """Add the batches committed since the last read; False when the database has no ingest ledger."""
        if self._connection is None:
            self._connection = connect_read(self.path, busy_timeout_ms=200)
        connection = self._connection
        if not connection.execute(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (BATCH_LEDGER_TABLE,)
        ).fetchall():
            return False
        row = cast(tuple[int, int, int, float | None, int], connection.execute(
            f"SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(dead_letters), 0), max(committed_at), "
            f"max(id) FROM {BATCH_LEDGER_TABLE} WHERE id > ?", (self._last_id,)
        ).fetchone())  # aggregates: always one row
        batches, rows, dead, last_commit, last_id = row
        if batches:
            self.batches += batches
            self.rows += rows
            self.dead_letters += dead
            self.last_commit = last_commit
            self._last_id = last_id
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class FleetMetrics:
    """Latest figures per database, rendered on each scrape (prometheus_client custom collector).

    The per-sample families are the series table's rows that declare a metric (core/series.py); the rest
    (up, WAL mode, changes seen, red flags, ingest counters) are state across samples and stay here.
    """

    def __init__(self, series: Sequence[Series] | None = None) -> None:
        table = series_table.BUILTIN if series is None else series_table.check(series)
        self._metrics = [(row, row.metric) for row in table if row.metric is not None]
        self._lock = threading.Lock()
        self._samples: dict[str, Sample] = {}
        self._up: dict[str, bool] = {}
        self._changes: dict[str, int] = {}
        self._flag_codes: dict[str, set[str]] = {}
        self._ingest: dict[str, LedgerReader] = {}
        self._queries: dict[str, dict[str, QueryValue]] = {}  # per database: each query series' latest run
        self._alerts: dict[str, list[AlertState]] = {}

    def update(self, db: str, sample: Sample | None, ledger: LedgerReader | None = None) -> None:
        """Record one database's latest sample (None: sampling failed, `up` goes to 0)."""
        with self._lock:
            self._up[db] = sample is not None
            self._changes.setdefault(db, 0)
            self._flag_codes.setdefault(db, set())
            if sample is None:  # no figures while down: the last ones would be stale
                self._samples.pop(db, None)
                return
            self._samples[db] = sample
            if sample.external_write:
                self._changes[db] += 1
            self._flag_codes[db].update(flag.code for flag in sample.red_flags)
            if ledger is not None:
                self._ingest[db] = ledger

    def forget(self, db: str) -> None:
        """The database's file is gone or was replaced: `up` 0 and nothing else, so a file reopened at the
        path starts afresh (its counters from 0, as after a restart)."""
        with self._lock:
            self._up[db] = False
            for state in (self._samples, self._changes, self._flag_codes, self._ingest, self._queries, self._alerts):
                state.pop(db, None)

    def update_queries(self, db: str, values: Mapping[str, QueryValue], alerts: Sequence[AlertState]) -> None:
        """Record one database's latest query runs and the state of each of its alert rules."""
        with self._lock:
            self._queries[db] = dict(values)
            self._alerts[db] = list(alerts)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            queries = {db: dict(values) for db, values in self._queries.items()}
            alerts = {db: list(states) for db, states in self._alerts.items()}
            samples = dict(self._samples)
            up, changes = dict(self._up), dict(self._changes)
            flags = {db: set(codes) for db, codes in self._flag_codes.items()}
            ingest = {db: (r.rows, r.dead_letters, r.batches, r.last_commit) for db, r in self._ingest.items()}
        family = GaugeMetricFamily(f"{PREFIX}_up", "1 when the last sample of the database succeeded.", labels=["db"])
        for db, value in up.items():
            family.add_metric([db], 1.0 if value else 0.0)
        yield family
        observations = {db: Observation(sample) for db, sample in samples.items()}
        for row, metric in self._metrics:
            kind = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
            per_sample = kind(f"{PREFIX}_{metric.name}", metric.help, labels=["db"])
            for db, observation in observations.items():
                value = row.read(observation)
                if value is not None:
                    per_sample.add_metric([db], float(value) / metric.scale)
            yield per_sample
        family = GaugeMetricFamily(f"{PREFIX}_wal_mode", "1 when the database is in WAL journal mode.", labels=["db"])
        for db, sample in samples.items():
            family.add_metric([db], 1.0 if sample.journal_mode == "wal" else 0.0)
        yield family
        family = GaugeMetricFamily(f"{PREFIX}_journal_mode_info", "The database's journal mode, as a label (always 1).",
                                   labels=["db", "mode"])
        for db, sample in samples.items():
            family.add_metric([db, sample.journal_mode], 1.0)
        yield family
        counter = CounterMetricFamily(
            f"{PREFIX}_data_version_changes",
            "Samples that saw another connection's commit (PRAGMA data_version moved since the previous sample); "
            "not commits: any number of commits between two samples counts once.",
            labels=["db"],
        )
        for db, count in changes.items():
            counter.add_metric([db], float(count))
        yield counter
        family = GaugeMetricFamily(
            f"{PREFIX}_red_flag", "1 while a red flag is raised (every code seen since start stays, at 0 once cleared).",
            labels=["db", "code"],
        )
        for db, codes in flags.items():
            active = {flag.code for flag in samples[db].red_flags} if db in samples else set()
            for code in sorted(codes):
                family.add_metric([db, code], 1.0 if code in active else 0.0)
        yield family
        names = (("ingest_rows", "Rows committed by ingests (from the ingest ledger)."),
                 ("ingest_dead_letters", "Messages committed to the dead-letter table by ingests."),
                 ("ingest_batches", "Batches (transactions) committed by ingests."))
        for position, (name, help_text) in enumerate(names):
            counter = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=["db"])
            for db, values in ingest.items():
                counter.add_metric([db], float(values[:3][position]))  # the three counts
            yield counter
        family = GaugeMetricFamily(f"{PREFIX}_ingest_last_commit_timestamp_seconds",
                                   "When the last ingest batch committed (Unix time).", labels=["db"])
        for db, values in ingest.items():
            if values[3] is not None:
                family.add_metric([db], float(values[3]))
        yield family
        if queries or alerts:
            yield from _query_families(queries, alerts)

    def describe(self) -> list[Any]:
        return []  # dynamic families: skip the registry's describe-time collect


def _query_families(queries: Mapping[str, Mapping[str, QueryValue]], alerts: Mapping[str, Sequence[AlertState]]) -> Iterator[Any]:
    """The user's query series and alert rules (`watch --query/--alert`), per database."""
    from prometheus_client.core import GaugeMetricFamily

    value_name, cost_name, alert_name = f"{PREFIX}_query_value", f"{PREFIX}_query_duration_seconds", f"{PREFIX}_alert"
    # A labelled series gives its total and one sample per label (with a `label` label): one family, two label
    # sets, which the text format allows. A run without a value is left out, not shown as 0.
    values = GaugeMetricFamily(value_name, "The latest value of a query series (a labelled series: its total, "
                               "and each label's number with a `label` label).")
    costs = GaugeMetricFamily(cost_name, "How long the latest run of a query series took.", labels=["db", "query"])
    for db, runs in queries.items():
        for name, run in runs.items():
            costs.add_metric([db, name], run.cost_ms / 1000.0)
            if run.value is None:
                continue
            values.add_sample(value_name, {"db": db, "query": name}, run.value)
            for label, number in (run.labels or {}).items():
                values.add_sample(value_name, {"db": db, "query": name, "label": label}, number)
    yield values
    yield costs
    family = GaugeMetricFamily(alert_name, "1 while an alert rule on a query series fires, else 0.", labels=["db", "rule"])
    for db, states in alerts.items():
        for state in states:
            family.add_metric([db, state.rule.text], 1.0 if state.firing else 0.0)
    yield family


class BuildInfo:
    """`sqlite_pulse_build_info{version, sqlite, python} 1`: what is running, for joins and dashboards."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from desktop_app import __version__

        family = GaugeMetricFamily(f"{PREFIX}_build_info", "SQLite Pulse's version, its SQLite library and Python "
                                   "(always 1).", labels=["version", "sqlite", "python"])
        family.add_metric([__version__, apsw.sqlite_lib_version(), platform.python_version()], 1.0)
        yield family

    def describe(self) -> list[Any]:
        return []


def registry_for(metrics: Collector) -> Any:
    """The endpoint's registry: the figures (a fleet's, or an ingest's: core/ingest/metrics.py), the build
    info and the process's own (`process_*`)."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    registry.register(BuildInfo())
    ProcessCollector(registry=registry)
    return registry


def serve(metrics: Collector, host: str, port: int) -> tuple[Any, int]:
    """Start the HTTP endpoint on a daemon thread: (server, the bound port). Port 0 picks a free one."""
    from prometheus_client import make_wsgi_app

    registry = registry_for(metrics)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        server_class = type("MetricsServer", (_MetricsServer,), {"address_family": family})
        server = server_class((host, port), _RequestHandler)
    except OSError as exc:
        raise PulseError(f"Cannot serve metrics on {host}:{port}: {exc.strerror or exc}.") from None
    server.set_app(make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server, server.server_address[1]


# Hostile or broken clients must not stop the endpoint, nor hold a thread each without bound.
MAX_CONNECTIONS = 32  # connections (threads) served at once
REQUEST_SECONDS = 5.0  # the whole request must arrive within this, however slowly it trickles
SEND_SECONDS = 5.0  # each send of the answer (a client that never reads is dropped)


class _RequestReader(io.RawIOBase):
    """The socket read against one deadline for the whole request.

    A per-read timeout alone would let a client sending a byte every few seconds keep its connection for ever.
    """

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._deadline = time.monotonic() + REQUEST_SECONDS

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._connection.settimeout(left)
        count = self._connection.recv_into(buffer)
        if not count:  # a GET's head ends with a blank line, so EOF before it means the client gave up
            raise ConnectionAbortedError("the client closed before finishing its request")
        return count


class _MetricsServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, at most MAX_CONNECTIONS of them.

    When all are taken, the connection that has been sending its request the longest is dropped to make
    room: clients that dawdle cannot crowd out a scrape, which sends its request at once.
    """

    daemon_threads = True
    request_queue_size = 128  # the kernel's accept backlog absorbs a burst; beyond it SYNs are dropped (clients retry)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._lock = threading.Lock()
        self._incomplete: dict[socket.socket, None] = {}  # still sending their request, oldest first
        super().__init__(*args, **kwargs)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                oldest = next(iter(self._incomplete), None)
                if oldest is None:  # every connection is being answered: refuse this one at once
                    return False
                del self._incomplete[oldest]
                # Under the lock, so its thread cannot have closed it: its read fails and the thread ends.
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)
            if not self._slots.acquire(timeout=1.0):
                return False
        with self._lock:
            self._incomplete[request] = None
        return True

    def request_complete(self, request: socket.socket) -> None:
        with self._lock:
            self._incomplete.pop(request, None)

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except RuntimeError:
            # No thread to be had (the process's thread limit): drop this connection and keep accepting.
            # Left to socketserver, the traceback it prints fails too once stderr is gone and that ends
            # the accept loop: the endpoint went dead for good under a burst of half-sent requests.
            self.request_complete(request)
            self.shutdown_request(request)
            self._slots.release()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.request_complete(request)  # before the close, so eviction never shuts a closed socket
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that is slow, silent or gone is simply closed; anything else is a bug and is shown.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _RequestHandler(WSGIRequestHandler):
    """prometheus_client's WSGI app behind a request deadline; one request per connection (HTTP/1.0)."""

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own file, replaced by the deadline reader
        self.rfile = io.BufferedReader(_RequestReader(self.connection))

    def parse_request(self) -> bool:
        complete = super().parse_request()
        self.server.request_complete(self.connection)  # type: ignore[attr-defined]
        self.connection.settimeout(SEND_SECONDS)
        return complete

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""
