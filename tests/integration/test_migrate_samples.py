"""migrate of Chinook-like and Northwind-like databases (tests/sample_databases.py) gives a schema an
application can use at once: keys that number new rows, foreign keys that refuse bad ones, defaults and
checks that work, what was not translated listed, and with --lowercase-names unquoted SQL that runs.

Against the throwaway server of tests/postgres_server.py (`pg_url`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import apsw
import psycopg
import pytest

from desktop_app.core.ingest.mapping import quote_identifier as q
from desktop_app.core.postgres.migrate import Migration
from tests.integration.test_postgres import query, run_cli
from tests.sample_databases import build_chinook, build_northwind


def source_keys(source: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """({table: its one-column integer key}, [(child table, column, declared type) per foreign key])."""
    connection = apsw.Connection(str(source))
    tables = [name for (name,) in connection.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'")]
    keys, foreign = {}, []
    for table in tables:
        pk = [(name, kind) for name, kind, pk in connection.execute(
            "SELECT name, type, pk FROM pragma_table_info(?) WHERE pk > 0", (table,))]
        if len(pk) == 1 and "INT" in pk[0][1].upper():
            keys[table] = pk[0][0]
        types = {name: kind for name, kind in connection.execute("SELECT name, type FROM pragma_table_info(?)", (table,))}
        foreign += [(table, column, types[column]) for (column,) in connection.execute(
            "SELECT \"from\" FROM pragma_foreign_key_list(?)", (table,))]
    connection.close()
    return keys, foreign


def assert_keys_number_rows_and_foreign_keys_refuse(source: Path, url: str, schema: str,
                                                    name: Callable[[str], str] = lambda n: n) -> None:
    keys, foreign = source_keys(source)
    assert len(keys) >= 7 and len(foreign) >= 7
    with psycopg.connect(url, autocommit=True) as pg:
        for table, key in keys.items():  # a copy of a row, without its key: the identity numbers it
            target = f"{q(schema)}.{q(name(table))}"
            others = ", ".join(q(name(c)) for (c,) in pg.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "AND column_name <> %s ORDER BY ordinal_position", (schema, name(table), name(key))).fetchall())
            top = pg.execute(f"SELECT max({q(name(key))}) FROM {target}").fetchone()[0]
            new = pg.execute(f"INSERT INTO {target}({others}) SELECT {others} FROM {target} LIMIT 1 "
                             f"RETURNING {q(name(key))}").fetchone()[0]
            assert new == top + 1, table
        count = pg.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = %s::regnamespace",
                           (schema,)).fetchone()[0]
        assert count == len(foreign)
        for table, column, declared in foreign:  # every key refuses a row pointing nowhere
            target, col = f"{q(schema)}.{q(name(table))}", q(name(column))
            bad = -424242 if "INT" in declared.upper() else "NOPE!"
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                pg.execute(f"UPDATE {target} SET {col} = %s WHERE ctid = (SELECT ctid FROM {target} "
                           f"WHERE {col} IS NOT NULL LIMIT 1)", (bad,))


def test_chinook_keys_number_new_rows_and_every_foreign_key_holds(tmp_path: Path, pg_url: str) -> None:
    source = build_chinook(tmp_path / "chinook.db")
    result = Migration(source, pg_url).run()
    assert result.verified and len(result.tables) == 11 and result.untranslated == []
    assert result.tables[[t.name for t in result.tables].index("Track")].columns["UnitPrice"] == "numeric(10,2)"
    assert_keys_number_rows_and_foreign_keys_refuse(source, pg_url, "public")
    assert query(pg_url, 'SELECT count(*) FROM "PlaylistTrack" JOIN "Track" USING ("TrackId")') == [(200,)]


def test_northwind_defaults_checks_and_views_work_and_the_rest_is_listed(tmp_path: Path, pg_url: str) -> None:
    source = build_northwind(tmp_path / "northwind.db")
    result = Migration(source, pg_url).run()
    assert result.verified and sum(t.rows for t in result.tables) == 8 + 20 + 9 + 4 + 30 + 30 + 3 + 29 + 77 + 240 + 600
    assert_keys_number_rows_and_foreign_keys_refuse(source, pg_url, "public")
    assert sorted(result.views) == ["Customer and Suppliers by City", "Order Subtotals"]
    listed = {(item["type"], item["name"]): item["reason"] for item in result.untranslated}
    assert listed == {
        ("default", "Customers.Created"): "uses the SQLite function strftime()",
        ("check", "Customers"): listed[("check", "Customers")],
        ("view", "Alphabetical list of products"): listed[("view", "Alphabetical list of products")],
    }
    assert "GLOB" in listed[("check", "Customers")]
    assert "text = integer" in listed[("view", "Alphabetical list of products")]  # Discontinued is TEXT
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute('INSERT INTO "Order Details"("OrderID", "ProductID") '
                   'SELECT 1, min("ProductID") FROM "Products" WHERE "ProductID" NOT IN '
                   '(SELECT "ProductID" FROM "Order Details" WHERE "OrderID" = 1)')
        assert pg.execute('SELECT "Quantity", "Discount", "UnitPrice" FROM "Order Details" WHERE "OrderID" = 1 '
                          'ORDER BY "Quantity" LIMIT 1').fetchone()[:2] == (1, 0.0)
        with pytest.raises(psycopg.errors.CheckViolation):
            pg.execute('UPDATE "Order Details" SET "Quantity" = 0 WHERE "OrderID" = 1')
        with pytest.raises(psycopg.errors.CheckViolation):
            pg.execute('UPDATE "Products" SET "UnitsInStock" = -1 WHERE "ProductID" = 1')
        ordered = pg.execute('INSERT INTO "Orders"("CustomerID") VALUES (\'VINET\') RETURNING "OrderDate"').fetchone()[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", ordered)  # datetime('now') as SQLite writes it
        total = pg.execute('SELECT round(sum(Subtotal)) FROM "Order Subtotals"').fetchone()[0]
    expected = apsw.Connection(str(source)).execute('SELECT round(sum("Subtotal")) FROM "Order Subtotals"').fetchone()[0]
    assert abs(float(total) - expected) <= 1  # plus the one line added above


def test_northwind_with_lowercase_names_and_dates_runs_an_applications_unquoted_sql(tmp_path: Path, pg_url: str) -> None:
    source = build_northwind(tmp_path / "northwind.db")
    out = run_cli("migrate", str(source), "--to", pg_url, "--lowercase-names", "--convert-dates", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {t["name"]: t["columns"] for t in report["tables"]}["Orders"]["OrderDate"] == "timestamp"
    assert_keys_number_rows_and_foreign_keys_refuse(source, pg_url, "public", str.lower)
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute("INSERT INTO orders (customerid) VALUES ('VINET')")
        assert pg.execute("SELECT count(*) FROM orders JOIN customers USING (customerid)").fetchone() == (240 + 1 + 1,)
        assert pg.execute("SELECT count(*) FROM orders WHERE orderdate > now() - interval '1 day'").fetchone() == (1,)
        assert pg.execute("SELECT count(*) FROM employees WHERE hiredate < date '2000-01-01'").fetchone() == (0,)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            pg.execute("INSERT INTO orders (customerid) VALUES ('NOBODY')")
        subtotals = pg.execute('SELECT count(*) FROM "order subtotals"').fetchone()
    assert subtotals == apsw.Connection(str(source)).execute('SELECT count(*) FROM "Order Subtotals"').fetchone()
