"""Edits by key on real files: one transaction each, constraint errors in plain words, undo, WITHOUT ROWID
by primary key, views refused, and the session's own write connection (no flag, no data_changed)."""

from __future__ import annotations

import threading
from pathlib import Path

import apsw
import pytest

from desktop_app.core import edit
from desktop_app.core.database import connect_write
from desktop_app.core.errors import DatabaseReadOnly
from desktop_app.core.keyset import describe
from desktop_app.core.session import Session
from tests.scenarios import run_bounded, wait_for


@pytest.fixture
def edit_db(db_path: Path) -> Path:
    connection = connect_write(db_path)
    connection.execute(
        """
        CREATE TABLE people(name TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0), photo BLOB);
        INSERT INTO people VALUES ('ada', 36, x'89504e47'), ('bob', 41, NULL), ('cy', 7, NULL);
        CREATE TABLE pairs(a TEXT, b INTEGER, note TEXT NOT NULL, PRIMARY KEY (a, b)) WITHOUT ROWID;
        INSERT INTO pairs VALUES ('x', 1, 'one'), ('x', 2, 'two'), ('y', 1, 'three');
        CREATE TABLE counters(id INTEGER PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
        CREATE VIEW adults AS SELECT * FROM people WHERE age >= 18;
        """
    )
    connection.close()
    return db_path


@pytest.fixture
def connection(edit_db: Path):
    connection = connect_write(edit_db)
    yield connection
    connection.close()


def rows(connection: apsw.Connection, sql: str) -> list[tuple]:
    return connection.execute(sql).fetchall()


def test_update_by_rowid_and_undo(connection) -> None:
    relation = describe(connection, "people")
    assert relation.key == ("rowid",) and edit.not_editable_reason(relation) == ""
    key = (2,)  # bob's rowid
    change = edit.update_cell(connection, relation, key, "age", 41, 42)
    assert rows(connection, "SELECT age FROM people WHERE name = 'bob'") == [(42,)]
    assert change.describe() == "changed age of 1 row in people"
    edit.undo(connection, relation, change)
    assert rows(connection, "SELECT age FROM people WHERE name = 'bob'") == [(41,)]
    assert connection.getautocommit()  # no transaction left open


def test_constraint_errors_are_plain_and_write_nothing(connection) -> None:
    relation = describe(connection, "people")
    with pytest.raises(edit.ConstraintFailed, match="UNIQUE constraint failed: people.name"):
        edit.update_cell(connection, relation, (2,), "name", "bob", "ada")
    with pytest.raises(edit.ConstraintFailed, match="CHECK constraint failed"):
        edit.update_cell(connection, relation, (2,), "age", 41, -1)
    with pytest.raises(edit.ConstraintFailed, match="NOT NULL constraint failed: people.name"):
        edit.update_cell(connection, relation, (2,), "name", "bob", None)
    assert rows(connection, "SELECT name, age FROM people ORDER BY rowid") == [("ada", 36), ("bob", 41), ("cy", 7)]
    assert connection.getautocommit()


def test_a_row_changed_elsewhere_is_not_overwritten(connection, edit_db: Path) -> None:
    relation = describe(connection, "people")
    other = connect_write(edit_db)
    other.execute("UPDATE people SET age = 50 WHERE rowid = 2")
    other.close()
    with pytest.raises(edit.EditConflict, match="changed or was deleted since it was shown"):
        edit.update_cell(connection, relation, (2,), "age", 41, 42)
    assert rows(connection, "SELECT age FROM people WHERE rowid = 2") == [(50,)]


def test_insert_and_delete_with_undo_keep_rowids(connection) -> None:
    relation = describe(connection, "people")
    with pytest.raises(edit.ConstraintFailed, match="UNIQUE"):  # name NOT NULL gets '' twice: the second clashes
        edit.insert_row(connection, relation)
        edit.insert_row(connection, relation)
    added = next(iter(rows(connection, "SELECT rowid, name, age FROM people WHERE name = ''")))
    assert added[2] is None  # only NOT NULL columns get a neutral value
    connection.execute("DELETE FROM people WHERE name = ''")
    inserted = edit.insert_row(connection, relation, {"name": "dee", "age": 3})
    assert inserted.keys == (rows(connection, "SELECT rowid FROM people WHERE name = 'dee'")[0],)
    deleted = edit.delete_rows(connection, relation, [(1,), (3,)])
    assert deleted.describe() == "deleted 2 rows in people"
    assert [r[0] for r in rows(connection, "SELECT name FROM people ORDER BY rowid")] == ["bob", "dee"]
    edit.undo(connection, relation, deleted)
    assert rows(connection, "SELECT rowid, name, age, photo FROM people WHERE rowid IN (1, 3) ORDER BY rowid") == [
        (1, "ada", 36, b"\x89PNG"),
        (3, "cy", 7, None),
    ]
    edit.undo(connection, relation, inserted)
    assert rows(connection, "SELECT count(*) FROM people WHERE name = 'dee'") == [(0,)]


