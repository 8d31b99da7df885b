"""--dedupe-key: a UNIQUE index on the key, repeats skipped (within a batch and across batches) and counted, the
ledger counting only the rows that went in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.core.ingest import IngestConfig, IngestError, ingest_file
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE
from tests.scenarios import rows


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_repeats_within_and_across_batches_are_written_once_and_counted(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    seqs = [1, 2, 2, 3, 1, 4, 5, 5, 6]
    source = _write(tmp_path / "in.ndjson", [{"seq": seq, "v": index} for index, seq in enumerate(seqs)]
                    + ["not json", {"seq": "seven", "v": 0}])
    config = IngestConfig(url="file://x", db_path=db, dedupe_key="seq")
    stats = ingest_file(source, config)
    assert (stats.received, stats.written, stats.duplicates, stats.dead_letters) == (11, 6, 3, 2)
    assert stats.received == stats.written + stats.duplicates + stats.dead_letters + stats.unwritten
    # The first of each key stays (its v is the first seen); "seven" does not fit the INTEGER column: a dead letter.
    assert rows(db, "SELECT seq, v FROM readings ORDER BY seq") == [
        (1, 0), (2, 1), (3, 3), (4, 5), (5, 6), (6, 8)
    ]
    assert rows(db, f"SELECT sum(rows), sum(dead_letters) FROM {BATCH_LEDGER_TABLE}") == [(6, 2)]
    assert rows(db, f"SELECT count(*) FROM {DEAD_LETTER_TABLE}") == [(2,)]
    again = ingest_file(source, config)  # everything is there already
    assert (again.written, again.duplicates, again.dead_letters) == (0, 9, 2)
    assert rows(db, "SELECT count(*) FROM readings") == [(6,)]


def test_a_table_already_holding_repeats_is_refused_in_words(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    source = _write(tmp_path / "in.ndjson", [{"seq": 1}, {"seq": 1}])
    ingest_file(source, IngestConfig(url="file://x", db_path=db))
    with pytest.raises(Exception, match="already holds repeated seq values"):
        ingest_file(source, IngestConfig(url="file://x", db_path=db, dedupe_key="seq"))


@pytest.mark.parametrize(("key", "options", "message"), [
    ("seq", {"raw": True}, "drop --raw"),
    ("topic+seq", {}, "needs an MQTT source"),
    ("seq+topic", {}, r"topic\+FIELD"),
    ("bad name", {}, "plain name"),
])
def test_bad_dedupe_keys_are_refused(tmp_path: Path, key: str, options: dict, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        IngestConfig(url="file://x", db_path=tmp_path / "t.db", dedupe_key=key, **options).validated()
