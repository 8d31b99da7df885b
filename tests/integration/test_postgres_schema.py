"""migrate gives PostgreSQL a schema the application can use: keys that number themselves, ...

Against the throwaway server of tests/postgres_server.py (`pg_url`)."""

from __future__ import annotations

from pathlib import Path

import apsw
import psycopg

from desktop_app.core.postgres.migrate import Migration


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql, params).fetchall()


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
    """, ("INSERT INTO alias VALUES (?, ?)", [(1, "a"), (7, "b"), (41, "c")]),
        ('INSERT INTO "Mixed Case" VALUES (?, ?)', [(3, "a"), (5, "b")]),
        ("INSERT INTO plain_int VALUES (?, ?)", [(10, "a"), (200, "b")]),
        ("INSERT INTO no_rowid VALUES (?, ?)", [(2, "a"), (9, "b")]),
        ("INSERT INTO negative VALUES (?, ?)", [(-5, "a"), (-1, "b")]),
        ("INSERT INTO pair VALUES (?, ?, ?)", [(1, 1, "a")]),
        ("INSERT INTO texty VALUES (?, ?)", [("k", "a")]))
    result = Migration(source, pg_url).run()
    assert result.verified
    expected = {"alias": 42, "Mixed Case": 6, "plain_int": 201, "no_rowid": 10, "empty": 1, "negative": 1}
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
                          "negative": "id"}  # not the two-column key, not the text key
    # An explicit id still goes in (BY DEFAULT, not ALWAYS), as with SQLite.
    assert query(pg_url, "INSERT INTO alias(id, name) VALUES (1000, 'x') RETURNING id") == [(1000,)]
