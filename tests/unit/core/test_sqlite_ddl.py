"""sqlite_ddl: CHECKs read from CREATE TABLE text and translated conservatively; DEFAULTs by column type."""

from __future__ import annotations

import pytest

from desktop_app.core.postgres import sqlite_ddl as ddl

COLUMNS = {"a": "a", "b": "B", "c d": "c d"}


def translate(sql: str) -> str:
    return ddl.expression(ddl.tokenize(sql), lambda name: COLUMNS.get(name.lower()))


def test_checks_are_found_in_columns_and_constraints_but_not_in_comments_or_strings() -> None:
    sql = """CREATE TABLE [odd (name)](a TEXT DEFAULT 'CHECK (x)' CHECK (a <> 'it''s'), -- CHECK (no)
        b INT CONSTRAINT keep NOT NULL CHECK (b > 0), /* CHECK (nor this) */ "c d" REAL,
        CONSTRAINT named CHECK ("c d" BETWEEN 0 AND 1), CHECK (a IS NOT NULL)) WITHOUT ROWID"""
    found = [(check.name, check.sql) for check in ddl.checks(sql)]
    assert found == [(None, "a <> 'it''s'"), (None, "b > 0"), ("named", '"c d" BETWEEN 0 AND 1'),
                     (None, "a IS NOT NULL")]
    assert ddl.checks("CREATE TABLE t AS SELECT 1 AS x") == []


@pytest.mark.parametrize(("sqlite", "postgres"), [
    ("a == 'x' OR b != 2", "\"a\" = 'x' OR \"B\" <> 2"),
    ("length(a) BETWEEN 1 AND 5 AND b IN (1, 2)", "length ( \"a\" ) BETWEEN 1 AND 5 AND \"B\" IN ( 1 , 2 )"),
    ("NOT (b < 0) AND [c d] NOT NULL", "NOT ( \"B\" < 0 ) AND \"c d\" IS NOT NULL"),
    ("a NOT IN ('p', 'q') OR a ISNULL", "\"a\" NOT IN ( 'p' , 'q' ) OR \"a\" IS NULL"),
    ("abs(b) + 1 <= 10", "abs ( \"B\" ) + 1 <= 10"),
])
def test_simple_checks_translate(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


@pytest.mark.parametrize(("sqlite", "reason"), [
    ("julianday(a) > 0", "uses the SQLite function julianday()"),
    ("a LIKE 'x%'", "uses LIKE"),
    ("a GLOB 'x*'", "uses GLOB"),
    ("b IS 2", "uses IS between two values"),
    ("b < 2 = 1", "chains comparisons"),
    ("CASE WHEN b THEN 1 END", "uses CASE"),
    ("b > (SELECT 1)", "uses SELECT"),
    ("zzz > 0", "uses ZZZ, which is not a column"),
    ("\"nothing\" = 1", "uses nothing, which is not a column"),
    ("b = 0x10", "hexadecimal"),
    ("a = x'00'", "blob literal"),
    ("a = ?", "cannot read"),
])
def test_other_checks_are_refused_with_the_reason(sqlite: str, reason: str) -> None:
    with pytest.raises(ddl.Untranslatable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        translate(sqlite)


@pytest.mark.parametrize(("sqlite", "pg_type", "postgres"), [
    ("'it''s'", "text", "'it''s'"),
    ("-1.5", "double precision", "-1.5"),
    ("(((7)))", "bigint", "7"),
    ("1", "boolean", "TRUE"),
    ("FALSE", "bigint", "0"),
    ("NULL", "bytea", "NULL"),
    ("12", "text", "'12'"),
    ("CURRENT_TIMESTAMP", "text", "to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD HH24:MI:SS')"),
    ("(date('now'))", "text", "to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD')"),
    ("time('NOW')", "text", "to_char(now() AT TIME ZONE 'utc', 'HH24:MI:SS')"),
])
def test_defaults_translate_for_their_column_type(sqlite: str, pg_type: str, postgres: str) -> None:
    assert ddl.default(sqlite, pg_type) == postgres


@pytest.mark.parametrize(("sqlite", "pg_type", "reason"), [
    ("datetime('now', 'localtime')", "text", "uses the SQLite function datetime()"),
    ("strftime('%s', 'now')", "bigint", "uses the SQLite function strftime()"),
    ("CURRENT_TIMESTAMP", "bigint", "the time now as text on a bigint column"),
    ("'x'", "bigint", "a string on a bigint column"),
    ("2", "boolean", "the number 2 on a boolean column"),
    ("x'00'", "bytea", "not a literal"),
])
def test_other_defaults_are_refused_with_the_reason(sqlite: str, pg_type: str, reason: str) -> None:
    with pytest.raises(ddl.Untranslatable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        ddl.default(sqlite, pg_type)


def test_deferrable_foreign_keys_are_found_by_their_columns() -> None:
    sql = """CREATE TABLE x(a INT REFERENCES p DEFERRABLE, b INT REFERENCES p NOT DEFERRABLE INITIALLY DEFERRED,
        c INT, d INT, CONSTRAINT f FOREIGN KEY ("C", [d]) REFERENCES q(x, y) ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED)"""
    assert ddl.deferrable_keys(sql) == {("a",): "DEFERRABLE", ("c", "d"): "DEFERRABLE INITIALLY DEFERRED"}
