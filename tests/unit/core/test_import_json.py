"""core/importer on NDJSON and JSON arrays: keys become columns, nested values JSON text, errors name the line."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from desktop_app.core.errors import ImportFailed
from desktop_app.core.importer import ImportProgress, inspect_file, json_records, run_import
from desktop_app.core.importer import plan as plan_module


def rows(connection: apsw.Connection, sql: str) -> list[tuple]:
    return connection.execute(sql).fetchall()


@pytest.fixture
def target(tmp_path: Path) -> apsw.Connection:
    connection = apsw.Connection(str(tmp_path / "target.db"))
    yield connection
    connection.close()


NDJSON = '{"id": 1, "tags": ["a", "b"], "ok": true, "price": 2}\n\n{"id": 2, "meta": {"x": null}, "price": 2.5}\n'


@pytest.mark.parametrize(("name", "text"), [("r.ndjson", NDJSON), ("r.json", "[" + NDJSON.strip().replace("}\n\n{", "},{") + "]")])
def test_keys_become_typed_columns_and_nested_values_json_text(
    tmp_path: Path, target: apsw.Connection, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    preview = inspect_file(path)
    assert preview.plan.format == ("ndjson" if name.endswith("ndjson") else "json")
    assert [(c.name, c.type) for c in preview.plan.columns] == [
        ("id", "INTEGER"), ("tags", "TEXT"), ("ok", "INTEGER"), ("price", "REAL"), ("meta", "TEXT")
    ]
    assert preview.rows[0] == (1, '["a","b"]', 1, 2, None)
    result = run_import(target, preview.plan, "r")
    assert result.rows == 2
    assert rows(target, "SELECT id, tags, ok, price, meta, typeof(price) FROM r ORDER BY id") == [
        (1, '["a","b"]', 1, 2.0, None, "real"),
        (2, None, None, 2.5, '{"x":null}', "real"),
    ]


def test_a_json_file_is_told_apart_by_its_first_character(tmp_path: Path) -> None:
    lines = tmp_path / "lines.json"
    lines.write_text('{"a": 1}\n{"a": 2}\n')
    assert inspect_file(lines).plan.format == "ndjson"


def test_a_key_first_seen_after_the_sample_becomes_a_column(
    tmp_path: Path, target: apsw.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "SAMPLE_ROWS", 2)
    monkeypatch.setattr(plan_module, "JSON_BATCH", 2)
    path = tmp_path / "late.ndjson"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": 3}\n{"a": 4, "late": "x", "A": 5}\n{"a": 6}\n')
    seen: list[ImportProgress] = []
    result = run_import(target, inspect_file(path).plan, "late", progress=seen.append)
    assert (result.rows, result.added_columns) == (5, ("late", "A_2"))
    assert rows(target, "SELECT a, late, A_2 FROM late WHERE late IS NOT NULL") == [(4, "x", 5)]
    assert seen[-1] == ImportProgress(5, path.stat().st_size, path.stat().st_size)


def test_appending_a_key_the_table_lacks_names_the_line_and_rolls_back(
    tmp_path: Path, target: apsw.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "SAMPLE_ROWS", 1)
    target.execute("CREATE TABLE t(a INTEGER, b TEXT)")
    path = tmp_path / "t.ndjson"
    path.write_text('{"a": 1}\n{"b": "x"}\n{"c": 3}\n')
    with pytest.raises(ImportFailed, match="^Line 3: t has no column c"):
        run_import(target, inspect_file(path).plan, "t", append=True)
    assert rows(target, "SELECT count(*) FROM t") == [(0,)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.ndjson", '{"a": 1}\n{"a": \n', "^Line 2 is not valid JSON"),
        ("list.ndjson", '{"a": 1}\n[1, 2]\n', "^Line 2 is a JSON array, not an object"),
        ("scalar.json", "[{}, 3]", "^Record 2 of the array is a JSON number"),
        ("object.json", '{"a": [1]\n, "b": 2}', "^Line 1 is not valid JSON"),
        ("empty.ndjson", "\n\n", "has no records"),
    ],
)
def test_bad_json_is_a_clear_error(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ImportFailed, match=message):
        inspect_file(path)


def test_a_json_array_over_the_limit_is_refused_with_the_way_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_records, "MAX_ARRAY_BYTES", 10)
    path = tmp_path / "big.json"
    path.write_text('[{"a": 1}, {"a": 2}]')
    with pytest.raises(ImportFailed, match=r"arrays are read whole.*jq -c"):
        inspect_file(path)
