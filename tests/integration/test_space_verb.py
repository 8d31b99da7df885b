"""`python -m desktop_app space DB [--json]` as a user runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import apsw

from tests.integration.test_inspect_verbs import assert_clean_failure, pulse


def test_json_totals_equal_the_file_size(db_path: Path, delete_mode_db: Path) -> None:
    for path in (db_path, delete_mode_db):
        result = pulse("space", path, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        size = path.stat().st_size
        assert report["total_bytes"] == report["database_bytes"] == report["file_bytes"] == size
        parts = sum(o["bytes"] for o in report["objects"]) + report["freelist_bytes"] + report["overhead"]["bytes"]
        assert parts == size
        assert report["overhead"]["other_pages"] == 0
        sizes = [o["bytes"] for o in report["objects"]]
        assert sizes == sorted(sizes, reverse=True)


def test_the_table_names_each_object_and_ends_with_the_file_size(db_path: Path) -> None:
    result = pulse("space", db_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == ["name", "kind", "pages"]
    names = [line.split()[0] for line in lines[2:5]]
    assert sorted(names) == ["readings", "readings_device", "sqlite_schema"]
    assert "index on readings" in result.stdout
    assert lines[-1] == f"= the file size ({db_path.stat().st_size:,} bytes)"


def test_it_reads_without_changing_the_file(delete_mode_db: Path) -> None:
    before = hashlib.sha256(delete_mode_db.read_bytes()).hexdigest()
    assert pulse("space", delete_mode_db).returncode == 0
    assert hashlib.sha256(delete_mode_db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in delete_mode_db.parent.iterdir()) == ["legacy.db"]


def test_a_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    assert_clean_failure(pulse("space", tmp_path / "nope.db"), "does not exist")
    assert not (tmp_path / "nope.db").exists()


def test_a_file_that_is_not_a_database_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database at all, just some text that is longer than a header " * 4)
    assert_clean_failure(pulse("space", path, "--json"), "not a SQLite database")


def test_a_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    assert_clean_failure(pulse("space", tmp_path), "folder")


def test_wal_pages_count_and_the_report_says_so(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    writer = apsw.Connection(str(path))
    writer.execute("PRAGMA journal_mode = WAL").fetchall()
    writer.execute("PRAGMA wal_autocheckpoint = 0").fetchall()
    writer.execute("CREATE TABLE t(x)")
    with writer:
        writer.executemany("INSERT INTO t VALUES (randomblob(2000))", [()] * 100)
    try:
        result = pulse("space", path, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["total_bytes"] == report["database_bytes"] == report["page_count"] * report["page_size"]
        assert report["file_bytes"] == path.stat().st_size < report["database_bytes"]
        assert report["wal_bytes"] > 0
        text = pulse("space", path).stdout
        assert "pages still in the WAL count in the total" in text
    finally:
        writer.close()