def test_without_rowid_is_edited_by_its_primary_key(connection) -> None:
    relation = describe(connection, "pairs")
    assert relation.kind == "without rowid" and relation.key == ("a", "b")
    key = ("y", 1)
    change = edit.update_cell(connection, relation, key, "note", "three", "drei")
    assert rows(connection, "SELECT note FROM pairs WHERE a = 'y' AND b = 1") == [("drei",)]
    moved = edit.update_cell(connection, relation, key, "b", 1, 9)  # the key itself: undo follows the new key
    assert moved.keys == (("y", 9),)
    edit.undo(connection, relation, moved)
    edit.undo(connection, relation, change)
    assert rows(connection, "SELECT * FROM pairs WHERE a = 'y'") == [("y", 1, "three")]
    counters = describe(connection, "counters")
    first, second = edit.insert_row(connection, counters), edit.insert_row(connection, counters)
    assert (first.keys, second.keys) == (((1,),), ((2,),))  # the next number, and n NOT NULL gets 0
    assert rows(connection, "SELECT * FROM counters") == [(1, 0), (2, 0)]


def test_views_and_virtual_tables_are_refused_with_a_reason(connection) -> None:
    view = describe(connection, "adults")
    assert "is a view" in edit.not_editable_reason(view)
    with pytest.raises(edit.EditRefused, match="is a view"):
        edit.update_cell(connection, view, (1,), "age", 36, 37)
    connection.execute("CREATE VIRTUAL TABLE docs USING fts5(body)")
    assert "virtual table" in edit.not_editable_reason(describe(connection, "docs"))


def test_text_becomes_a_number_only_where_the_cell_held_one() -> None:
    assert edit.value_from_text("42", 41) == 42
    assert edit.value_from_text("4.5", 41) == 4.5
    assert edit.value_from_text("n/a", 41) == "n/a"
    assert edit.value_from_text("007", "abc") == "007"
    assert edit.value_from_text("", None) == ""
    assert edit.edit_text(None) == "" and edit.edit_text(0.1) == "0.1"


def test_session_writes_on_its_own_connection_and_the_sampler_raises_no_flag(edit_db: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(edit_db, read_only=False, interval=0.02)
        try:
            changes, samples = [], []
            session.events.data_changed.connect(changes.append)
            session.events.sample.connect(lambda sample, _activity: samples.append(sample))
            relation = await session.browse(lambda c: describe(c, "people"))
            threads: list[str] = []

            def work(connection: apsw.Connection) -> edit.Change:
                threads.append(threading.current_thread().name)
                assert not connection.readonly("main")  # the write connection, never a read one
                return edit.update_cell(connection, relation, (1,), "age", 36, 37)

            for _ in range(3):
                change = await session.write(work)
                await session.write(lambda c, change=change: edit.undo(c, relation, change))
            assert all(name.startswith("pulse-write") for name in threads) and len(set(threads)) == 1
            seen = len(samples)
            await wait_for(lambda: len(samples) >= seen + 5, 10)
            assert changes == []  # the app's own edits are not another connection's writes
            assert not any(sample.external_write for sample in samples)
            other = connect_write(edit_db)  # control: an outside write is still seen
            other.execute("UPDATE people SET age = 1 WHERE rowid = 3")
            other.close()
            await wait_for(lambda: bool(changes), 10)
        finally:
            await session.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("pulse-write")]

    run_bounded(scenario())


def test_a_read_only_session_refuses_to_write(edit_db: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(edit_db, read_only=True, interval=0.05)
        try:
            with pytest.raises(DatabaseReadOnly, match="read-only"):
                await session.write(lambda c: None)
        finally:
            await session.close()

    run_bounded(scenario())
