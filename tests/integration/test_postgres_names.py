"""migrate's names: over PostgreSQL's 63 bytes they are shortened (and reported), with --lowercase-names they
are folded so an application's unquoted SQL finds them; collisions are refused, naming both.

Against the throwaway server of tests/postgres_server.py (`pg_url`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from desktop_app.core.errors import QueryError
from desktop_app.core.postgres.migrate import Migration, pg_name
from desktop_app.core.postgres.url import PostgresError
from tests.integration.test_postgres import query
from tests.integration.test_postgres_schema import make


def cli(source: Path, url: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_app", "migrate", str(source), "--to", url, *options],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


LONG_TABLE = "measurements_from_the_north_sea_weather_stations_abcd" + "é" * 3 + "_hourly_avg"  # 70 bytes, é at 53-54
LONG_COLUMN = "temperature_at_two_metres_above_ground_in_degrees_celsius_corrected_xy"  # 70 bytes


def test_pg_name_cuts_at_a_character_and_hashes_the_full_name() -> None:
    assert len(LONG_TABLE.encode()) == 70 and len(LONG_COLUMN.encode()) == 70
    short = pg_name(LONG_TABLE)
    assert len(short.encode()) <= 63 and short == pg_name(LONG_TABLE)  # deterministic
    assert LONG_TABLE.startswith(short[:-9]) and short[-9] == "_"
    assert pg_name(LONG_TABLE + "2") != short and pg_name("x" * 63) == "x" * 63


def test_names_over_63_bytes_are_shortened_and_reported(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "long.db", f"""
        CREATE TABLE "{LONG_TABLE}"(id INTEGER PRIMARY KEY, "{LONG_COLUMN}" REAL NOT NULL DEFAULT 0
            CHECK ("{LONG_COLUMN}" > -100));
        CREATE INDEX "{LONG_TABLE}_by_temperature" ON "{LONG_TABLE}"("{LONG_COLUMN}");
        CREATE TABLE reading(id INTEGER PRIMARY KEY, station INTEGER REFERENCES "{LONG_TABLE}"(id));
    """, (f'INSERT INTO "{LONG_TABLE}" VALUES (?, ?)', [(1, 4.5), (2, -1.25)]),
        ("INSERT INTO reading VALUES (?, ?)", [(1, 1), (2, 2)]))
    ran = cli(source, pg_url, "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    table, column = pg_name(LONG_TABLE), pg_name(LONG_COLUMN)
    index = pg_name(f"{LONG_TABLE}_by_temperature")
    assert sorted(result["renamed"], key=lambda item: item["kind"]) == [
        {"from": LONG_COLUMN, "to": column, "kind": "column"},
        {"from": f"{LONG_TABLE}_by_temperature", "to": index, "kind": "index"},
        {"from": LONG_TABLE, "to": table, "kind": "table"},
    ]
    assert result["untranslated"] == [] and len(result["foreign_keys"]) == 1
    assert query(pg_url, f'SELECT id, "{column}" FROM "{table}" ORDER BY id') == [(1, 4.5), (2, -1.25)]
    assert query(pg_url, f'INSERT INTO "{table}" DEFAULT VALUES RETURNING id, "{column}"') == [(3, 0.0)]
    assert query(pg_url, "SELECT count(*) FROM pg_indexes WHERE indexname = %s", (index,)) == [(1,)]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        query(pg_url, "INSERT INTO reading(station) VALUES (99)")
    # The summary shows the mapping; a rerun skips the table (its ledger row is under the SQLite name).
    shown = cli(source, pg_url)
    assert shown.returncode == 0, shown.stderr
    assert f"renamed: table {LONG_TABLE} -> {table}" in shown.stdout
    assert f"{LONG_TABLE}: 2 rows (already copied and verified)" in shown.stdout


def test_names_that_would_collide_once_shortened_are_refused_naming_both(tmp_path: Path, pg_url: str) -> None:
    long = "a" * 54 + "y" * 20
    source = make(tmp_path / "clash.db", f'CREATE TABLE "{long}"(id INTEGER); CREATE TABLE "{pg_name(long)}"(id);')
    with pytest.raises(QueryError, match=f"'{pg_name(long)}' and '{long}' would both be .* once shortened"):
        Migration(source, pg_url).run()


CHINOOK = """
    CREATE TABLE "Artist"("ArtistId" INTEGER PRIMARY KEY AUTOINCREMENT, "Name" NVARCHAR(120));
    CREATE TABLE "Album"("AlbumId" INTEGER PRIMARY KEY AUTOINCREMENT, "Title" NVARCHAR(160) NOT NULL,
        "ArtistId" INTEGER NOT NULL CONSTRAINT "CK_Album_ArtistId" CHECK ("ArtistId" > 0) DEFAULT 1,
        FOREIGN KEY ("ArtistId") REFERENCES "Artist" ("ArtistId"));
    CREATE INDEX "IFK_AlbumArtistId" ON "Album" ("ArtistId");
