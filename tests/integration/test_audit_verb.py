"""`sqlite-pulse audit` as a user runs it: exit 0 clean, 1 on warnings, 2 on bad input; the file untouched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw

from desktop_app.core.database import create_database
from tests.integration.test_inspect_verbs import assert_clean_failure, digest


def pulse(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)], capture_output=True, text=True, timeout=60, env=env
    )


def state(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes and mtime, and every file in its folder."""
    return digest(path), path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def test_warnings_exit_1_and_the_json_names_them(shop_db: Path) -> None:
    before = state(shop_db)
    result = pulse("audit", shop_db, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    warnings = {f["code"]: f for f in report["findings"] if f["severity"] == "warning"}
    assert warnings.keys() == {"journal-mode", "fk-index"}
    assert warnings["journal-mode"]["fix_sql"] == "PRAGMA journal_mode=WAL;"
    assert warnings["fk-index"]["fix_sql"] == "CREATE INDEX IF NOT EXISTS orders_customer_id_fk ON orders(customer_id);"
    assert report["has_problems"] is True and report["user_version"] == 0
    assert state(shop_db) == before


def test_the_text_report_groups_findings_by_severity(shop_db: Path) -> None:
    result = pulse("audit", shop_db)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.index("Warnings (2):") < out.index("[journal-mode]") < out.index("[fk-index]") < out.index("Notes (")
    assert "PRAGMA journal_mode=WAL;" in out and "Schema version (user_version): 0" in out


def test_a_file_new_database_exits_0_and_is_left_as_it_was(tmp_path: Path) -> None:
    path = create_database(tmp_path / "new.db").path
    before = state(path)
    assert before[2] == ["new.db"]
    result = pulse("audit", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["has_problems"] is False
    assert all(f["severity"] == "info" for f in report["findings"])
    assert state(path) == before  # no -wal or -shm left behind either


def test_a_wal_database_in_use_keeps_its_wal(db_path: Path) -> None:
    writer = apsw.Connection(str(db_path))  # another program holds it open: its -wal and -shm exist
    try:
        writer.execute("INSERT INTO readings(device, value) VALUES ('x', 1)")
        before = state(db_path)
        wal = Path(f"{db_path}-wal").read_bytes()
        result = pulse("audit", db_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert state(db_path) == before and Path(f"{db_path}-wal").read_bytes() == wal
    finally:
        writer.close()


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    assert_clean_failure(pulse("audit", tmp_path / "missing.db"), "does not exist")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 10)
    assert_clean_failure(pulse("audit", junk, "--json"), "not a SQLite database")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]


def test_ctrl_c_stops_a_long_audit_at_once_with_exit_130(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    connection = apsw.Connection(str(path))
    columns = range(100)  # the search for large values reads 100 lengths a row: seconds over 300,000 rows
    connection.execute(
        f"CREATE TABLE t({', '.join(f'c{i}' for i in columns)}); "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) "
        f"INSERT INTO t SELECT {', '.join('i' for _ in columns)} FROM n"
    )
    connection.close()
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "audit", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )
    started = time.monotonic()
    # The verb listens for Ctrl+C before it opens the file: once it holds it open, press Ctrl+C.
    while not any(Path(f"/proc/{process.pid}/fd/{fd}").resolve() == path
                  for fd in os.listdir(f"/proc/{process.pid}/fd")) and time.monotonic() - started < 20:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert err.strip() == "sqlite-pulse: audit interrupted" and out == ""
