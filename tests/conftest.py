"""Shared fixtures: real SQLite files in tmp_path; Qt always offscreen unless a test asks for X."""

from __future__ import annotations

import os
from pathlib import Path

import apsw
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's real settings: config and data directories point into a temp folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))  # the window's log file
    return home


def read_rows(path: Path, sql: str) -> list[tuple]:
    """The rows of `sql` on the file at `path`, through a read-only connection of its own."""
    connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def write_database(path: Path, sql: str, bindings: tuple = ()) -> Path:
    """A new database at `path`, made by our own `create_database`, with `sql` run on a write connection."""
    from desktop_app.core.database import connect_write, create_database

    create_database(path)
    connection = connect_write(path)
    try:
        connection.execute(sql, bindings)
    finally:
        connection.close()
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh WAL database made by our own `create_database`, with a small `readings` table."""
    from desktop_app.core.database import connect_write, create_database

    path = tmp_path / "pulse.db"
    create_database(path)
    connection = connect_write(path)
    connection.execute(
        "CREATE TABLE readings(id INTEGER PRIMARY KEY, device TEXT NOT NULL, value REAL) STRICT;"
        "CREATE INDEX readings_device ON readings(device);"
    )
    with connection:
        connection.executemany(
            "INSERT INTO readings(device, value) VALUES (?, ?)",
            [(f"dev{i % 7}", i * 0.5) for i in range(500)],
        )
    connection.close()
    return path


@pytest.fixture
def delete_mode_db(tmp_path: Path) -> Path:
    """A rollback-journal (DELETE mode) database built with plain settings, as many apps leave them."""
    path = tmp_path / "legacy.db"
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    with connection:
        connection.executemany("INSERT INTO notes(body) VALUES (?)", [(f"note {i}",) for i in range(200)])
    connection.close()
    return path


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    """DELETE journal, and a foreign key with no index: what the audit must find."""
    path = tmp_path / "shop.db"
    connection = apsw.Connection(str(path))
    connection.execute(
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT) STRICT;"
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id)) STRICT;"
        "INSERT INTO customers(name) VALUES ('a'); INSERT INTO orders(customer_id) VALUES (1);"
    )
    connection.close()
    return path


@pytest.fixture
def outbox_db(tmp_path: Path) -> Path:
    """An application's outbox (WAL): three messages waiting (channels a, a, b), none sent."""
    path = tmp_path / "app.db"
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE outbox(id INTEGER PRIMARY KEY, channel TEXT, sent_at REAL)")
    connection.execute("INSERT INTO outbox(channel) VALUES ('a'), ('a'), ('b')")
    connection.close()
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (tests/postgres_server.py); fails when it cannot start."""
    from tests.postgres_server import running_server

    try:
        with running_server() as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(f"the test PostgreSQL server could not start: {exc}")


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A URL to a fresh, empty PostgreSQL database for one test."""
    return postgres_server.url(postgres_server.new_database())
