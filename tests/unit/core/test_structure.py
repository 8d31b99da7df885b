"""Creating and changing structure on real files: builders, the 12-step rebuild, its checks, and undo."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_write
from desktop_app.core.errors import DatabaseReadOnly
from desktop_app.core.session import Session
from desktop_app.core.structure.apply import ForeignKeyViolation, apply, change
from desktop_app.core.structure.model import (
    Column,
    ForeignKey,
    Index,
    StructureError,
    Table,
    create_table_sql,
)
from desktop_app.core.structure.parse import parse_table, read_table
from desktop_app.core.structure.plan import (
    REBUILD_NO_UNDO,
    Plan,
    plan_create_index,
    plan_create_table,
    plan_drop,
    plan_modify,
    plan_rename_column,
    plan_rename_table,
    snapshot,
)

ODD = 'Order "Lines"'  # a name with a space and a double quote
SCHEMA = r'''
CREATE TABLE c(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) > 0));
CREATE TABLE b(id INTEGER PRIMARY KEY, c_id INTEGER REFERENCES c(id) ON DELETE CASCADE, note TEXT DEFAULT 'n/a', extra BLOB);
CREATE TABLE a(id INTEGER PRIMARY KEY, b_id INTEGER NOT NULL, amount REAL, FOREIGN KEY (b_id) REFERENCES b(id));
CREATE TABLE "Order ""Lines""" ("order id" INTEGER, "line ""no""" INTEGER, qty INT CONSTRAINT positive CHECK (qty > 0),
    PRIMARY KEY ("order id", "line ""no""")) WITHOUT ROWID;
