"""Streaming export on real files: every format, awkward names and values, cancel and failure leave no file."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_read, connect_write
from desktop_app.core.errors import QueryError, QueryInterrupted
from desktop_app.core.export import (
    CHUNK_ROWS,
    ExportResult,
    WritesDisabled,
    export_rows,
    export_to_file,
    result_chunks,
)
from desktop_app.core.session import Session
from tests.scenarios import run_bounded

ROWS = [
    (1, "Crème brûlée 日本 🍮", 1.5, 'say "hi",\nthen go', b"\x00\x01\xff"),
    (2, None, None, None, None),
    (3, "a},{b", -0.25, "line\r\nbreak", b""),
]


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    path = tmp_path / "sample.db"
    connection = apsw.Connection(str(path))
    connection.execute(
        'CREATE TABLE "Order Details"(id INTEGER PRIMARY KEY, name TEXT, price REAL, note TEXT, data BLOB);'
        """CREATE TABLE "Cust""omer's"(code TEXT PRIMARY KEY, city TEXT) WITHOUT ROWID;"""
        'CREATE VIEW "even details" AS SELECT id, name FROM "Order Details" WHERE id % 2 = 0;'
        "CREATE VIRTUAL TABLE docs USING fts5(body);"
        "CREATE TABLE big(n INTEGER);"
    )
    with connection:
        connection.executemany('INSERT INTO "Order Details" VALUES (?, ?, ?, ?, ?)', ROWS)
        connection.executemany("""INSERT INTO "Cust""omer's" VALUES (?, ?)""", [("b", "Köln"), ("a", "Åre")])
        connection.executemany(
            "INSERT INTO docs VALUES (?)", [("hello world",), ("other text",), ("hello again",)]
        )
        connection.execute(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
            "INSERT INTO big SELECT i FROM c",
            (3 * CHUNK_ROWS + 5,),
        )
    connection.close()
    return path


@pytest.fixture
def reader(sample_db: Path):  # noqa: ANN201
    connection = connect_read(sample_db)
    yield connection
    connection.close()


def export_text(connection: apsw.Connection, sql: str, fmt: str, *bindings: object) -> str:
    buffer = io.BytesIO()
    export_rows(connection, sql, buffer, fmt=fmt, bindings=bindings)
    return buffer.getvalue().decode("utf-8")


def test_csv_is_rfc4180_with_nulls_empty_and_blobs_base64(reader: apsw.Connection) -> None:
    text = export_text(reader, 'SELECT * FROM "Order Details" ORDER BY id', "csv")
    assert text.startswith("id,name,price,note,data\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["id", "name", "price", "note", "data"]
    assert parsed[1] == [
        "1",
        "Crème brûlée 日本 🍮",
        "1.5",
        'say "hi",\nthen go',
        base64.b64encode(b"\x00\x01\xff").decode(),
    ]
    assert parsed[2] == ["2", "", "", "", ""]
    assert parsed[3] == ["3", "a},{b", "-0.25", "line\r\nbreak", ""]
    assert '"say ""hi"",\nthen go"' in text  # quotes doubled, the field quoted


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_and_ndjson_agree_and_hold_every_value(reader: apsw.Connection, fmt: str) -> None:
    text = export_text(reader, 'SELECT * FROM "Order Details" ORDER BY id', fmt)
    records = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert len(records) == 3
    assert records[0] == {
        "id": 1,
        "name": "Crème brûlée 日本 🍮",
        "price": 1.5,
        "note": 'say "hi",\nthen go',
        "data": base64.b64encode(b"\x00\x01\xff").decode(),
    }
    assert records[1] == {"id": 2, "name": None, "price": None, "note": None, "data": None}
    assert records[2]["note"] == "line\r\nbreak" and records[2]["data"] == ""


def test_json_is_one_object_a_line_and_empty_results_are_valid(reader: apsw.Connection) -> None:
    text = export_text(reader, "SELECT n FROM big WHERE n <= 3", "json")
    assert text == '[\n{"n":1},\n{"n":2},\n{"n":3}\n]\n'
    assert json.loads(export_text(reader, "SELECT n FROM big WHERE n < 0", "json")) == []
    assert export_text(reader, "SELECT n FROM big WHERE n < 0", "ndjson") == ""
    assert export_text(reader, "SELECT n FROM big WHERE n < 0", "csv") == "n\r\n"  # the header still


def test_repeated_column_names_keep_every_value_in_json(reader: apsw.Connection) -> None:
    assert json.loads(export_text(reader, "SELECT 1 AS a, 2 AS a, 3 AS b", "json")) == [
        {"a": 1, "a:2": 2, "b": 3}
    ]


def test_nan_and_infinity_become_null_in_json(reader: apsw.Connection) -> None:
    text = export_text(reader, "SELECT 1e999 AS inf, -1e999 AS ninf", "ndjson")
    assert json.loads(text) == {"inf": None, "ninf": None}


def test_every_kind_of_relation_exports(reader: apsw.Connection) -> None:
    quoted = export_text(reader, """SELECT * FROM "Cust""omer's" """, "csv")
    assert quoted == "code,city\r\na,Åre\r\nb,Köln\r\n"  # WITHOUT ROWID: primary-key order
    view = export_text(reader, 'SELECT * FROM "even details"', "ndjson")
    assert [json.loads(line) for line in view.splitlines()] == [{"id": 2, "name": None}]
    fts = export_text(reader, "SELECT body FROM docs WHERE docs MATCH ? ORDER BY rowid", "csv", "hello")
    assert fts == "body\r\nhello world\r\nhello again\r\n"


def test_parameters_are_bound_never_pasted(reader: apsw.Connection) -> None:
    hostile = "x' OR '1'='1"
    assert export_text(reader, 'SELECT id FROM "Order Details" WHERE name = ?', "csv", hostile) == "id\r\n"
    assert export_text(reader, 'SELECT id FROM "Order Details" WHERE id >= ? AND id < ?', "csv", 2, 4) == (
        "id\r\n2\r\n3\r\n"
    )
    with pytest.raises(QueryError, match="placeholders"):
        export_text(reader, "SELECT ?", "csv")


def test_all_rows_stream_in_chunks_with_progress(reader: apsw.Connection) -> None:
    seen: list[int] = []
    buffer = io.BytesIO()
    result = export_rows(reader, "SELECT n FROM big ORDER BY n", buffer, fmt="csv", progress=seen.append)
    total = 3 * CHUNK_ROWS + 5
    assert result.rows == total and result.columns == ["n"]
    assert seen == sorted(seen) and seen[-1] == total and len(seen) >= 4
    lines = buffer.getvalue().decode().split("\r\n")
    assert lines[1] == "1" and lines[total] == str(total)


def test_only_the_last_statements_rows_are_exported(reader: apsw.Connection) -> None:
    text = export_text(reader, "SELECT 'first'; SELECT n AS last FROM big WHERE n <= 2; -- done", "csv")
    assert text == "last\r\n1\r\n2\r\n"


def test_writes_are_refused_unless_allowed(sample_db: Path, tmp_path: Path) -> None:
    writer = connect_write(sample_db)
    try:
        with pytest.raises(WritesDisabled, match="DELETE FROM big"):
            export_rows(writer, "DELETE FROM big", io.BytesIO(), fmt="csv")
        assert writer.execute("SELECT count(*) FROM big").fetchall()[0][0] == 3 * CHUNK_ROWS + 5
        buffer = io.BytesIO()
        result = export_rows(
            writer, "DELETE FROM big WHERE n > 10 RETURNING n", buffer, fmt="csv", allow_writes=True
        )
        assert result.rows == 3 * CHUNK_ROWS + 5 - 10
        assert writer.execute("SELECT count(*) FROM big").fetchall()[0][0] == 10
        with pytest.raises(QueryError, match="transaction open"):
            export_rows(writer, "BEGIN; DELETE FROM big", io.BytesIO(), fmt="csv", allow_writes=True)
        assert writer.get_autocommit()
        assert writer.execute("SELECT count(*) FROM big").fetchall()[0][0] == 10  # rolled back
    finally:
        writer.close()


def test_file_export_replaces_the_destination_only_on_success(
    reader: apsw.Connection, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "rows.csv"
    result = export_to_file(reader, "SELECT n FROM big WHERE n <= 2", target, fmt="csv")
    assert result.path == target and target.read_bytes() == b"n\r\n1\r\n2\r\n"
    assert target.stat().st_mode & 0o777 != 0o600  # a normal file, not mkstemp's private one
    # A failure part-way (after the first chunks were written) keeps the old file and leaves no temp file.
    failing = "SELECT CASE WHEN n > ? THEN abs(-9223372036854775807 - 1) ELSE n END FROM big"
    with pytest.raises(QueryError, match="integer overflow"):
        export_to_file(reader, failing, target, fmt="csv", bindings=(2 * CHUNK_ROWS,))
    assert target.read_bytes() == b"n\r\n1\r\n2\r\n"
    assert sorted(path.name for path in out_dir.iterdir()) == ["rows.csv"]


def test_cancel_between_chunks_leaves_no_file(reader: apsw.Connection, tmp_path: Path) -> None:
    cancel = threading.Event()
    target = tmp_path / "cancelled.ndjson"

    def progress(rows: int) -> None:
        if rows >= CHUNK_ROWS:
            cancel.set()

    with pytest.raises(QueryInterrupted):
        export_to_file(reader, "SELECT n FROM big", target, fmt="ndjson", progress=progress, cancel=cancel)
    assert not target.exists()
    assert not list(tmp_path.glob("*.partial"))
    assert reader.get_autocommit()  # no read transaction left pinning a snapshot


def test_the_export_refuses_to_overwrite_the_database(reader: apsw.Connection, sample_db: Path) -> None:
    with pytest.raises(Exception, match="database's own file"):
        export_to_file(reader, "SELECT 1", sample_db, fmt="csv")
    with pytest.raises(Exception, match="database's own file"):
        export_to_file(reader, "SELECT 1", Path(f"{sample_db}-wal"), fmt="csv")


def test_result_chunks_stop_early_without_leaving_a_statement_open(reader: apsw.Connection) -> None:
    chunks = result_chunks(reader, "SELECT n FROM big")
    columns, first = next(chunks)
    assert columns == ["n"]
    _columns, second = next(chunks)
    assert len(first) + len(second) >= CHUNK_ROWS
    chunks.close()
    assert reader.get_autocommit()


def test_an_export_job_runs_off_the_loop_thread_and_delivers_on_it(sample_db: Path, tmp_path: Path) -> None:
    threads: set[str] = set()
    target = tmp_path / "all.json"

    async def scenario() -> ExportResult:
        session = await Session.open(sample_db)
        try:
            job = session.export("SELECT * FROM big", target, fmt="json",
                                 progress=lambda rows: threads.add(threading.current_thread().name))
            with pytest.raises(ValueError, match="unknown export format"):
                session.export("SELECT 1", target, fmt="xml")
            return await job
        finally:
            await session.close()

    result = run_bounded(scenario(), 60)
    assert result.rows == 3 * CHUNK_ROWS + 5 and result.path == target
    assert len(json.loads(target.read_text())) == result.rows
    assert threads == {threading.main_thread().name}


def test_unknown_format_is_a_programming_error(reader: apsw.Connection) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        export_rows(reader, "SELECT 1", io.BytesIO(), fmt="xml")


def test_text_that_is_not_utf8_is_a_clear_error(reader: apsw.Connection) -> None:
    with pytest.raises(QueryError, match="not valid UTF-8"):
        export_text(reader, "SELECT CAST(x'41ff42' AS TEXT) AS broken", "csv")
    assert (
        export_text(reader, "SELECT CAST(CAST(x'41ff42' AS TEXT) AS BLOB) AS bytes", "ndjson")
        == '{"bytes":"Qf9C"}\n'
    )


AWKWARD_VALUES = [
    None, "", " ", "plain", "a,b", 'say "hi"', "cr\rlf\n", "\r\n", "lone\rcr", "None", "null", "日本 🍮", "trailing ",
    0, -1, 2**63 - 1, -(2**63), 0.0, -0.0, 1.5, 0.1 + 0.2, 1e16, 1e-5, 123456789.125, float("inf"),
    float("-inf"), float("nan"), b"", b"\x00\xff", b"x" * 100,
]  # fmt: skip


def reference_csv(columns: list[str], rows: list[tuple]) -> str:
    """What Python's csv.writer makes of the same rows, BLOBs as base64: the fields ours must parse to."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(
        [base64.b64encode(value).decode() if isinstance(value, bytes) else value for value in row]
        for row in rows
    )
    return out.getvalue()


