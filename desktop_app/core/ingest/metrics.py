"""`ingest --metrics HOST:PORT`: one run's counters in the Prometheus text format, whatever its sink.

The figures are the run's own (`IngestStats`, the numbers its summary prints), read on each scrape; the
endpoint, build info and `process_*` are `watch --serve`'s (core/prometheus.py). Each family carries the
`table` and the `target` (a file path, or the server URL with its password masked).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from desktop_app.core.ingest.stats import IngestStats
from desktop_app.core.ingest.targets import is_server_target
from desktop_app.core.postgres.url import mask_url
from desktop_app.core.prometheus import PREFIX

LABELS = ["table", "target"]
# (IngestStats field, metric name, help): one row per figure.
COUNTERS = (
    ("received", "ingest_messages_received", "Messages received from the source."),
    ("written", "ingest_rows_written", "Rows committed to the target table."),
    ("dead_letters", "ingest_dead_letters", "Messages committed to the dead-letter table."),
    ("duplicates", "ingest_duplicates", "Messages skipped for a key already in the table (--dedupe-key)."),
    ("unwritten", "ingest_unwritten", "Messages given up on (a fatal database error, a flush deadline)."),
    ("batches", "ingest_batches", "Batches (transactions) committed."),
    ("reconnects", "ingest_source_reconnects", "Connections to the source made again after the first."),
    ("sink_reconnects", "ingest_sink_reconnects", "Connections to the target's server made again after a loss."),
)
GAUGES = (
    ("queue_depth", "ingest_queue_depth", "Messages received and not yet committed."),
    ("queue_bytes", "ingest_queue_bytes", "Bytes of messages received and not yet committed."),
)
# Upper bounds of the batch commit duration histogram, in seconds (a batch commits in about a millisecond).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def target_label(target: Path | str) -> str:
    """How a target is named in labels: never a password."""
    return mask_url(str(target)) if is_server_target(target) else str(target)


class IngestMetrics:
    """A prometheus_client custom collector over one run: `stats` is read at each scrape (any thread);
    `observe_commit` (the writer thread's commit callback) feeds the duration histogram."""

    def __init__(self, stats: Callable[[], IngestStats], *, table: str, target: Path | str) -> None:
        self._stats = stats
        self._labels = [table, target_label(target)]
        self._lock = threading.Lock()
        self._buckets = [0] * (len(DURATION_BUCKETS) + 1)  # the last one: above every bound (+Inf)
        self._duration_sum = 0.0

    def observe_commit(self, rows: int, commit_ms: float) -> None:
        seconds = commit_ms / 1000.0
        with self._lock:
            self._buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
            self._duration_sum += seconds

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        stats = self._stats()
        labels = self._labels
        for field, name, help_text in COUNTERS:
            counter = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=LABELS)
            counter.add_metric(labels, float(getattr(stats, field)))
            yield counter
        for field, name, help_text in GAUGES:
            gauge = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=LABELS)
            gauge.add_metric(labels, float(getattr(stats, field)))
            yield gauge
        paused = GaugeMetricFamily(
            f"{PREFIX}_ingest_paused", "1 while the writer is paused, with the reason in words (a locked or full "
            "database, a lost server connection); 0 with an empty reason otherwise.", labels=[*LABELS, "reason"],
        )
        is_paused = stats.state == "paused"
        paused.add_metric([*labels, (stats.pause_reason or "") if is_paused else ""], 1.0 if is_paused else 0.0)
        yield paused
        with self._lock:
            counts, total = list(self._buckets), self._duration_sum
        histogram = HistogramMetricFamily(
            f"{PREFIX}_ingest_batch_duration_seconds", "How long each batch's transaction took to commit.",
            labels=LABELS,
        )
        cumulative, buckets = 0, []
        for bound, count in zip((*DURATION_BUCKETS, float("inf")), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
        histogram.add_metric(labels, buckets, total)
        yield histogram

    def describe(self) -> list[Any]:
        return []  # dynamic families: skip the registry's describe-time collect