CREATE INDEX b_note ON b(note);
CREATE VIEW b_notes AS SELECT id, note FROM b;
CREATE TABLE log(what TEXT);
CREATE TRIGGER b_logged AFTER INSERT ON b BEGIN INSERT INTO log VALUES (new.note); END;
INSERT INTO c(name) VALUES ('one'), ('two');
INSERT INTO b(c_id, note) VALUES (1, 'first'), (2, 'second');
INSERT INTO a(b_id, amount) VALUES (1, 2.5), (2, 4.0);
INSERT INTO "Order ""Lines""" VALUES (1, 1, 5), (1, 2, 7);
'''


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    connection = connect_write(path, create=True)
    connection.execute(SCHEMA)
    connection.close()
    return path


@pytest.fixture
def db(shop: Path):
    connection = connect_write(shop)
    yield connection
    connection.close()


def columns(connection: apsw.Connection, table: str) -> list[tuple]:
    return [tuple(row) for row in connection.execute("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?)", (table,))]


def rows(connection: apsw.Connection, sql: str, *bindings: object) -> list[tuple]:
    return [tuple(row) for row in connection.execute(sql, bindings)]


def run(connection: apsw.Connection, make) -> object:
    """Make a plan from a fresh snapshot and apply it; returns the plan."""
    plan = make(snapshot(connection))
    apply(connection, plan)
    return plan


# Builders ---------------------------------------------------------------------------------------------------
def test_create_table_quotes_every_name_and_writes_each_constraint(db: apsw.Connection) -> None:
    table = Table(
        'Invoice "Items"',
        (
            Column("id", "INTEGER", primary_key=True, autoincrement=True),
            Column("name with space", "TEXT", not_null=True, unique=True, default="'x'", collate="NOCASE",
                   check="length(\"name with space\") < 20"),
            Column("c", "INTEGER", references=ForeignKey("c", ("id",), on_delete="SET NULL", on_update="CASCADE")),
        ),
        strict=True,
    )
    plan = run(db, lambda snap: plan_create_table(snap, table))
    assert plan.statements[0].startswith('CREATE TABLE "Invoice ""Items""" (')
    assert columns(db, 'Invoice "Items"') == [
        ("id", "INTEGER", 0, None, 1), ("name with space", "TEXT", 1, "'x'", 0), ("c", "INTEGER", 0, None, 0)
    ]
    keys = rows(db, "SELECT \"table\", \"to\", on_update, on_delete FROM pragma_foreign_key_list('Invoice \"Items\"')")
    assert keys == [("c", "id", "CASCADE", "SET NULL")]
    with pytest.raises(apsw.ConstraintError, match="cannot store TEXT value in INTEGER column"):  # STRICT
        db.execute("INSERT INTO \"Invoice \"\"Items\"\"\"(\"name with space\", c) VALUES ('ok', 'abc')")


def test_composite_key_without_rowid_and_index_with_expression_and_where(db: apsw.Connection) -> None:
    table = Table("pairs", (Column("a", "TEXT", primary_key=True), Column("b", "INT", primary_key=True), Column("v")),
                  without_rowid=True, key_order=("b", "a"))
    run(db, lambda snap: plan_create_table(snap, table))
    assert rows(db, "SELECT name, pk FROM pragma_table_info('pairs') WHERE pk > 0 ORDER BY pk") == [("b", 1), ("a", 2)]
    assert rows(db, "SELECT wr FROM pragma_table_list WHERE name = 'pairs'") == [(1,)]
    index = Index("pairs by v", "pairs", ("lower(v)", "a DESC"), unique=True, where="v IS NOT NULL")
    plan = run(db, lambda snap: plan_create_index(snap, index, ("a", "b", "v")))
    assert plan.statements == ('CREATE UNIQUE INDEX "pairs by v" ON pairs (lower(v), a DESC) WHERE v IS NOT NULL',)
    assert rows(db, "SELECT \"unique\", partial FROM pragma_index_list('pairs') WHERE name = 'pairs by v'") == [(1, 1)]


@pytest.mark.parametrize(("table", "message"), [
    (Table("t", (Column("a", "VARCHAR(9)"),), strict=True), "STRICT table takes only"),
    (Table("t", (Column("a", "TEXT", primary_key=True, autoincrement=True),)), "AUTOINCREMENT needs"),
    (Table("t", (Column("a"), Column("A"))), "Two columns are named"),
    (Table("t", (Column("a", default="1); DROP TABLE c; --"),)), "cannot contain ';'"),
    (Table("t", (Column("a", check="(a > 1"),)), "parentheses"),
    (Table("t", (Column("a"),), without_rowid=True), "needs a primary key"),
    (Table("sqlite_x", (Column("a"),)), "reserved"),
])
def test_bad_definitions_get_a_clear_error(table: Table, message: str) -> None:
    with pytest.raises(StructureError, match=message):
        create_table_sql(table)


def test_a_table_read_back_creates_the_same_table(db: apsw.Connection) -> None:
    for name in ("a", "b", "c", ODD):
        table = read_table(db, name)
        copy = apsw.Connection(":memory:")
        copy.execute(create_table_sql(table))
        assert columns(copy, name) == columns(db, name)
        keys = "SELECT * FROM pragma_foreign_key_list(?)"
        assert rows(copy, keys, name) == rows(db, keys, name)
    assert parse_table(str(rows(db, "SELECT sql FROM sqlite_schema WHERE name = 'c'")[0][0])).columns[0].autoincrement
    assert read_table(db, ODD).columns[2].extra == "CONSTRAINT positive CHECK (qty > 0)"


@pytest.mark.parametrize("sql", [
    "CREATE TABLE [Order Details] ([OrderID] INTEGER NOT NULL, [UnitPrice] NUMERIC NOT NULL DEFAULT 0, "
    "PRIMARY KEY (\"OrderID\",\"UnitPrice\"), CHECK ([UnitPrice]>=(0)), "
    "FOREIGN KEY ([OrderID]) REFERENCES [Orders] ([OrderID]) ON DELETE NO ACTION ON UPDATE NO ACTION)",
    "CREATE TABLE t (a INTEGER PRIMARY KEY ASC, b TEXT NOT NULL ON CONFLICT REPLACE, c NULL, "
    "d DOUBLE PRECISION DEFAULT -1.5e3, e AS (a*2) VIRTUAL, f GENERATED ALWAYS AS (b||'x') STORED)",
    "CREATE TABLE t (a, b, c, CONSTRAINT pk PRIMARY KEY (a), CONSTRAINT u UNIQUE (b, c) ON CONFLICT IGNORE)",
    "CREATE TABLE IF NOT EXISTS main.\"x y\" (\"a\"\"b\" TEXT DEFAULT 'it''s, (ok)' CHECK (\"a\"\"b\" <> ''), "
    "z INT REFERENCES \"x y\" ON DELETE SET DEFAULT NOT DEFERRABLE, w BLOB DEFAULT x'00ff')",
    "CREATE TABLE t(a INTEGER CONSTRAINT k PRIMARY KEY, b TEXT CONSTRAINT nn NOT NULL DEFAULT (datetime('now')) COLLATE NOCASE)",
    "create table t(a integer primary key autoincrement, b unique not null check(b>0) references t(a) match simple on update cascade)",
    "CREATE TABLE t(-- a comment\n a INTEGER /* another */ PRIMARY KEY, b ANY) STRICT",
])
def test_definitions_as_people_write_them_read_back_to_the_same_table(sql: str) -> None:
    def shape(connection: apsw.Connection) -> tuple:
        name = str(connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'").fetchall()[0][0])
        return tuple(rows(connection, f"SELECT * FROM pragma_{pragma}(?)", name)
                     for pragma in ("table_xinfo", "foreign_key_list", "index_list"))

    original, copy = apsw.Connection(":memory:"), apsw.Connection(":memory:")
    original.execute(sql)
    copy.execute(create_table_sql(parse_table(sql)))
    assert shape(copy) == shape(original)


# ALTER TABLE and the rebuild ------------------------------------------------------------------------------------
def test_a_column_rename_carries_the_view_the_trigger_and_the_index(db: apsw.Connection) -> None:
    plan = run(db, lambda snap: plan_rename_column(snap, "b", "note", "remark"))
    assert plan.statements == ("ALTER TABLE b RENAME COLUMN note TO remark",)
    db.execute("DELETE FROM log; INSERT INTO b(c_id, remark) VALUES (1, 'third')")
    assert rows(db, "SELECT * FROM b_notes ORDER BY id") == [(1, "first"), (2, "second"), (3, "third")]
    assert rows(db, "SELECT what FROM log") == [("third",)]
    assert rows(db, "SELECT name FROM pragma_index_info('b_note')") == [("remark",)]


def test_a_rebuild_drops_and_reorders_columns_and_keeps_view_trigger_index_and_keys(db: apsw.Connection) -> None:
    current = read_table(db, "b")
    wanted = replace(current, columns=(current.columns[0], current.columns[2], current.columns[1]))  # drop extra
    plan = run(db, lambda snap: plan_modify(snap, current, wanted))
    assert plan.rebuild == "b" and plan.undo is None and plan.no_undo == REBUILD_NO_UNDO
    assert "Column extra and its values are removed." in plan.notes
    assert [c[0] for c in columns(db, "b")] == ["id", "note", "c_id"]
    assert rows(db, "SELECT id, note, c_id FROM b ORDER BY id") == [(1, "first", 1), (2, "second", 2)]
    assert rows(db, "SELECT * FROM b_notes ORDER BY id") == [(1, "first"), (2, "second")]
    assert rows(db, "SELECT name FROM sqlite_schema WHERE tbl_name = 'b' AND type IN ('index', 'trigger') ORDER BY name") == \
        [("b_logged",), ("b_note",)]
    db.execute("DELETE FROM log; INSERT INTO b(c_id, note) VALUES (1, 'third')")
    assert rows(db, "SELECT what FROM log") == [("third",)]
    assert rows(db, "PRAGMA foreign_key_check") == []
    db.execute("PRAGMA foreign_keys = ON")  # the chain a -> b -> c still holds: a's key refuses, b's cascades
    with pytest.raises(apsw.ConstraintError, match="FOREIGN KEY"):
        db.execute("DELETE FROM c WHERE id = 2")  # would cascade to b 2, which a row 2 needs
    db.execute("DELETE FROM a WHERE b_id = 2; DELETE FROM c WHERE id = 2")
    assert rows(db, "SELECT id FROM b ORDER BY id") == [(1,), (3,)]


def test_a_rebuild_with_a_rename_and_a_type_change_on_a_without_rowid_table(db: apsw.Connection) -> None:
    current = read_table(db, ODD)
    qty = replace(current.columns[2], name="quantity", type="REAL")
    wanted = replace(current, columns=(*current.columns[:2], qty))
    plan = run(db, lambda snap: plan_modify(snap, current, wanted))
    assert plan.statements[0] == 'ALTER TABLE "Order ""Lines""" RENAME COLUMN qty TO quantity'
    assert rows(db, 'SELECT * FROM "Order ""Lines""" ORDER BY 2') == [(1, 1, 5.0), (1, 2, 7.0)]
    assert rows(db, "SELECT wr FROM pragma_table_list WHERE name = ?", ODD) == [(1,)]
    with pytest.raises(apsw.ConstraintError):  # the named CHECK came along, renamed by SQLite
        db.execute('INSERT INTO "Order ""Lines""" VALUES (2, 1, -1)')


def test_a_trigger_and_a_view_follow_a_rename_made_in_the_same_rebuild(db: apsw.Connection) -> None:
    current = read_table(db, "b")
    note = replace(current.columns[2], name="remark", type="VARCHAR(40)")
    wanted = replace(current, columns=(current.columns[0], note, current.columns[1]))  # extra dropped
    plan = run(db, lambda snap: plan_modify(snap, current, wanted))
    assert plan.rebuild == "b"
    assert "new.remark" in rows(db, "SELECT sql FROM sqlite_schema WHERE name = 'b_logged'")[0][0]
    db.execute("DELETE FROM log; INSERT INTO b(c_id, remark) VALUES (1, 'third')")
    assert rows(db, "SELECT what FROM log") == [("third",)]
    assert rows(db, "SELECT * FROM b_notes ORDER BY id") == [(1, "first"), (2, "second"), (3, "third")]
    assert columns(db, "b")[1] == ("remark", "VARCHAR(40)", 0, "'n/a'", 0)


def test_a_new_not_null_column_without_default_fails_in_words_on_a_table_with_rows(db: apsw.Connection) -> None:
    current = read_table(db, "c")
    wanted = replace(current, columns=(Column("code", "TEXT", not_null=True), *current.columns))
    plan = plan_modify(snapshot(db), current, wanted)
    with pytest.raises(StructureError, match=r"^INSERT INTO new_c .*NOT NULL constraint failed: new_c.code. Nothing was changed"):
        apply(db, plan)
    assert [c[0] for c in columns(db, "c")] == ["id", "name"]


def test_renaming_a_column_of_a_composite_key_keeps_its_order_and_is_native(db: apsw.Connection) -> None:
    table = Table("pairs", (Column("a", "TEXT", primary_key=True), Column("b", "INT", primary_key=True)),
                  without_rowid=True, key_order=("B", "a"))
    run(db, lambda snap: plan_create_table(snap, table))
    plan = run(db, lambda snap: plan_rename_column(snap, "pairs", "b", "second"))
    assert plan.statements == ("ALTER TABLE pairs RENAME COLUMN b TO second",)
    assert rows(db, "SELECT name FROM pragma_table_info('pairs') WHERE pk > 0 ORDER BY pk") == [("second",), ("a",)]


def test_a_rebuild_keeps_foreign_keys_on_when_they_were_on(db: apsw.Connection) -> None:
    db.execute("PRAGMA foreign_keys = ON")
    current = read_table(db, "b")
    run(db, lambda snap: plan_modify(snap, current, replace(current, columns=current.columns[:3])))
    assert rows(db, "PRAGMA foreign_keys") == [(1,)]
    assert rows(db, "SELECT count(*) FROM a") == [(2,)]  # DROP TABLE b did not delete a's rows


def test_dropping_a_column_an_index_or_view_uses_is_refused_naming_it(db: apsw.Connection) -> None:
    db.execute("DROP TRIGGER b_logged")
    current = read_table(db, "b")
    without_note = replace(current, columns=tuple(c for c in current.columns if c.name != "note"))
    with pytest.raises(StructureError, match="index b_note uses the column note"):
        plan_modify(snapshot(db), current, without_note)
    db.execute("DROP INDEX b_note")
    with pytest.raises(StructureError, match="view b_notes would no longer work"):
        plan_modify(snapshot(db), current, without_note)


def test_a_rebuild_that_breaks_a_foreign_key_rolls_back_and_leaves_the_file_identical(shop: Path) -> None:
    connection = connect_write(shop)
    connection.execute("PRAGMA journal_mode = DELETE")
    current = read_table(connection, "a")
    amount = replace(current.columns[2], references=ForeignKey("c"))  # amounts 2.5 and 4.0 are no ids of c
    plan = plan_modify(snapshot(connection), current, replace(current, columns=(*current.columns[:2], amount)))
    connection.close()
    before = hashlib.sha256(shop.read_bytes()).hexdigest()  # no connection is open on the file here
    connection = connect_write(shop)
    with pytest.raises(ForeignKeyViolation, match=r"2 foreign keys.*a row 1 → c; a row 2 → c"):
        apply(connection, plan)
    assert [c[0] for c in columns(connection, "a")] == ["id", "b_id", "amount"]
    connection.close()
    assert hashlib.sha256(shop.read_bytes()).hexdigest() == before


def test_a_failure_midway_leaves_the_connections_settings_as_they_were(db: apsw.Connection) -> None:
    db.execute("PRAGMA foreign_keys = ON")
    broken = Plan("Rebuild table log", ("PRAGMA legacy_alter_table = ON", "ALTER TABLE missing RENAME TO log"), rebuild="log")
    with pytest.raises(StructureError, match="no such table: missing"):
        apply(db, broken)
    assert rows(db, "PRAGMA legacy_alter_table") == [(0,)]
    assert rows(db, "PRAGMA foreign_keys") == [(1,)]


def test_a_plan_made_before_another_change_is_refused(db: apsw.Connection) -> None:
    plan = plan_rename_table(snapshot(db), "log", "journal")
    db.execute("CREATE TABLE later(x)")
    with pytest.raises(StructureError, match="schema changed since"):
        apply(db, plan)
    assert rows(db, "SELECT name FROM sqlite_schema WHERE name = 'log'") == [("log",)]


def test_adding_a_column_is_native_when_sqlite_allows_and_a_rebuild_otherwise(db: apsw.Connection) -> None:
    current = read_table(db, "c")
    plain = plan_modify(snapshot(db), current, replace(current, columns=(*current.columns, Column("x", "TEXT", default="'q'"))))
    assert plain.statements == ("ALTER TABLE c ADD COLUMN x TEXT DEFAULT 'q'",) and plain.undo is not None
    unique = plan_modify(snapshot(db), current, replace(current, columns=(*current.columns, Column("x", "TEXT", unique=True))))
    assert unique.rebuild == "c"
    db.execute("DELETE FROM c WHERE id = 2")  # AUTOINCREMENT's counter (2) survives the rebuild
    apply(db, unique)
    assert rows(db, "INSERT INTO c(name) VALUES ('three') RETURNING id") == [(3,)]


# Undo ----------------------------------------------------------------------------------------------------------
def test_undo_of_create_rename_and_drop(db: apsw.Connection) -> None:
    created = run(db, lambda snap: plan_create_table(snap, Table("fresh", (Column("x"),))))
    assert created.undo is not None
    renamed = run(db, lambda snap: plan_rename_table(snap, "fresh", "fresh name"))
    assert renamed.undo is not None
    apply(db, renamed.undo)
    assert rows(db, "SELECT name FROM sqlite_schema WHERE name LIKE 'fresh%'") == [("fresh",)]
    apply(db, created.undo)
    assert rows(db, "SELECT name FROM sqlite_schema WHERE name LIKE 'fresh%'") == []

    dropped = run(db, lambda snap: plan_drop(snap, "b_note"))
    assert dropped.undo is not None
    apply(db, dropped.undo)
    assert rows(db, "SELECT sql FROM sqlite_schema WHERE name = 'b_note'") == [("CREATE INDEX b_note ON b(note)",)]


def test_undo_of_a_create_is_refused_once_the_table_has_rows(db: apsw.Connection) -> None:
    created = run(db, lambda snap: plan_create_table(snap, Table("fresh", (Column("x"),))))
    db.execute("INSERT INTO fresh VALUES (1)")
    assert created.undo is not None
    with pytest.raises(StructureError, match="fresh has rows now"):
        apply(db, created.undo)
    assert rows(db, "SELECT x FROM fresh") == [(1,)]


def test_drop_table_names_what_depends_on_it_and_says_whether_it_can_be_undone(db: apsw.Connection) -> None:
    snap = snapshot(db)
    with_rows = plan_drop(snap, "b", has_rows=True)
    assert with_rows.undo is None and "cannot be undone" in with_rows.no_undo
    assert set(with_rows.notes) == {
        "Its index b_note is dropped with it.", "Its trigger b_logged is dropped with it.",
        "The view b_notes reads it and will fail.",
        "The table a has a foreign key to it, which will point to a missing table.",
    }
    db.execute("DELETE FROM log")
    empty = run(db, lambda s: plan_drop(s, "log"))
    assert empty.undo is not None
    apply(db, empty.undo)
    assert rows(db, "SELECT count(*) FROM log") == [(0,)]


def test_a_read_only_open_refuses_every_change(shop: Path) -> None:
    async def attempt() -> None:
        session = await Session.open(shop, read_only=True)
        try:
            plan = await session.browse(lambda c: plan_rename_table(snapshot(c), "log", "journal"))
            with pytest.raises(DatabaseReadOnly, match="opened read-only"):
                await change(session, plan)
            assert session.write_connections == 0
        finally:
            await session.close()

    asyncio.run(attempt())
    connection = connect_write(shop)
    assert rows(connection, "SELECT name FROM sqlite_schema WHERE name = 'log'") == [("log",)]
    connection.close()


def test_sqlite_sequence_is_refused_before_any_confirmation_and_sqlite_stat1_may_go() -> None:
    connection = apsw.Connection(":memory:")
    connection.execute("CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v); INSERT INTO t(v) VALUES (1); ANALYZE")
    with pytest.raises(StructureError, match="sqlite_sequence is SQLite's own table"):
        plan_drop(snapshot(connection), "sqlite_sequence")
    apply(connection, plan_drop(snapshot(connection), "sqlite_stat1", has_rows=True))
    assert connection.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'").fetchall() == [(0,)]
