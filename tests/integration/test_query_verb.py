"""`python -m desktop_app query` as a script runs it: every row out, errors as one line, exit 2, flat memory."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

ORDER_DETAILS_ROWS = 600_000
PEAK_RSS_LIMIT_MB = 150

# The child's peak RSS without depending on /usr/bin/time: a runner waits for it and reads RUSAGE_CHILDREN.
PEAK_RSS_RUNNER = """
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    code = subprocess.run(sys.argv[2:], stdout=out).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)  # KiB on Linux
sys.exit(code)
"""


def pulse(*args: object) -> subprocess.CompletedProcess[str]:
    """Run the verb; stdout and stderr decoded as UTF-8 with line ends kept exactly (CSV's are CRLF)."""
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sqlite-pulse: "), result.stderr
    assert fragment in lines[0]


def note_for(i: int) -> str | None:
    """A mix of what breaks naive CSV writers: unicode, quotes, commas, newlines, NULLs."""
    kind = i % 5
    if kind == 0:
        return None
    if kind == 1:
        return f'Crème "brûlée", 日本 {i}'
    if kind == 2:
        return f"line1\nline2 {i}"
    if kind == 3:
        return f"crlf\r\n{i}"
    return f"plain {i}"


@pytest.fixture(scope="module")
def northwind_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600,000 rows in "Order Details" (built in SQL, ~1 s) plus a table whose name has quotes."""
    path = tmp_path_factory.mktemp("query") / "northwind.db"
    connection = apsw.Connection(str(path))
    connection.create_scalar_function("note_for", note_for, 1, deterministic=True)
    connection.execute(
        'CREATE TABLE "Order Details"(OrderID INTEGER, ProductID INTEGER, UnitPrice REAL, Quantity INTEGER, '
        "Discount REAL, Note TEXT, Raw BLOB, PRIMARY KEY (OrderID, ProductID));"
        "BEGIN;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        'INSERT INTO "Order Details" SELECT 10000 + i / 10, i % 10, i * 0.25, i % 50, '
        "CASE WHEN i % 7 = 0 THEN NULL ELSE 0.05 END, note_for(i), "
        "CASE WHEN i % 3 = 0 THEN unhex(printf('%08x00ff', i)) END FROM n;"
        "COMMIT;"
        """CREATE TABLE "Cust""omer's"(code TEXT PRIMARY KEY, city TEXT) WITHOUT ROWID;"""
        """INSERT INTO "Cust""omer's" VALUES ('ALFKI', 'Berlin'), ('ÅRE', 'Åre, "north"');"""
        'CREATE VIEW big_orders AS SELECT OrderID, Quantity FROM "Order Details" WHERE Quantity > 48;'
        "CREATE VIRTUAL TABLE docs USING fts5(body);"
        "INSERT INTO docs VALUES ('hello world'), ('other text');",
        (ORDER_DETAILS_ROWS,),
    )
    connection.close()
    return path


def expected_row(i: int) -> list[str]:
    """Row i of "Order Details" as the CSV export writes it (NULL empty, BLOB base64, floats via repr)."""
    discount = "" if i % 7 == 0 else "0.05"
    note = note_for(i)
    raw = "" if i % 3 else base64.b64encode(bytes.fromhex(f"{i:08x}00ff")).decode()
    return [str(10000 + i // 10), str(i % 10), repr(i * 0.25), str(i % 50), discount, note or "", raw]


def test_600k_rows_export_to_valid_csv_under_150_mb(northwind_like: Path, tmp_path: Path) -> None:
    out = tmp_path / "order-details.csv"
    command = [sys.executable, "-m", "desktop_app", "query", northwind_like, 'SELECT * FROM "Order Details"']
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_RUNNER, out, *map(str, command)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stderr.strip().splitlines()[-1]) / 1024
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"

    with out.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, strict=True)
        assert next(rows) == ["OrderID", "ProductID", "UnitPrice", "Quantity", "Discount", "Note", "Raw"]
        count = 0
        for count, row in enumerate(rows, start=1):  # noqa: B007 - count is the result
            if count % 997 == 1 or count > ORDER_DETAILS_ROWS - 3:  # every value of a spread of rows
                assert row == expected_row(count), count
            elif len(row) != 7:
                pytest.fail(f"row {count} has {len(row)} fields")
    assert count == ORDER_DETAILS_ROWS


def test_formats_agree_on_a_table_whose_name_has_quotes(northwind_like: Path) -> None:
    sql = """SELECT * FROM "Cust""omer's" """
    as_csv = pulse("query", northwind_like, sql, "--csv")
    as_json = pulse("query", northwind_like, sql, "--json")
    as_ndjson = pulse("query", northwind_like, sql, "--ndjson")
    for result in (as_csv, as_json, as_ndjson):
        assert result.returncode == 0, result.stderr
    expected = [{"code": "ALFKI", "city": "Berlin"}, {"code": "ÅRE", "city": 'Åre, "north"'}]
    assert list(csv.DictReader(io.StringIO(as_csv.stdout, newline=""))) == expected
    assert json.loads(as_json.stdout) == expected
    assert [json.loads(line) for line in as_ndjson.stdout.splitlines()] == expected


def test_table_format_aligns_and_says_when_it_stops(northwind_like: Path) -> None:
    result = pulse("query", northwind_like, 'SELECT * FROM "Order Details" ORDER BY OrderID', "--table")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["OrderID", "ProductID", "UnitPrice", "Quantity", "Discount", "Note", "Raw"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "NULL" in result.stdout and "<BLOB 6 bytes>" in result.stdout
    assert lines[-1].startswith("(1,000 rows shown; more rows not shown")
    assert len(lines) == 2 + 1000 + 1
    small = pulse("query", northwind_like, 'SELECT code, city FROM "Cust""omer\'s"', "--table")
    assert small.stdout.splitlines()[-1] == "(2 rows)"


def test_without_rowid_view_and_fts5_with_bound_parameters(northwind_like: Path) -> None:
    view = pulse(
        "query", northwind_like, "SELECT count(*) AS n FROM big_orders WHERE OrderID < ?", "--param", 10100
    )
    assert view.stdout == "n\r\n20\r\n"  # Quantity 49 once per 50 rows: ids 10000..10099 hold 1,000 rows
    fts = pulse(
        "query", northwind_like, "SELECT body FROM docs WHERE docs MATCH ?", "-p", "hello", "--ndjson"
    )
    assert fts.stdout == '{"body":"hello world"}\n'
    code = pulse("query", northwind_like, """SELECT city FROM "Cust""omer's" WHERE code = ?""", "-p", "ÅRE")
    assert code.stdout == 'city\r\n"Åre, ""north"""\r\n'
    hostile = pulse(
        "query", northwind_like, """SELECT city FROM "Cust""omer's" WHERE code = ?""", "-p", "' OR 1=1 --"
    )
    assert hostile.stdout == "city\r\n"


def test_writes_are_refused_without_write(northwind_like: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.db"
    source = apsw.Connection(str(northwind_like))
    target = apsw.Connection(str(db))
    with target.backup("main", source, "main") as backup:
        backup.step()
    source.close()
    target.close()
    before = db.read_bytes()
    refused = pulse("query", db, 'DELETE FROM "Cust""omer\'s"')
    assert_one_line_error(refused, "Add --write")
    assert db.read_bytes() == before
    allowed = pulse(
        "query", db, """DELETE FROM "Cust""omer's" WHERE code = ? RETURNING code""", "-p", "ALFKI", "--write"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "code\r\nALFKI\r\n"
    assert pulse("query", db, """SELECT count(*) FROM "Cust""omer's" """).stdout.endswith("\r\n1\r\n")


def test_errors_are_one_line_and_exit_2(northwind_like: Path, tmp_path: Path) -> None:
    assert_one_line_error(pulse("query", tmp_path / "missing.db", "SELECT 1"), "does not exist")
    assert_one_line_error(pulse("query", northwind_like, "SELECT * FROM nowhere"), "no such table: nowhere")
    assert_one_line_error(pulse("query", northwind_like, "SELECT ?, ?", "-p", "1"), "placeholders")
    assert_one_line_error(pulse("query", northwind_like, "SELEC 1"), "syntax error")
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database at all, just some text that is long enough" * 10)
    assert_one_line_error(pulse("query", text_file, "SELECT 1"), "not a SQLite database")


def test_output_file_is_written_whole_or_not_at_all(northwind_like: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.ndjson"  # the suffix picks the format
    ok = pulse("query", northwind_like, 'SELECT OrderID FROM "Order Details" LIMIT 3', "--output", out)
    assert ok.returncode == 0, ok.stderr
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"OrderID": 10000}] + [
        {"OrderID": 10000}
    ] * 2
    assert "3 rows written" in ok.stderr
    failing = 'SELECT CASE WHEN OrderID > 20000 THEN abs(-9223372036854775807 - 1) END FROM "Order Details"'
    bad = pulse("query", northwind_like, failing, "-o", tmp_path / "failed.csv")
    assert_one_line_error(bad, "integer overflow")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.ndjson"]


def test_a_reader_that_stops_early_is_not_an_error(northwind_like: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "query", northwind_like, 'SELECT * FROM "Order Details"'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout.read(100)  # like `| head -c 100`
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0
    assert stderr == ""  # no traceback, no message


def test_table_columns_line_up_with_wide_characters_and_long_text() -> None:
    from desktop_app.verbs.query import TABLE_CELL_WIDTH, _width, format_table

    text = format_table(["name", "n"], [("日本", 1), ("abc", 22), ("x" * 100, None)], more=False)
    header, rule, *rows, footer = text.splitlines()
    assert footer == "(3 rows)"
    # The numbers are right-aligned, so every line ends in the same terminal column: the wide characters
    # count two columns each.
    assert len({_width(line) for line in [header, rule, *rows]}) == 1
    assert rows[2].startswith("x" * (TABLE_CELL_WIDTH - 1) + "…")
    assert rows[2].endswith("NULL") and rows[0].endswith(" 1")


def test_sql_can_come_from_stdin(northwind_like: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desktop_app", "query", northwind_like, "-", "-p", "ALFKI", "--ndjson"],
        input='-- a saved query\nSELECT city FROM "Cust""omer\'s" WHERE code = ?;\n',
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == '{"city":"Berlin"}\n'


HOSTILE_PEAK_RSS_LIMIT_MB = 400  # measured ~150 MB (printf) and ~20 MB (zeroblob); 3.5-4.9 GB before the cap
# The same runner with the child's address space capped, so a regression is a MemoryError, not a machine's OOM.
BOUNDED_PEAK_RSS_RUNNER = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n" + PEAK_RSS_RUNNER


@pytest.mark.parametrize("view", ["huge_text", "huge_blob"])
@pytest.mark.parametrize("flags", [[], ["--write"], ["--table"]])
def test_a_view_that_builds_a_gigabyte_value_is_a_one_line_error_in_little_memory(
    tmp_path: Path, view: str, flags: list[str]
) -> None:
    db = tmp_path / "hostile.db"
    connection = apsw.Connection(str(db))
    connection.execute(
        "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);"
        "CREATE VIEW huge_text AS SELECT printf('%.*c', 900000000, 'x') AS big;"
        "CREATE VIEW huge_blob AS SELECT zeroblob(1000000000) AS big;"
    )
    connection.close()
    command = [sys.executable, "-m", "desktop_app", "query", *flags, db, f"SELECT * FROM {view}"]
    result = subprocess.run(
        [sys.executable, "-c", BOUNDED_PEAK_RSS_RUNNER, tmp_path / "out", *map(str, command)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *messages, peak_kib = result.stderr.strip().splitlines()
    assert_one_line_error(subprocess.CompletedProcess(command, result.returncode, "", "\n".join(messages)),
                          "larger than 256 MiB")
    assert int(peak_kib) / 1024 < HOSTILE_PEAK_RSS_LIMIT_MB
    assert pulse("query", db, "SELECT count(*) FROM t").stdout == "count(*)\r\n1\r\n"
