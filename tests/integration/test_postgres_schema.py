"""migrate gives PostgreSQL a schema the application can use: keys that number themselves, ...

Against the throwaway server of tests/postgres_server.py (`pg_url`)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import apsw
import psycopg

from desktop_app.core.postgres.migrate import Migration
from tests.integration.test_postgres import query


def make(path: Path, sql: str, *inserts: tuple[str, list[tuple]]) -> Path:
    connection = apsw.Connection(str(path))
    connection.execute(sql)
    with connection:
        for statement, rows in inserts:
            connection.executemany(statement, rows)
    connection.close()
    return path


def test_integer_keys_number_new_rows_from_the_copied_maximum(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "keys.db", """
        CREATE TABLE alias(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE "Mixed Case"("Key" INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE plain_int(id INT NOT NULL PRIMARY KEY, name TEXT);
        CREATE TABLE no_rowid(id INTEGER PRIMARY KEY, name TEXT) WITHOUT ROWID;
        CREATE TABLE empty(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE negative(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE pair(a INTEGER, b INTEGER, name TEXT, PRIMARY KEY (a, b));
        CREATE TABLE texty(id TEXT PRIMARY KEY, name TEXT);
        CREATE TABLE counted(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
    """, ("INSERT INTO alias VALUES (?, ?)", [(1, "a"), (7, "b"), (41, "c")]),
        ('INSERT INTO "Mixed Case" VALUES (?, ?)', [(3, "a"), (5, "b")]),
        ("INSERT INTO plain_int VALUES (?, ?)", [(10, "a"), (200, "b")]),
        ("INSERT INTO no_rowid VALUES (?, ?)", [(2, "a"), (9, "b")]),
        ("INSERT INTO negative VALUES (?, ?)", [(-5, "a"), (-1, "b")]),
        ("INSERT INTO pair VALUES (?, ?, ?)", [(1, 1, "a")]),
        ("INSERT INTO texty VALUES (?, ?)", [("k", "a")]),
        ("INSERT INTO counted VALUES (?, ?)", [(1, "a"), (2, "b"), (30, "c")]),
        ("DELETE FROM counted WHERE id = ?", [(30,)]))  # AUTOINCREMENT: 30 is never given again
    result = Migration(source, pg_url).run()
    assert result.verified
    expected = {"alias": 42, "Mixed Case": 6, "plain_int": 201, "no_rowid": 10, "empty": 1, "negative": 1,
                "counted": 31}
    with psycopg.connect(pg_url) as pg:
        for table, next_id in expected.items():
            key = pg.execute("SELECT a.attname FROM pg_attribute a JOIN pg_index i ON i.indrelid = a.attrelid "
                             "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND a.attrelid = %s::regclass",
                             (f'"{table}"',)).fetchone()[0]
            got = pg.execute(f'INSERT INTO "{table}"(name) VALUES (%s) RETURNING "{key}"', ("new",)).fetchone()[0]
            assert got == next_id, table
            assert pg.execute(f'INSERT INTO "{table}"(name) VALUES (%s) RETURNING "{key}"', ("new",)).fetchone()[0] \
                == next_id + 1
        identities = dict(pg.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE is_identity = 'YES' "
            "AND table_schema = 'public'").fetchall())
    assert identities == {"alias": "id", "Mixed Case": "Key", "plain_int": "id", "no_rowid": "id", "empty": "id",
                          "negative": "id", "counted": "id"}  # not the two-column key, not the text key
    # An explicit id still goes in (BY DEFAULT, not ALWAYS), as with SQLite.
    assert query(pg_url, "INSERT INTO alias(id, name) VALUES (1000, 'x') RETURNING id") == [(1000,)]


FOREIGN_KEYS = """
    CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT);
    CREATE TABLE product(sku TEXT PRIMARY KEY, region INTEGER, UNIQUE (sku, region));
    CREATE TABLE "Order"(id INTEGER PRIMARY KEY,
        customer_id INTEGER REFERENCES customer ON DELETE CASCADE,
        sku TEXT, region INTEGER, referrer INTEGER,
        FOREIGN KEY (sku, region) REFERENCES product(sku, region) ON UPDATE SET NULL,
        FOREIGN KEY (referrer) REFERENCES "Order"(id) DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE stray(id INTEGER PRIMARY KEY, ghost INTEGER REFERENCES nowhere(id));
"""


def test_foreign_keys_are_added_after_the_copy_and_refuse_a_bad_row(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "fk.db", FOREIGN_KEYS,
                  ("INSERT INTO customer VALUES (?, ?)", [(1, "a"), (2, "b")]),
                  ("INSERT INTO product VALUES (?, ?)", [("p1", 1), ("p2", 2)]),
                  ('INSERT INTO "Order" VALUES (?, ?, ?, ?, ?)',
                   [(1, 1, "p1", 1, None), (2, 2, "p2", 2, None), (3, None, "p9", None, 2)]))
    result = Migration(source, pg_url).run()
    defs = dict(query(pg_url, "SELECT conname, pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' "
                              "ELSE ' (not valid)' END FROM pg_constraint WHERE contype = 'f'"))
    assert defs == {
        "Order_fk0": 'FOREIGN KEY (referrer) REFERENCES "Order"(id) DEFERRABLE INITIALLY DEFERRED',
        "Order_fk1": "FOREIGN KEY (sku, region) REFERENCES product(sku, region) ON UPDATE SET NULL",
        "Order_fk2": "FOREIGN KEY (customer_id) REFERENCES customer(id) ON DELETE CASCADE",
    }
    assert sorted(result.foreign_keys) == sorted(defs)
    listed = [item for item in result.untranslated if item["type"] == "foreign key"]
    assert [(item["table"], item["name"]) for item in listed] == [("stray", "stray_fk0")]
    assert "nowhere" in listed[0]["reason"]
    with psycopg.connect(pg_url) as pg:
        try:
            pg.execute('INSERT INTO "Order"(customer_id) VALUES (99)')
            raise AssertionError("a row with no parent was accepted")
        except psycopg.errors.ForeignKeyViolation:
            pg.rollback()
        with pg.transaction():  # deferred, as in SQLite: a row may name its referrer before it exists
            pg.execute('INSERT INTO "Order"(id, referrer) VALUES (100, 101)')
            pg.execute('INSERT INTO "Order"(id, referrer) VALUES (101, NULL)')
        pg.execute("DELETE FROM customer WHERE id = 1")  # ON DELETE CASCADE came along
        assert pg.execute('SELECT id FROM "Order" ORDER BY id').fetchall() == [(2,), (3,), (100,), (101,)]


def test_a_foreign_key_the_source_breaks_is_added_not_valid_and_listed_with_its_count(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "broken.db", FOREIGN_KEYS,
                  ("INSERT INTO customer VALUES (?, ?)", [(1, "a")]),
                  ('INSERT INTO "Order"(id, customer_id) VALUES (?, ?)', [(1, 1), (2, 5), (3, 6), (4, None)]))
    result = Migration(source, pg_url).run()
    assert result.verified
    broken = [item for item in result.untranslated if item["name"] == "Order_fk2"]
    assert len(broken) == 1 and broken[0]["rows"] == 2 and "NOT VALID" in broken[0]["reason"]
    assert query(pg_url, "SELECT convalidated FROM pg_constraint WHERE conname = 'Order_fk2'") == [(False,)]
    assert query(pg_url, "SELECT convalidated FROM pg_constraint WHERE conname = 'Order_fk0'") == [(True,)]
    assert query(pg_url, 'SELECT count(*) FROM "Order"') == [(4,)]  # every row copied
    # A rerun adds nothing twice and still lists the broken key.
    again = Migration(source, pg_url).run()
    assert [item["rows"] for item in again.untranslated if item["name"] == "Order_fk2"] == [2]
    assert query(pg_url, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'") == [(3,)]


def test_decimal_and_boolean_columns_get_their_types_with_exact_values(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "types.db", """
        CREATE TABLE money(id INTEGER PRIMARY KEY, price DECIMAL(10, 2), rate NUMERIC(6,4), whole DECIMAL(12),
            big NUMERIC(30,10), too_fine DECIMAL(6,1), too_big DECIMAL(3,1), wordy NUMERIC(8,2),
            paid BOOLEAN, flag BOOL, fuzzy BOOLEAN);
    """, ("INSERT INTO money VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        (1, 12.34, 0.0001, 7, "12345678901234567890.0123456789", 1.25, 1.5, 1.5, 1, 0, 1),
        (2, -0.1, 1.5, -123456789012, 0.5, 2.5, 12.5, "n/a", 0, None, 2),
        (3, None, None, None, None, None, 100.5, None, None, 1, "yes"),
        (4, 99999999.99, -0.3, 0, 1e-10, 3.0, None, None, True, False, 0),
    ]))
    result = Migration(source, pg_url).run()
    columns = result.tables[0].columns
    assert {name: columns[name] for name in ("price", "rate", "whole", "paid", "flag")} == {
        "price": "numeric(10,2)", "rate": "numeric(6,4)", "whole": "numeric(12,0)", "paid": "boolean", "flag": "boolean"}
    # Kept as before and listed: more decimals than the scale, too large, text, values other than 0/1.
    assert columns["too_fine"] == "double precision" and columns["too_big"] == "double precision"
    assert columns["wordy"] == "text" and columns["fuzzy"] == "text"
    listed = {item["name"]: item["reason"] for item in result.untranslated if item["type"] == "column"}
    assert set(listed) == {"money.too_fine", "money.too_big", "money.wordy", "money.fuzzy"}
    assert "1 values are too large for it or have more than 1 decimals" in listed["money.too_fine"]
    assert "1 values are too large" in listed["money.too_big"]
    assert "not 0, 1 or NULL" in listed["money.fuzzy"] and "not numbers" in listed["money.wordy"]
    rows = query(pg_url, "SELECT price::text, rate::text, whole::text, paid, flag FROM money ORDER BY id")
    assert rows == [("12.34", "0.0001", "7", True, False), ("-0.10", "1.5000", "-123456789012", False, None),
                    (None, None, None, None, True), ("99999999.99", "-0.3000", "0", True, False)]
    # SQLite stored the long text as a double (its NUMERIC affinity): the numeric holds that double's value.
    assert columns["big"] == "numeric(30,10)"
    assert query(pg_url, "SELECT big::text FROM money ORDER BY id") == [
        ("12345678901234567000.0000000000",), ("0.5000000000",), (None,), ("0.0000000001",)]
    with psycopg.connect(pg_url) as pg:  # the application can use the types
        assert pg.execute("SELECT sum(price) FROM money WHERE paid").fetchone()[0] == Decimal("100000012.33")


CONSTRAINTS = """
    CREATE TABLE item(
        id INTEGER PRIMARY KEY DEFAULT 7,
        name TEXT NOT NULL DEFAULT 'unnamed' CHECK (length(name) BETWEEN 1 AND 20),
        qty INTEGER DEFAULT 0 CONSTRAINT qty_sane CHECK (qty >= 0 AND qty NOT NULL),
        price REAL DEFAULT -1.5,
        size TEXT DEFAULT 'M' CHECK (size IN ('S', 'M', 'L') OR size IS NULL),
        paid BOOLEAN DEFAULT FALSE CHECK (paid IN (0, 1)),
        weight REAL CONSTRAINT weight_known NOT NULL DEFAULT 1 CHECK (weight > 0),
        created TEXT DEFAULT CURRENT_TIMESTAMP,
        changed TEXT DEFAULT (datetime('now')),
        day TEXT DEFAULT CURRENT_DATE,
        local TEXT DEFAULT (datetime('now', 'localtime')),
        email TEXT COLLATE NOCASE UNIQUE,
        padded TEXT COLLATE RTRIM,
        born TEXT CHECK (julianday(born) > 2400000),
        code TEXT CHECK (code LIKE 'A%'),
        CHECK (qty < 1000 OR name <> 'bulk'),
        CONSTRAINT chained CHECK (qty < 1000 = 1)
    );
"""


def test_defaults_checks_and_nocase_are_translated_and_the_rest_listed(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "constraints.db", CONSTRAINTS,
                  ("INSERT INTO item(id, name, qty, email) VALUES (?, ?, ?, ?)", [(1, "a", 5, "Ann@Example.com")]))
    result = Migration(source, pg_url).run()
    assert result.verified
    listed = {(item["type"], item["name"]): item for item in result.untranslated}
    assert set(listed) == {("default", "item.id"), ("default", "item.local"), ("collation", "item.padded"),
                           ("check", "item"), ("check", "chained")}
    assert listed[("default", "item.local")]["reason"] == "uses the SQLite function datetime()"
    not_checks = sorted(item["reason"] for item in result.untranslated if item["type"] == "check")
    assert not_checks == ["chains comparisons, which SQLite and PostgreSQL rank differently",
                          "uses LIKE (its case rules differ in PostgreSQL)", "uses the SQLite function julianday()"]
    assert listed[("collation", "item.padded")]["sql"] == "RTRIM"
    with psycopg.connect(pg_url) as pg:
        # Every default works: an INSERT naming only what SQLite would require.
        row = pg.execute("INSERT INTO item(email) VALUES ('bob@x.org') "
                         "RETURNING id, name, qty, price, size, paid, created, changed, day, local").fetchone()
        now = pg.execute("SELECT to_char(now() AT TIME ZONE 'utc', 'YYYY-MM-DD')").fetchone()[0]
        assert row[:6] == (2, "unnamed", 0, -1.5, "M", False)
        assert row[6].startswith(now) and len(row[6]) == 19 and row[7] == row[6] and row[8] == now
        assert row[9] is None
        for bad in ("INSERT INTO item(name) VALUES ('')", "INSERT INTO item(qty) VALUES (-1)",
                    "INSERT INTO item(size) VALUES ('XL')", "INSERT INTO item(qty, name) VALUES (2000, 'bulk')"):
            try:
                pg.execute(bad)
                raise AssertionError(f"accepted: {bad}")
            except psycopg.errors.CheckViolation:
                pg.rollback()
        pg.execute("INSERT INTO item(qty, name, size) VALUES (2000, 'crate', NULL)")
        # NOCASE: equal ignoring case, unique ignoring case, as in SQLite.
        assert pg.execute("SELECT id FROM item WHERE email = 'ANN@example.COM'").fetchone() == (1,)
        try:
            pg.execute("INSERT INTO item(email) VALUES ('ann@EXAMPLE.com')")
            raise AssertionError("a NOCASE-duplicate was accepted")
        except psycopg.errors.UniqueViolation:
            pg.rollback()
        names = {name for (name,) in pg.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid = 'item'::regclass")}
        assert "qty_sane" in names and "weight_known" not in names and len(names) == 5  # paid's check: its type


def test_a_check_the_copied_rows_break_is_added_not_valid_and_listed(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "ignored.db"
    connection = apsw.Connection(str(source))
    connection.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0));"
                       "PRAGMA ignore_check_constraints = ON; INSERT INTO t(n) VALUES (1), (-1), (-2), (NULL);")
    connection.close()
    result = Migration(source, pg_url).run()
    broken = [item for item in result.untranslated if item["type"] == "check"]
    assert len(broken) == 1 and broken[0]["rows"] == 2 and broken[0]["sql"] == "n > 0"
    assert query(pg_url, "SELECT convalidated FROM pg_constraint WHERE contype = 'c' AND conrelid = 't'::regclass") == [(False,)]
    assert query(pg_url, "SELECT count(*) FROM t") == [(4,)]


def test_the_cli_lists_what_it_did_not_translate_in_its_summary_and_json(tmp_path: Path, pg_url: str) -> None:
    source = make(tmp_path / "cli.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, born TEXT CHECK (julianday(born) > 0));")
    argv = [sys.executable, "-m", "desktop_app", "migrate", str(source), "--to"]
    shown = subprocess.run([*argv, pg_url, "--schema", "text_run"], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    assert shown.returncode == 0, shown.stderr
    assert "not translated: check t (julianday(born) > 0): uses the SQLite function julianday()" in shown.stdout
    ran = subprocess.run([*argv, pg_url, "--json"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["untranslated"] == [{"type": "check", "name": "t", "table": "t",
                                                      "sql": "julianday(born) > 0",
                                                      "reason": "uses the SQLite function julianday()"}]
