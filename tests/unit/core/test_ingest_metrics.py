"""The ingest's Prometheus families (core/ingest/metrics.py), rendered by prometheus_client and parsed back,
and the all-dead-letters warning that `ingest` and the Ingest panel share."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import apsw
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from desktop_app.core.ingest import IngestConfig, ingest_file
from desktop_app.core.ingest.metrics import IngestMetrics
from desktop_app.core.ingest.stats import IngestStats
from desktop_app.core.prometheus import registry_for
from tests.scenarios import rows


def scraped(metrics: IngestMetrics) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry_for(metrics)).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_each_figure_is_the_runs_with_table_and_target_labels_and_no_password() -> None:
    stats = replace(IngestStats.initial("paused"), received=10, written=7, dead_letters=2, queue_depth=1, batches=3,
                    sink_reconnects=2, pause_reason="server connection lost, reconnecting (attempt 2): refused.")
    metrics = IngestMetrics(lambda: stats, table="readings", target="postgresql://me:s3cret@db.example/app")
    for milliseconds in (0.5, 3.0, 20_000.0):
        metrics.observe_commit(100, milliseconds)
    values = scraped(metrics)
    label = (("table", "readings"), ("target", "postgresql://me:***@db.example/app"))
    assert values[("sqlite_pulse_ingest_messages_received_total", label)] == 10
    assert values[("sqlite_pulse_ingest_rows_written_total", label)] == 7
    assert values[("sqlite_pulse_ingest_dead_letters_total", label)] == 2
    assert values[("sqlite_pulse_ingest_batches_total", label)] == 3
    assert values[("sqlite_pulse_ingest_sink_reconnects_total", label)] == 2
    assert values[("sqlite_pulse_ingest_queue_depth", label)] == 1
    assert values[("sqlite_pulse_ingest_paused", (("reason", stats.pause_reason), *label))] == 1
    for bound, count in (("0.001", 1), ("0.005", 2), ("10.0", 2), ("+Inf", 3)):
        assert values[("sqlite_pulse_ingest_batch_duration_seconds_bucket", (("le", bound), *label))] == count
    assert values[("sqlite_pulse_ingest_batch_duration_seconds_count", label)] == 3
    assert abs(values[("sqlite_pulse_ingest_batch_duration_seconds_sum", label)] - 20.0035) < 1e-9
    assert not any("s3cret" in str(key) for key in values)
    running = replace(stats, state="connected", pause_reason=None)
    values = scraped(IngestMetrics(lambda: running, table="readings", target=Path("a.db")))
    assert values[("sqlite_pulse_ingest_paused", (("reason", ""), ("table", "readings"), ("target", "a.db")))] == 0


def test_a_run_whose_every_message_is_a_dead_letter_says_so_and_one_row_ends_it(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    connection = apsw.Connection(str(db))
    connection.execute("CREATE TABLE readings(a INTEGER, b TEXT)")
    connection.close()
    stream = tmp_path / "s.ndjson"
    stream.write_text('{"device_id": "d1", "seq": 1}\n{"device_id": "d2", "seq": 2}\n')
    stats = ingest_file(stream, IngestConfig(url="", db_path=db))
    warning = stats.all_dead_letters_warning()
    assert warning == (
        "every message so far went to dead letters (2): the messages' keys do not fit the table's columns "
        "(field has no column in the table: 'device_id') — see the dead letters (pulse_dead_letters) for each "
        "one's reason."
    )
    assert IngestStats.from_dict(stats.to_dict()).all_dead_letters_warning() == warning  # the worker's JSON
    assert rows(db, "SELECT count(*) FROM pulse_dead_letters") == [(2,)]
    assert replace(stats, written=1).all_dead_letters_warning() is None
    assert replace(stats, batches=0).all_dead_letters_warning() is None  # nothing committed yet: no verdict
    other = replace(stats, last_dead_letter_reason="not valid JSON: unexpected character")
    assert "(2): the latest: not valid JSON" in (other.all_dead_letters_warning() or "")