"""


def test_lowercase_names_let_unquoted_sql_find_tables_and_columns(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "chinook.db", CHINOOK,
                  ('INSERT INTO "Artist" VALUES (?, ?)', [(1, "AC/DC"), (2, "Accept")]),
                  ('INSERT INTO "Album" VALUES (?, ?, ?)', [(1, "For Those About To Rock", 1), (2, "Balls", 2),
                                                           (3, "Restless", 2)]))
    ran = cli(source, pg_url, "--lowercase-names", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["renamed"] == [] and result["untranslated"] == []
    assert result["foreign_keys"] == ["album_fk0"]
    assert query(pg_url, "SELECT count(*) FROM album JOIN artist USING (artistid)") == [(3,)]
    assert query(pg_url, "INSERT INTO album (title, artistid) VALUES ('x', 1) RETURNING albumid") == [(4,)]
    assert query(pg_url, "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid = 'album'::regclass") == [("ck_album_artistid",)]
    assert query(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'album' AND indexname LIKE 'ifk%%'", ()) \
        == [("ifk_albumartistid",)]
    assert query(pg_url, "INSERT INTO album (title) VALUES ('y') RETURNING artistid") == [(1,)]
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        query(pg_url, "INSERT INTO album (title, artistid) VALUES ('z', 9)")


def test_lowercase_names_refuse_two_names_that_fold_to_one(tmp_path: Path, pg_url: str) -> None:
    columns = make(tmp_path / "columns.db", 'CREATE TABLE t("Ö" TEXT, "ö" TEXT);')
    with pytest.raises(QueryError, match=r"'Ö' and 'ö' \(columns of t\) would both be 'ö'"):
        Migration(columns, pg_url, lowercase_names=True).run()
    tables = make(tmp_path / "tables.db", 'CREATE TABLE "Ä"(id); CREATE TABLE "ä"(id);')
    with pytest.raises(QueryError, match="'Ä' and 'ä' would both be 'ä'.*--lowercase-names"):
        Migration(tables, pg_url, lowercase_names=True).run()
    assert Migration(tables, pg_url).run().verified  # without folding, both are kept


def test_requote_writes_brackets_and_backticks_as_double_quotes_outside_strings() -> None:
    from desktop_app.core.postgres.sqlite_ddl import requote

    names = {"order details": "Order Details", "orderid": "OrderID", "quantity": "Quantity"}
    sql = "SELECT [Order Details].OrderID, `Quantity` AS [Q ty], '[x] `y` \"z\"' AS label, sum(x) -- [c]\nFROM x"
    assert requote(sql, lambda name: names.get(name.lower())) == (
        'SELECT "Order Details"."OrderID", "Quantity" AS "Q ty", \'[x] `y` "z"\' AS label, sum(x) -- [c]\nFROM x')
    # A column spelled like a keyword ("End", "Limit") leaves the keyword alone; as a quoted name it is mapped.
    names = {"end": "End", "limit": "Limit"}
    assert requote("SELECT CASE WHEN [End] > 0 THEN 1 END FROM t LIMIT 5", lambda n: names.get(n.lower())) \
        == 'SELECT CASE WHEN "End" > 0 THEN 1 END FROM t LIMIT 5'


NORTHWIND = """
    CREATE TABLE "Orders"("OrderID" INTEGER PRIMARY KEY, "CustomerID" TEXT);
    CREATE TABLE "Order Details"("OrderID" INTEGER NOT NULL REFERENCES "Orders", "UnitPrice" NUMERIC NOT NULL,
        "Quantity" INTEGER NOT NULL, PRIMARY KEY ("OrderID", "UnitPrice"));
    CREATE VIEW [Order Subtotals] AS
        SELECT [Order Details].OrderID, Sum([Order Details].UnitPrice * `Quantity`) AS Subtotal,
               '[not] a `name`' AS note
        FROM [Order Details] JOIN Orders ON Orders.[OrderID] = `Order Details`.OrderID
        GROUP BY [Order Details].OrderID;
