"""`sqlite-pulse dead-letters DB …` as a user runs it, on files the real `ingest-file` wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import create_database
from tests.conftest import read_rows
from tests.integration.test_inspect_verbs import assert_clean_failure

MESSAGES = [
    '{"device": "a", "temp": 20}',
    '{"device": "b", "temp": "21.5"}',  # text where the INTEGER column wants a number
    '{"device": "c", "temp": "warm"}',
    "{broken",
]
OLD_DEAD_LETTER_SQL = (
    "CREATE TABLE pulse_dead_letters(id INTEGER PRIMARY KEY, received_at REAL NOT NULL, "
    "target_table TEXT NOT NULL, reason TEXT NOT NULL, raw BLOB NOT NULL) STRICT"
)


def pulse(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(MESSAGES) + "\n")
    path = tmp_path / "ingest.db"
    result = pulse("ingest-file", source, "--db", path, "--columns", "device:TEXT,temp:INTEGER", "--json")
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert (counts["written"], counts["dead_letters"]) == (1, 3)
    return path


def fix_temperature_column(path: Path) -> None:
    connection = apsw.Connection(str(path))
    try:
        with connection:
            connection.execute("ALTER TABLE readings RENAME TO readings_old")
            connection.execute("CREATE TABLE readings(device TEXT, temp ANY) STRICT")
            connection.execute("INSERT INTO readings SELECT device, temp FROM readings_old")
            connection.execute("DROP TABLE readings_old")
    finally:
        connection.close()


def test_list_and_show_in_text_and_json(ingested: Path) -> None:
    result = pulse("dead-letters", ingested, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "RECEIVED", "TABLE", "STATUS", "SIZE", "REASON"] and len(lines) == 4

    result = pulse("dead-letters", ingested, "list", "--reason", "column type", "--json")
    assert result.returncode == 0, result.stderr
    letters = json.loads(result.stdout)["letters"]
    assert len(letters) == 2 and {letter["status"] for letter in letters} == {"open"}
    assert pulse("dead-letters", ingested, "list", "--since", "1h", "--json").returncode == 0
    future = json.loads(pulse("dead-letters", ingested, "list", "--since", "2999-01-01T00:00", "--json").stdout)
    assert future["letters"] == []

    shown = pulse("dead-letters", ingested, "show", letters[0]["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    letter = json.loads(shown.stdout)
    assert json.loads(letter["raw_text"])["device"] in {"b", "c"} and letter["raw_hex"] is None
    text = pulse("dead-letters", ingested, "show", letters[0]["id"])
    assert "Raw (" in text.stdout and '"device"' in text.stdout


def test_replay_after_the_fix_writes_rows_and_marks_letters(ingested: Path) -> None:
    fix_temperature_column(ingested)
    result = pulse("dead-letters", ingested, "replay", "--all-open", "--json")
    assert result.returncode == 1, result.stderr  # the broken JSON stays dead
    report = json.loads(result.stdout)
    assert (report["selected"], report["written"], report["still_dead"]) == (3, 2, 1)
    assert list(report["reasons"]) == ["not valid JSON"]
    assert read_rows(ingested, "SELECT count(*) FROM readings") == [(3,)]
    statuses = dict(read_rows(ingested, "SELECT status, count(*) FROM pulse_dead_letters GROUP BY status"))
    assert statuses == {"open": 1, "replayed": 2}
    # Nothing is replayed twice.
    again = pulse("dead-letters", ingested, "replay", "--reason", "column type")
    assert again.returncode == 0 and "nothing replayed" in again.stdout
    assert read_rows(ingested, "SELECT count(*) FROM readings") == [(3,)]


def test_resolve_then_purge(ingested: Path) -> None:
    result = pulse("dead-letters", ingested, "resolve", "--reason", "json", "--note", "a broken test client")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Resolved 1 letter."
    assert read_rows(ingested, "SELECT note FROM pulse_dead_letters WHERE status = 'resolved'") == [("a broken test client",)]
    dry = pulse("dead-letters", ingested, "purge", "--json")
    assert json.loads(dry.stdout) == {"would_delete": 1, "deleted": 0}
    assert read_rows(ingested, "SELECT count(*) FROM pulse_dead_letters") == [(3,)]
    done = pulse("dead-letters", ingested, "purge", "--yes", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"deleted": 1}
    assert read_rows(ingested, "SELECT count(*) FROM pulse_dead_letters WHERE status = 'open'") == [(2,)]
    older = pulse("dead-letters", ingested, "purge", "--status", "replayed", "--older-than", "7d", "--yes")
    assert older.returncode == 0 and "Deleted 0 replayed letters" in older.stdout


def test_an_old_file_is_read_as_it_is_and_migrated_by_a_write(tmp_path: Path) -> None:
    path = create_database(tmp_path / "old.db").path
    connection = apsw.Connection(str(path))
    with connection:
        connection.execute(OLD_DEAD_LETTER_SQL)
        connection.execute("INSERT INTO pulse_dead_letters VALUES (1, 1e9, 'readings', 'binary message', x'00ff10')")
    connection.close()
    listed = pulse("dead-letters", path, "list", "--status", "open", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [letter["id"] for letter in json.loads(listed.stdout)["letters"]] == [1]
    shown = pulse("dead-letters", path, "show", 1)
    assert "hex dump" in shown.stdout and "00 ff 10" in shown.stdout
    assert [name for (name,) in read_rows(path, "SELECT name FROM pragma_table_info('pulse_dead_letters')")][-1] == "raw"

    resolved = pulse("dead-letters", path, "resolve", "--ids", "1", "--note", "seen")
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stderr.strip() == "sqlite-pulse: added status and note columns to pulse_dead_letters"
    assert read_rows(path, "SELECT id, raw, status, note FROM pulse_dead_letters") == [(1, b"\x00\xff\x10", "resolved", "seen")]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("list",), "no pulse_dead_letters table"),
        (("show", "1"), "no pulse_dead_letters table"),
        (("replay", "--all-open"), "no pulse_dead_letters table"),
    ],
)
def test_a_file_without_dead_letters_exits_2(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    path = create_database(tmp_path / "plain.db").path
    assert_clean_failure(pulse("dead-letters", path, *args), fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("list", "--since", "yesterday"), "not a time"),
        (("show", "99"), "no dead letter with id 99"),
        (("replay",), "Say which letters to replay"),
        (("resolve", "--ids", "1,x", "--note", "n"), "not a list of letter ids"),
        (("resolve", "--ids", "1", "--note", " "), "--note is empty"),
        (("purge", "--older-than", "soon"), "not a duration"),
        (("list", "--limit", "0"), "limit must be between"),
    ],
)
def test_bad_input_exits_2_with_one_line(ingested: Path, args: tuple[str, ...], fragment: str) -> None:
    assert_clean_failure(pulse("dead-letters", ingested, *args), fragment)