def same_field(ours: str, reference: str) -> bool:
    if ours == reference:
        return True
    try:  # numbers may be spelled differently (1e16 and 1e+16), never valued differently
        return float(ours) == float(reference)
    except ValueError:
        return False


@pytest.mark.parametrize("width", [1, 2, 3])
def test_csv_fields_match_the_csv_module_for_awkward_values(tmp_path: Path, width: int) -> None:
    """Every value in every position: alone in a column, mixed with other types, in one-column tables."""
    path = tmp_path / "awkward.db"
    connection = apsw.Connection(str(path))
    names = [f"c{index}" for index in range(width)]
    connection.execute(f"CREATE TABLE t({', '.join(names)})")
    values = AWKWARD_VALUES * 3
    rows = [
        tuple(values[(i + shift * 7) % len(values)] for shift in range(width)) for i in range(len(values))
    ]
    rows += [(value,) * width for value in AWKWARD_VALUES]  # each value alone in its whole row
    with connection:
        connection.executemany(f"INSERT INTO t VALUES ({', '.join('?' * width)})", rows)
    stored = connection.execute("SELECT * FROM t ORDER BY rowid").fetchall()  # as SQLite gives them back
    for chunk_rows in (1, 5, len(stored)):  # chunk edges fall between different value mixes
        buffer = io.BytesIO()
        export_rows(connection, "SELECT * FROM t ORDER BY rowid", buffer, fmt="csv", chunk_rows=chunk_rows)
        ours = list(csv.reader(io.StringIO(buffer.getvalue().decode(), newline=""), strict=True))
        reference = list(csv.reader(io.StringIO(reference_csv(names, stored), newline=""), strict=True))
        assert len(ours) == len(reference) == len(stored) + 1
        for our_row, reference_row in zip(ours, reference, strict=True):
            assert len(our_row) == len(reference_row) == width
            assert all(map(same_field, our_row, reference_row)), (our_row, reference_row)
    connection.close()