"""


@pytest.mark.parametrize("lowercase", [False, True])
def test_views_quoting_names_with_brackets_and_backticks_are_created(tmp_path: Path, pg_url: str,
                                                                     lowercase: bool) -> None:
    source = make(tmp_path / "northwind.db", NORTHWIND,
                  ('INSERT INTO "Orders" VALUES (?, ?)', [(10248, "VINET"), (10249, "TOMSP")]),
                  ('INSERT INTO "Order Details" VALUES (?, ?, ?)', [(10248, 14, 12), (10248, 9.8, 10),
                                                                    (10249, 18.6, 9)]))
    result = Migration(source, pg_url, lowercase_names=lowercase).run()
    assert result.views == ["Order Subtotals"] and result.untranslated == []
    sql = ('SELECT orderid, subtotal, note FROM "order subtotals" ORDER BY 1' if lowercase else
           'SELECT "OrderID", subtotal, note FROM "Order Subtotals" ORDER BY 1')
    assert [(order, round(float(total), 2), note) for order, total, note in query(pg_url, sql)] == [
        (10248, 266.0, "[not] a `name`"), (10249, 167.4, "[not] a `name`")]


def test_long_view_and_constraint_names_are_shortened_and_reported_and_views_collide_with_tables(
        tmp_path: Path, pg_url: str) -> None:
    view, check = "v" * 70, "positive_" + "c" * 61
    source = make(tmp_path / "view.db", f"""
        CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER CONSTRAINT "{check}" CHECK (n > 0));
        CREATE VIEW "{view}" AS SELECT n FROM t;
    """, ("INSERT INTO t VALUES (?, ?)", [(1, 5)]))
    result = Migration(source, pg_url).run()
    assert sorted((item["kind"], item["to"]) for item in result.renamed) == [
        ("constraint", pg_name(check)), ("view", pg_name(view))]
    assert result.views == [view] and result.untranslated == []
    assert query(pg_url, f'SELECT n FROM "{pg_name(view)}"') == [(5,)]
    with pytest.raises(psycopg.errors.CheckViolation, match=pg_name(check)):
        query(pg_url, "INSERT INTO t(n) VALUES (-1)")
    clash = make(tmp_path / "clash.db", 'CREATE TABLE "Ä"(id); CREATE VIEW "ä" AS SELECT id FROM "Ä";')
    with pytest.raises(QueryError, match="'Ä' and 'ä' would both be 'ä'"):
        Migration(clash, pg_url, lowercase_names=True).run()


def test_a_rerun_naming_tables_otherwise_is_refused_with_the_reason(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "chinook.db", CHINOOK, ('INSERT INTO "Artist" VALUES (?, ?)', [(1, "AC/DC")]))
    assert Migration(source, pg_url).run().verified
    with pytest.raises(PostgresError, match="Album was copied .* not there as album.*--lowercase-names"):
        Migration(source, pg_url, lowercase_names=True).run()
    assert [table.status for table in Migration(source, pg_url).run().tables] == ["skipped", "skipped"]
