"""`python -m desktop_app import DB FILE ...` as a user runs it, then `query` to see what landed."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from tests.integration.test_inspect_verbs import assert_clean_failure, pulse


def write_orders(path: Path, count: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order id", "sku", "qty", "price", "note"])
        for i in range(count):
            writer.writerow([i, f"{i % 50:04d}", i % 9, f"{i / 4:.2f}", "a, quoted\nnote" if i % 100 == 0 else ""])
    return path


def test_a_csv_into_a_new_table_then_query_counts_its_rows(tmp_path: Path) -> None:
    orders = write_orders(tmp_path / "orders.csv", 2500)
    db = tmp_path / "t.db"
    result = pulse("import", db, orders, "--table", "Order Lines", "--create")
    assert result.returncode == 0, result.stderr
    assert "Imported 2,500 rows into the new table Order Lines" in result.stdout
    assert "CSV, comma-separated, first row is the header, UTF-8" in result.stdout
    counted = pulse("query", db, 'select count(*), typeof(sku), sum(qty) from "Order Lines"')
    assert counted.stdout.splitlines()[1] == f"2500,text,{sum(i % 9 for i in range(2500))}"


def test_json_summary_and_append(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    records = tmp_path / "events.ndjson"
    records.write_text("".join(json.dumps({"id": i, "kind": {"k": i}}) + "\n" for i in range(10)))
    first = json.loads(pulse("import", db, records, "--json").stdout)
    assert (first["table"], first["rows"], first["created"], first["created_db"]) == ("events", 10, True, True)
    again = pulse("import", db, records, "--append", "--json")
    assert json.loads(again.stdout)["rows"] == 10
    assert pulse("query", db, "select count(*) from events").stdout.splitlines()[1] == "20"


def test_a_bad_row_exits_2_naming_its_line_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    pulse("import", db, write_orders(tmp_path / "orders.csv", 10), "--table", "o")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n3\t4\t5\n")
    assert_clean_failure(pulse("import", db, bad), "Line 3: expected 2 fields, got 3")
    assert_clean_failure(pulse("import", db, tmp_path / "orders.csv", "--table", "o"), "exists already")
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_an_sql_file_of_1000_statements_and_one_failing_on_its_line(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    script = tmp_path / "load.sql"
    lines = ["CREATE TABLE s(n INTEGER);", *(f"INSERT INTO s VALUES ({i});" for i in range(999))]
    script.write_text("\n".join(lines) + "\n")
    result = pulse("import", db, script)
    assert result.returncode == 0, result.stderr
    assert "Ran 1,000 statements" in result.stdout
    assert pulse("query", db, "select count(*) from s").stdout.splitlines()[1] == "999"
    lines[700] = "INSERT INTO s VALUES (1, 2);"
    script.write_text("\n".join(lines).replace("CREATE TABLE s", "CREATE TABLE s2") + "\n")
    assert_clean_failure(pulse("import", db, script), "Line 701: table s has 1 columns but 2 values were supplied")
    assert pulse("query", db, "select count(*) from sqlite_schema").stdout.splitlines()[1] == "1"


def test_a_type_can_be_chosen(tmp_path: Path) -> None:
    db, source = tmp_path / "t.db", tmp_path / "codes.csv"
    source.write_text("code,n\n12,1\n34,2\n")
    assert pulse("import", db, source, "--type", "code=TEXT", "--type", "n=REAL").returncode == 0
    assert pulse("query", db, "select typeof(code), typeof(n) from codes").stdout.splitlines()[1] == "text,real"
    assert_clean_failure(pulse("import", db, source, "--table", "x", "--type", "nope=TEXT"), "no column 'nope'")
    assert_clean_failure(pulse("import", db, source, "--table", "x", "--type", "n=BLOBBY"), "unknown column type")


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    script = tmp_path / "x.sql"
    script.write_text("SELECT 1;")
    assert_clean_failure(pulse("import", tmp_path / "t.db", script, "--table", "t"), "names its own tables")
    assert_clean_failure(pulse("import", tmp_path / "t.db", tmp_path / "missing.csv"), "Cannot read")
    assert not (tmp_path / "t.db").exists()


def test_a_failure_names_the_file_and_what_it_left(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    script = tmp_path / "load.sql"
    script.write_text("CREATE TABLE e(a);\nINSERT INTO e VALUES (1);\nINSERT INTO nope VALUES (2);\n")
    assert_clean_failure(
        pulse("import", db, script),
        f"load.sql: Line 3: no such table: nope (in: INSERT INTO nope VALUES (2);). Nothing was imported ({db} was "
        "created and stays, empty).",
    )
    assert_clean_failure(
        pulse("import", db, script, "--as-written"),
        "load.sql: Line 3: no such table: nope (in: INSERT INTO nope VALUES (2);). What the statements before it "
        "committed stays (the script ran as written).",
    )
    assert pulse("query", db, "select a from e").stdout.splitlines() == ["a", "1"]
    broken = tmp_path / "broken.csv"
    broken.write_text('a,b\n1,2\n3,"x\n4,5\n')
    assert_clean_failure(
        pulse("import", db, broken), "broken.csv: Line 3: the row starting here opens a quote (\") that is never closed"
    )
    assert_clean_failure(pulse("import", db, broken), "Nothing was imported: t.db is as it was.")
    assert_clean_failure(pulse("import", db, broken, "--format", "ndjson"), "broken.csv: Line 1 is not valid JSON")
    wide = tmp_path / "wide.tsv"
    wide.write_bytes("name\tn\nZo\u00eb\t1\n".encode("utf-16-le"))  # no byte order mark
    result = pulse("import", db, wide)
    assert result.returncode == 0, result.stderr
    assert "UTF-16 LE (no byte order mark)" in result.stdout
    assert "Imported 1 row into the new table wide" in result.stdout


def test_ctrl_c_in_a_script_run_as_written_says_its_commits_stay(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import apsw

    db, script = tmp_path / "t.db", tmp_path / "slow.sql"
    script.write_text(
        "CREATE TABLE kept(a);\nINSERT INTO kept VALUES (1);\n"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n;\n"  # endless
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "import", str(db), str(script), "--as-written"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "error"},
    )

    def committed() -> bool:  # the first two statements: the endless one runs after them
        if not db.exists():
            return False
        reader = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            return bool(reader.execute("SELECT 1 FROM sqlite_schema WHERE name = 'kept'").fetchall())
        except apsw.BusyError:
            return False
        finally:
            reader.close()

    deadline = time.monotonic() + 30
    while not committed() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert err.strip() == (
        "sqlite-pulse: import interrupted: what the script's statements committed before it stays (it ran as written)."
    )
    assert pulse("query", db, "select a from kept").stdout.splitlines() == ["a", "1"]
