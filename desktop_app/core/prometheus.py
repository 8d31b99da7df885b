"""`watch DB [DB ...] --serve HOST:PORT`: the sampler's figures in the Prometheus text format.

One `FleetMetrics` holds the latest sample of each database (the watch loop calls `update`); a scrape
renders them through prometheus_client's custom-collector API with a `db` label, so a scrape never
touches a database itself and costs the same however often Prometheus asks.

Ingest counters come from the database itself: an ingest (by any process) records each committed batch
in `pulse_ingest_batches`, so summing the ledger rows added since the last sample gives rows, dead letters
and batches without any channel between the ingest and the watcher.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw

from desktop_app.core.database import connect_read
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE

PREFIX = "sqlite_pulse"
DEFAULT_HOST = "127.0.0.1"
# (metric name, sample key, help). Gauges straight from Sample.to_dict().
GAUGES = (
    ("db_bytes", "db_bytes", "Size of the database file on disk, in bytes."),
    ("data_bytes", "data_bytes", "page_count x page_size: the database's size including pages still in the WAL."),
    ("wal_bytes", "wal_bytes", "Size of the -wal file on disk (reused, not shrunk, by checkpoints)."),
    ("wal_live_frames", "wal_live_frames", "Frames in the current WAL generation (mxFrame)."),
    ("wal_pending_frames", "wal_pending_frames", "Frames a checkpoint has still to copy (mxFrame - nBackfill)."),
    ("freelist_pages", "freelist_count", "Unused pages inside the database file (VACUUM would return them)."),
    ("freelist_percent", "freelist_percent", "Unused pages as a percentage of all pages."),
    ("page_size_bytes", "page_size", "The database page size."),
    ("sample_cost_seconds", "cost_ms", "How long the last sample took."),
    ("last_sample_timestamp_seconds", "taken_at", "When the last sample was taken (Unix time)."),
)


def parse_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' -> (host, port); the host defaults to 127.0.0.1 (loopback only)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        raise PulseError(f"--serve {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9187.") from None
    if not 0 <= number <= 65535:
        raise PulseError(f"--serve {text!r}: the port must be 0-65535.")
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
        row = connection.execute(
            f"SELECT count(*), coalesce(sum(rows), 0), coalesce(sum(dead_letters), 0), max(committed_at), "
            f"max(id) FROM {BATCH_LEDGER_TABLE} WHERE id > ?", (self._last_id,)
        ).fetchone()
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
    """Latest figures per database, rendered on each scrape (prometheus_client custom collector)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: dict[str, dict[str, Any]] = {}
        self._up: dict[str, bool] = {}
        self._changes: dict[str, int] = {}
        self._flag_codes: dict[str, set[str]] = {}
        self._ingest: dict[str, LedgerReader] = {}

    def update(self, db: str, sample: dict[str, Any] | None, ledger: LedgerReader | None = None) -> None:
        """Record one database's latest sample (None: sampling failed, `up` goes to 0)."""
        with self._lock:
            self._up[db] = sample is not None
            self._changes.setdefault(db, 0)
            self._flag_codes.setdefault(db, set())
            if sample is None:
                return
            self._samples[db] = sample
            if sample.get("external_write"):
                self._changes[db] += 1
            self._flag_codes[db].update(flag["code"] for flag in sample.get("red_flags", ()))
            if ledger is not None:
                self._ingest[db] = ledger

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            samples = dict(self._samples)
            up, changes = dict(self._up), dict(self._changes)
            flags = {db: set(codes) for db, codes in self._flag_codes.items()}
            ingest = {db: (r.rows, r.dead_letters, r.batches, r.last_commit) for db, r in self._ingest.items()}
        family = GaugeMetricFamily(f"{PREFIX}_up", "1 when the last sample of the database succeeded.", labels=["db"])
        for db, value in up.items():
            family.add_metric([db], 1.0 if value else 0.0)
        yield family
        for name, key, help_text in GAUGES:
            family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=["db"])
            for db, sample in samples.items():
                value = sample.get(key)
                if value is not None:
                    family.add_metric([db], float(value) / 1000.0 if key == "cost_ms" else float(value))
            yield family
        family = GaugeMetricFamily(f"{PREFIX}_wal_mode", "1 when the database is in WAL journal mode.", labels=["db"])
        for db, sample in samples.items():
            family.add_metric([db], 1.0 if sample.get("journal_mode") == "wal" else 0.0)
        yield family
        counter = CounterMetricFamily(
            f"{PREFIX}_data_version_changes", "Samples in which another connection had committed (PRAGMA data_version moved).",
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
            active = {flag["code"] for flag in samples.get(db, {}).get("red_flags", ())}
            for code in sorted(codes):
                family.add_metric([db, code], 1.0 if code in active else 0.0)
        yield family
        names = (("ingest_rows", "Rows committed by ingests (from the ingest ledger)."),
                 ("ingest_dead_letters", "Messages committed to the dead-letter table by ingests."),
                 ("ingest_batches", "Batches (transactions) committed by ingests."))
        for position, (name, help_text) in enumerate(names):
            counter = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=["db"])
            for db, values in ingest.items():
                counter.add_metric([db], float(values[position]))
            yield counter
        family = GaugeMetricFamily(f"{PREFIX}_ingest_last_commit_timestamp_seconds",
                                   "When the last ingest batch committed (Unix time).", labels=["db"])
        for db, values in ingest.items():
            if values[3] is not None:
                family.add_metric([db], float(values[3]))
        yield family

    def describe(self) -> list[Any]:
        return []  # dynamic families: skip the registry's describe-time collect


def serve(metrics: FleetMetrics, host: str, port: int) -> tuple[Any, int]:
    """Start the HTTP endpoint on a daemon thread: (server, the bound port). Port 0 picks a free one."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise PulseError(f"Cannot serve metrics on {host}:{port}: {exc.strerror or exc}.") from None
    return server, server.server_address[1]
