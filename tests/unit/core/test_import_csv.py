"""core/importer on CSV/TSV files: what is detected, what lands in the table, and that a failure or a cancel
leaves the database exactly as it was."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_write, create_database
from desktop_app.core.errors import ImportFailed, PulseError, QueryInterrupted
from desktop_app.core.importer import ImportOptions, ImportProgress, inspect_file, run_import
from desktop_app.core.importer import plan as plan_module
from desktop_app.core.importer.columns import text_type, usable_names
from desktop_app.core.importer.delimited import detect_delimiter, looks_like_header


@pytest.fixture
def target(tmp_path: Path) -> apsw.Connection:
    path = tmp_path / "target.db"
    create_database(path)
    connection = connect_write(path)
    yield connection
    connection.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows(connection: apsw.Connection, sql: str) -> list[tuple]:
    return connection.execute(sql).fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "", "30"], "INTEGER"),
        (["1", "2.5", "1e3"], "REAL"),
        (["007", "1"], "TEXT"),  # a leading zero is part of the value
        ([" 4", "5"], "TEXT"),
        (["12345678901234567890"], "TEXT"),  # past 64 bits
        (["", ""], "TEXT"),
        (["1.", "2"], "TEXT"),
    ],
)
def test_types_are_inferred_conservatively(values: list[str], expected: str) -> None:
    assert text_type(values) == expected


def test_names_are_made_unique_and_not_empty() -> None:
    assert usable_names(["id", "", "ID", " name ", "id"]) == ["id", "column_2", "ID_2", "name", "id_3"]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1;2,5;3\n4;5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ("just one column\nvalue\n", ","),
    ],
)
def test_the_delimiter_is_detected(text: str, delimiter: str) -> None:
    assert detect_delimiter(text) == delimiter


def test_a_header_is_names_not_numbers() -> None:
    assert looks_like_header([["id", "name"], ["1", "a"]])
    assert not looks_like_header([["1", "a"], ["2", "b"]])
    assert not looks_like_header([["id", ""], ["1", "a"]])
    assert not looks_like_header([["id", "id"], ["1", "a"]])


def test_a_csv_lands_in_a_new_table_with_its_types(tmp_path: Path, target: apsw.Connection) -> None:
    source = write(tmp_path / "orders.csv", 'id,zip,price,note\n1,007,1.5,"a, b"\n2,12345,2,"two\nlines"\n3,,3e2,\n')
    preview = inspect_file(source)
    plan = preview.plan
    assert plan.describe() == "CSV, comma-separated, first row is the header, UTF-8"
    assert [(c.name, c.type) for c in plan.columns] == [("id", "INTEGER"), ("zip", "TEXT"), ("price", "REAL"), ("note", "TEXT")]
    assert preview.rows[1] == ("2", "12345", "2", "two\nlines")
    result = run_import(target, plan, "Order Lines")
    assert (result.rows, result.table, result.created) == (3, "Order Lines", True)
    assert rows(target, 'SELECT *, typeof(id), typeof(price) FROM "Order Lines" ORDER BY id') == [
        (1, "007", 1.5, "a, b", "integer", "real"),
        (2, "12345", 2.0, "two\nlines", "integer", "real"),
        (3, None, 300.0, None, "integer", "real"),
    ]


def test_the_connections_own_files_are_never_read_as_the_source(tmp_path: Path, target: apsw.Connection) -> None:
    # Python's open() and close() on the database or its WAL would drop the connection's locks.
    plan = inspect_file(write(tmp_path / "one.csv", "a\n1\n")).plan
    for own in (target.filename, target.filename + "-wal"):
        with pytest.raises(PulseError, match="open database's own file: choose the CSV, JSON or SQL file"):
            run_import(target, dataclasses.replace(plan, path=Path(own)), "t")
    assert rows(target, "SELECT name FROM sqlite_schema WHERE name = 't'") == []


def test_options_override_what_is_detected(tmp_path: Path, target: apsw.Connection) -> None:
    source = write(tmp_path / "data.txt", "1;2\n3;4\n")
    plan = inspect_file(source, ImportOptions(delimiter=";", header=True, empty_is_null=False)).plan
    assert [c.name for c in plan.columns] == ["1", "2"]
    plan = inspect_file(source, ImportOptions(delimiter=";")).plan.with_types({"column_1": "TEXT"})
    assert (plan.header, [c.type for c in plan.columns]) == (False, ["TEXT", "INTEGER"])
    run_import(target, plan, "t")
    assert rows(target, "SELECT typeof(column_1), column_2 FROM t") == [("text", 2), ("text", 4)]


def test_tsv_and_encodings_are_read_and_reported(tmp_path: Path, target: apsw.Connection) -> None:
    cases = {
        "utf8.tsv": ("utf-8", "UTF-8"),
        "bom.tsv": ("utf-8-sig", "UTF-8 with BOM"),
        "wide.tsv": ("utf-16", "UTF-16"),
        "wide-le.tsv": ("utf-16-le", "UTF-16 LE (no byte order mark)"),  # as some exporters write it
        "wide-be.tsv": ("utf-16-be", "UTF-16 BE (no byte order mark)"),
        "latin.tsv": ("cp1252", "Windows-1252 (the file is not UTF-8)"),
    }
    for name, (codec, label) in cases.items():
        plan = inspect_file(write(tmp_path / name, "city\tn\nZ\u00fcrich\t1\n", codec)).plan
        assert (plan.encoding.label, plan.delimiter, [c.name for c in plan.columns]) == (label, "\t", ["city", "n"])
        run_import(target, plan, name)
        assert rows(target, f'SELECT * FROM "{name}"') == [("Z\u00fcrich", 1)]


def test_a_row_with_the_wrong_number_of_fields_names_its_line_and_nothing_is_written(
    tmp_path: Path, target: apsw.Connection
) -> None:
    source = write(tmp_path / "bad.csv", "a,b\n1,2\n\n3,4\n5\n")
    before = digest(Path(target.filename))
    with pytest.raises(ImportFailed, match="^Line 5: expected 2 fields, got 1"):
        run_import(target, inspect_file(source).plan, "bad")
    assert rows(target, "SELECT name FROM sqlite_schema") == []
    assert target.get_autocommit() and digest(Path(target.filename)) == before


def test_appending_matches_columns_by_name_and_refuses_a_mismatch_before_writing(
    tmp_path: Path, target: apsw.Connection
) -> None:
    target.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, Name TEXT, score REAL DEFAULT 0)")
    run_import(target, inspect_file(write(tmp_path / "a.csv", "name,id\nann,7\n")).plan, "T", append=True)
    assert rows(target, "SELECT * FROM t") == [(7, "ann", 0.0)]
    wrong = write(tmp_path / "b.csv", "name,age,colour\nbob,3,red\n")
    with pytest.raises(ImportFailed, match="t has no columns age, colour"):
        run_import(target, inspect_file(wrong).plan, "t", append=True)
    with pytest.raises(ImportFailed, match="exists already"):
        run_import(target, inspect_file(wrong).plan, "t")
    with pytest.raises(ImportFailed, match="no table nope"):
        run_import(target, inspect_file(wrong).plan, "nope", append=True)
    headless = write(tmp_path / "c.csv", "8,cy\n")
    with pytest.raises(ImportFailed, match="has 3"):
        run_import(target, inspect_file(headless).plan, "t", append=True)
    assert rows(target, "SELECT count(*) FROM t") == [(1,)]


def test_a_constraint_failure_names_the_line_and_rolls_back(tmp_path: Path, target: apsw.Connection) -> None:
    target.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    source = write(tmp_path / "dupe.csv", "id,n\n1,1\n2,2\n1,3\n")
    with pytest.raises(ImportFailed, match="^Line 4: .*UNIQUE constraint failed"):
        run_import(target, inspect_file(source).plan, "t", append=True)
    assert rows(target, "SELECT count(*) FROM t") == [(0,)]


def test_a_cancel_rolls_back_and_leaves_the_file_as_it_was(
    tmp_path: Path, target: apsw.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "ROWS_PER_TICK", 100)
    source = write(tmp_path / "many.csv", "a,b\n" + "".join(f"{i},x{i}\n" for i in range(5000)))
    before = digest(Path(target.filename))
    seen: list[ImportProgress] = []
    with pytest.raises(QueryInterrupted):
        run_import(target, inspect_file(source).plan, "many", progress=seen.append, cancelled=lambda: len(seen) >= 3)
    assert [p.rows for p in seen] == [100, 200, 300]
    assert rows(target, "SELECT name FROM sqlite_schema") == []
    assert digest(Path(target.filename)) == before


def test_progress_ends_at_the_file_size(tmp_path: Path, target: apsw.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_module, "ROWS_PER_TICK", 1000)
    source = write(tmp_path / "p.csv", "a\n" + "".join(f"{i}\n" for i in range(2500)))
    seen: list[ImportProgress] = []
    assert run_import(target, inspect_file(source).plan, "p", progress=seen.append).rows == 2500
    assert [p.rows for p in seen] == [1000, 2000, 2500, 2500]
    assert seen[-1].bytes_done == seen[-1].bytes_total == source.stat().st_size


def test_undecodable_text_and_empty_files_are_clear_errors(tmp_path: Path, target: apsw.Connection) -> None:
    with pytest.raises(ImportFailed, match="has no rows"):
        inspect_file(write(tmp_path / "empty.csv", ""))
    late = write(tmp_path / "late.csv", "a\n" + "x\n" * 40_000 + "caf\u00e9\n", "cp1252")  # past the sample: UTF-8 assumed
    with pytest.raises(ImportFailed, match="^Line 40002: these bytes are not utf-8 text"):
        run_import(target, inspect_file(late).plan, "late")
    early = write(tmp_path / "early.csv", "a\n" + "x\n" * 3 + "caf\u00e9\n", "cp1252")
    with pytest.raises(ImportFailed, match="^Line 5: these bytes are not utf-8 text"):
        inspect_file(early, ImportOptions(encoding="utf-8"))
    with pytest.raises(ImportFailed, match="Unknown text encoding"):
        inspect_file(late, ImportOptions(encoding="klingon"))
    with pytest.raises(ImportFailed, match="Cannot read"):
        inspect_file(tmp_path / "missing.csv")


def test_a_binary_file_is_refused_before_it_is_read_as_text(tmp_path: Path, target: apsw.Connection) -> None:
    with pytest.raises(ImportFailed, match="holds NUL bytes: it is a binary file"):
        inspect_file(Path(target.filename), ImportOptions(format="csv"))


def test_a_stray_quote_is_an_error_naming_its_line(tmp_path: Path, target: apsw.Connection) -> None:
    source = write(tmp_path / "quotes.csv", 'a,b\n1,"two"\n3,"fo"ur\n')
    with pytest.raises(ImportFailed, match="^Line 3: ',' expected after '\"'"):
        run_import(target, inspect_file(source).plan, "quotes")
    with pytest.raises(ImportFailed, match="^Line 1 cannot be read"):
        inspect_file(write(tmp_path / "first.csv", '"a"b,c\n'))


def test_a_quote_never_closed_names_the_line_its_row_starts_on(tmp_path: Path, target: apsw.Connection) -> None:
    source = write(tmp_path / "open.csv", 'a,b\n1,2\n\n3,"x\n4,5\n6,7\n')
    with pytest.raises(ImportFailed, match=r'^Line 4: the row starting here opens a quote \(\"\) that is never closed.*line 6'):
        run_import(target, inspect_file(source).plan, "open")
    assert rows(target, "SELECT count(*) FROM sqlite_schema") == [(0,)]


def test_the_summary_counts_one_row_as_one(tmp_path: Path, target: apsw.Connection) -> None:
    result = run_import(target, inspect_file(write(tmp_path / "one.csv", "a\n1\n")).plan, "one")
    assert result.summary().startswith("Imported 1 row into the new table one in ")


def test_an_import_waits_for_another_writer_to_finish(tmp_path: Path, target: apsw.Connection) -> None:
    """Its transaction takes the write lock first, so the busy timeout applies (reading the schema first and
    then writing would fail at once: SQLite does not wait to upgrade a read to a write)."""
    import threading

    other = connect_write(Path(target.filename))
    other.execute("BEGIN IMMEDIATE; CREATE TABLE other(x)")
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    try:
        result = run_import(target, inspect_file(write(tmp_path / "n.csv", "n\n1\n2\n")).plan, "n")
    finally:
        other.close()
    assert result.rows == 2
    assert rows(target, "SELECT name FROM sqlite_schema ORDER BY name") == [("n",), ("other",)]


def test_a_table_name_sqlite_reserves_is_refused_in_words(tmp_path: Path, target: apsw.Connection) -> None:
    with pytest.raises(ImportFailed, match="^sqlite_stuff: names starting with sqlite_ are reserved for SQLite itself"):
        run_import(target, inspect_file(write(tmp_path / "n.csv", "n\n1\n")).plan, "sqlite_stuff")
