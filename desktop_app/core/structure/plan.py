"""Each structure change as a `Plan`: the exact statements it runs, and how (or whether) it is undone.

A plan is made from a `Snapshot` of the schema (its objects and `schema_version`), so a dialog can show
the SQL before anything runs; `apply.apply` refuses a plan whose snapshot is no longer the schema.

What SQLite's ALTER TABLE can do is done with it (rename a table or a column, add a column at the end),
and SQLite itself then updates the indexes, triggers and views that name them. Anything else (drop or
reorder columns, change a type or a constraint, STRICT, WITHOUT ROWID) is SQLite's documented 12-step
rebuild (https://www.sqlite.org/lang_altertable.html#otheralter): renames first, natively; then CREATE
TABLE new_X, copy the rows, DROP TABLE X, rename new_X to X (legacy_alter_table on, so views that name
X are not checked while X is missing), and the indexes and triggers of X created again from their SQL.

Before a plan is offered it is rehearsed on an empty copy of the schema in memory (no rows): SQLite's
own rename rewrites the indexes and triggers that are created again, an index on a dropped column fails
there with SQLite's words, and a view the change would break is named.

Undo: each plan carries its inverse (a rename back, a drop of what was created, a dropped index, view or
trigger created again from its SQL, an empty table created again with its indexes and triggers). A
rebuild and the drop of a table with rows have none, and `no_undo` says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

import apsw
from apsw.ext import quote_name

from desktop_app.core.database import pragma_int
from desktop_app.core.postgres.sqlite_ddl import Untranslatable, identifier, tokenize
from desktop_app.core.query import SchemaObject
from desktop_app.core.structure.model import (
    Column,
    Index,
    StructureError,
    Table,
    create_index_sql,
    create_table_sql,
)
from desktop_app.core.structure.parse import parse_table
from desktop_app.core.words import counted


class NothingToChange(StructureError):
    """The wanted definition is the table's own: a Modify dialog that was just opened."""


REBUILD_NO_UNDO = (
    "A table rebuild cannot be undone here: it replaces the table. Make a backup first (Tools ▸ Backup) if unsure."
)


@dataclass(frozen=True)
class Snapshot:
    """The schema a plan is made from: every object in creation order, and PRAGMA schema_version."""

    version: int
    objects: tuple[SchemaObject, ...]

    def find(self, name: str, kinds: tuple[str, ...] = ("table", "view", "index", "trigger")) -> SchemaObject | None:
        return next((o for o in self.objects if o.name.lower() == name.lower() and o.type in kinds), None)

    def attached(self, table: str) -> list[SchemaObject]:
        """The indexes and triggers of `table` that have SQL (automatic indexes come back with the table)."""
        return [o for o in self.objects if o.type in ("index", "trigger") and o.tbl_name.lower() == table.lower() and o.sql]

    def views_using(self, name: str) -> list[SchemaObject]:
        return [o for o in self.objects if o.type == "view" and o.sql and name.lower() in _names(o.sql)]

    def dependent_views(self, name: str) -> tuple[str, ...]:
        """The views that read `name`, directly or through other views: those a change of it may break."""
        found: list[str] = []
        reached = {name.lower()}
        grew = True
        while grew:
            grew = False
            for view in (o for o in self.objects if o.type == "view" and o.sql and o.name.lower() not in reached):
                assert view.sql is not None
                if reached & _names(view.sql):
                    found.append(view.name)
                    reached.add(view.name.lower())
                    grew = True
        return tuple(found)

    def children(self, table: str) -> list[SchemaObject]:
        """Other tables whose foreign keys point at `table`."""
        return [o for o in self.objects if o.type == "table" and o.sql and o.name.lower() != table.lower()
                and _references(o.sql, table)]


def snapshot(connection: apsw.Connection) -> Snapshot:
    return Snapshot(pragma_int(connection, "schema_version"), tuple(schema_objects(connection)))


def schema_objects(connection: apsw.Connection) -> list[SchemaObject]:
    """Every object of the main schema in creation order (so each can be created again in this order)."""
    rows = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid").fetchall()
    return [SchemaObject(str(t), str(n), str(tb), None if s is None else str(s)) for t, n, tb, s in rows]


@dataclass(frozen=True)
class Plan:
    title: str  # "Create table orders"
    statements: tuple[str, ...]
    undo: Plan | None = None
    no_undo: str = ""  # why there is no undo, when `undo` is None
    rebuild: str = ""  # the table rebuilt: foreign keys off meanwhile, views checked after
    check_keys: tuple[str, ...] = ()  # tables whose foreign keys must hold before COMMIT
    require_empty: str = ""  # refused when this table has rows (a drop that promises an undo)
    schema_version: int | None = None  # refused when the schema moved on since the plan was made
    notes: tuple[str, ...] = field(default=())  # what else the change touches, for the confirmation
    confirm: bool = False  # asked before it runs even when it can be undone (a drop)
    views: tuple[str, ...] = ()  # views that read the changed table: each must still work after

    @property
    def sql(self) -> str:
        return "".join(f"{statement};\n" for statement in self.statements)

    def undo_text(self) -> str:
        return "Undo puts it back (Edit ▸ Undo, Ctrl+Z)." if self.undo is not None else self.no_undo


# Creating -------------------------------------------------------------------------------------------------
def plan_create_table(snap: Snapshot, table: Table) -> Plan:
    _name_is_free(snap, table.name)
    undo = Plan(f"Drop table {table.name}", (f"DROP TABLE {quote_name(table.name)}",), require_empty=table.name)
    return _rehearsed(snap, Plan(f"Create table {table.name}", (create_table_sql(table),), undo=undo,
                                 schema_version=snap.version))


def plan_create_index(snap: Snapshot, index: Index, columns: tuple[str, ...]) -> Plan:
    if snap.find(index.table, ("table",)) is None:
        raise StructureError(f"There is no table named {index.table}.")
    _name_is_free(snap, index.name)
    undo = Plan(f"Drop index {index.name}", (f"DROP INDEX {quote_name(index.name)}",))
    return _rehearsed(snap, Plan(f"Create index {index.name}", (create_index_sql(index, columns),), undo=undo,
                                 schema_version=snap.version))


# Renaming and adding: SQLite's ALTER TABLE ----------------------------------------------------------------
def plan_rename_table(snap: Snapshot, old: str, new: str) -> Plan:
    return plan_modify(snap, _current(snap, old), _current(snap, old).renamed(new))


def plan_rename_column(snap: Snapshot, table: str, old: str, new: str) -> Plan:
    current = _current(snap, table)
    if current.column(old) is None:
        raise StructureError(f"{table} has no column named {old}.")
    return plan_modify(snap, current, current.with_names({old: new}))


def plan_modify(snap: Snapshot, current: Table, wanted: Table) -> Plan:
    """The plan that turns table `current` into `wanted` (whose columns name their `source`)."""
    if wanted.name.lower() != current.name.lower():
        _name_is_free(snap, wanted.name)
    create_table_sql(wanted)  # checks the definition (names, types, keys) first
    renames = _column_renames(current, wanted)
    native, back = _native_renames(current, wanted, renames)
    renamed = current.renamed(wanted.name).with_names(dict(renames))
    added = _added_at_end(renamed, wanted)
    if added is not None:
        native += [f"ALTER TABLE {quote_name(wanted.name)} ADD COLUMN {_column_text(wanted, c)}" for c in added]
        back = [f"ALTER TABLE {quote_name(wanted.name)} DROP COLUMN {quote_name(c.name)}" for c in reversed(added)] + back
        if not native:
            raise NothingToChange(f"{current.name} is as the definition says: nothing to change yet.")
        undo = Plan(f"Undo: {_describe(current, wanted)}", tuple(back))
        return _rehearsed(snap, Plan(_describe(current, wanted), tuple(native), undo=undo, schema_version=snap.version,
                                     views=snap.dependent_views(current.name)))
    return _rebuild(snap, current, wanted, renamed, native)


def _column_renames(current: Table, wanted: Table) -> list[tuple[str, str]]:
    sources: set[str] = set()
    for column in wanted.columns:
        if not column.source:
            continue
        if current.column(column.source) is None:
            raise StructureError(f"{current.name} has no column {column.source} for {column.name} to take values from.")
        if column.source.lower() in sources:
            raise StructureError(f"Two columns take their values from {column.source}.")
        sources.add(column.source.lower())
    renames = [(c.source, c.name) for c in wanted.columns if c.source and c.source != c.name]
    kept = {c.name.lower() for c in current.columns} - {old.lower() for old, _ in renames}
    for old, new in renames:
        if new.lower() in kept or any(new.lower() == o.lower() and new.lower() != old.lower() for o, _ in renames):
            raise StructureError(
                f"{old} cannot be renamed to {new} in the same change: {current.name} still has a column of that "
                "name. Rename it in a step of its own first."
            )
    return renames


def _native_renames(current: Table, wanted: Table, renames: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(statements, their inverse in undo order) renaming the table, then its columns."""
    forward: list[str] = []
    inverse: list[str] = []
    table = quote_name(wanted.name)
    if wanted.name != current.name:
        forward.append(f"ALTER TABLE {quote_name(current.name)} RENAME TO {table}")
        inverse.append(f"ALTER TABLE {table} RENAME TO {quote_name(current.name)}")
    for old, new in renames:
        forward.append(f"ALTER TABLE {table} RENAME COLUMN {quote_name(old)} TO {quote_name(new)}")
        inverse.append(f"ALTER TABLE {table} RENAME COLUMN {quote_name(new)} TO {quote_name(old)}")
    return forward, inverse[::-1]


def _added_at_end(renamed: Table, wanted: Table) -> list[Column] | None:
    """The new columns when `wanted` is `renamed` plus columns at the end that ADD COLUMN can make; else None."""
    count = len(renamed.columns)
    if _plain(renamed) != _plain(replace(wanted, columns=wanted.columns[:count])):
        return None
    added = list(wanted.columns[count:])
    if any(c.source or not _addable(c) for c in added):
        return None
    return added


def _addable(column: Column) -> bool:
    """What ALTER TABLE ADD COLUMN accepts (https://www.sqlite.org/lang_altertable.html#altertabaddcol)."""
    default = column.default.strip().upper()
    return not (
        column.primary_key or column.unique or "STORED" in column.generated.upper()
        or default.startswith("(") or default.startswith("CURRENT_")
        or (column.not_null and default in ("", "NULL")) or column.extra
    )


def _plain(table: Table) -> Table:
    """`table` without what a comparison of definitions must ignore (sources, the key's spelling)."""
    return replace(table, columns=tuple(replace(c, source="") for c in table.columns), key_order=table.primary_key)


def _column_text(table: Table, column: Column) -> str:
    """One column's definition as CREATE TABLE writes it (the first line after the parenthesis)."""
    return create_table_sql(replace(table, columns=(column,), constraints=(), without_rowid=False, strict=False,
                                    key_order=())).split("\n")[1].strip()


# The 12-step rebuild ----------------------------------------------------------------------------------------
def _rebuild(snap: Snapshot, current: Table, wanted: Table, renamed: Table, native: list[str]) -> Plan:
    name = quote_name(wanted.name)
    temporary = _free_name(snap, f"new_{wanted.name}")
    views = snap.dependent_views(current.name)
    after_renames = _rehearse(snap, native, views)
    if native:
        wanted = _follow_renames(current, wanted, after_renames)
    dropped = [c.name for c in renamed.columns if not any(w.source and w.name == c.name for w in wanted.columns)]
    attached = []
    for obj in (o for o in after_renames if o.type in ("index", "trigger") and o.sql
                and o.tbl_name.lower() == wanted.name.lower()):
        assert obj.sql is not None
        used = [column for column in dropped if column.lower() in _names(obj.sql)]
        if used:
            raise StructureError(
                f"The {obj.type} {obj.name} uses the column {used[0]}, which this change removes: drop the {obj.type} "
                f"first (or keep the column), so it is not lost without a word."
            )
        attached.append(obj.sql)
    copied = [c for c in wanted.columns if c.source and not c.generated]
    target = ", ".join(quote_name(c.name) for c in copied)
    statements = [
        *native,
        create_table_sql(wanted.renamed(temporary)),
        f"INSERT INTO {quote_name(temporary)} ({target}) SELECT {target} FROM {name}" if copied else "",
        *_keep_sequence(snap, current, wanted, temporary),
        f"DROP TABLE {name}",
        "PRAGMA legacy_alter_table = ON",
        f"ALTER TABLE {quote_name(temporary)} RENAME TO {name}",
        "PRAGMA legacy_alter_table = OFF",
        *attached,
    ]
    notes = [f"Created again: {counted(len(attached), 'index or trigger', 'indexes and triggers')} of {wanted.name}."] if attached else []
    notes += [f"Column {c} and its values are removed." for c in dropped]
    plan = Plan(
        f"Rebuild table {wanted.name}", tuple(s for s in statements if s), no_undo=REBUILD_NO_UNDO,
        rebuild=wanted.name, check_keys=(wanted.name, *(o.name for o in snap.children(current.name))),
        schema_version=snap.version, notes=tuple(notes), views=views,
    )
    return _rehearsed(snap, plan)


def _follow_renames(current: Table, wanted: Table, after_renames: list[SchemaObject]) -> Table:
    """`wanted` with the SQL the user left as it was (CHECKs, DEFAULTs, keys, table constraints) as SQLite's
    rename rewrote it, so a CHECK on a renamed column names its new name."""
    sql = next(o.sql for o in after_renames if o.type == "table" and o.name.lower() == wanted.name.lower() and o.sql)
    renamed = parse_table(sql)
    position = {c.name.lower(): i for i, c in enumerate(current.columns)}
    fields = ("default", "check", "collate", "generated", "extra", "references")
    columns = []
    for column in wanted.columns:
        if column.source:
            before, after = current.columns[position[column.source.lower()]], renamed.columns[position[column.source.lower()]]
            column = replace(column, **{f: getattr(after, f) for f in fields if getattr(column, f) == getattr(before, f)})
        columns.append(column)
    constraints = renamed.constraints if wanted.constraints == current.constraints else wanted.constraints
    return replace(wanted, columns=tuple(columns), constraints=constraints)


def _keep_sequence(snap: Snapshot, current: Table, wanted: Table, temporary: str) -> list[str]:
    """AUTOINCREMENT's counter carried over, so keys of deleted rows are not given out again."""
    if not (any(c.autoincrement for c in current.columns) and any(c.autoincrement for c in wanted.columns)):
        return []
    if snap.find("sqlite_sequence", ("table",)) is None:
        return []
    return [
        f"DELETE FROM sqlite_sequence WHERE name = {_literal(temporary)}",
        f"UPDATE sqlite_sequence SET name = {_literal(temporary)} WHERE name = {_literal(current.name)}",
    ]


# Dropping -------------------------------------------------------------------------------------------------
def plan_drop(snap: Snapshot, name: str, *, has_rows: bool = False) -> Plan:
    """DROP of a table, view, index or trigger, with what depends on it named in `notes`."""
    obj = snap.find(name)
    if obj is None:
        raise StructureError(f"There is nothing named {name} in the database.")
    if obj.sql is None:
        raise StructureError(
            f"{obj.name} was made by a UNIQUE or PRIMARY KEY constraint of {obj.tbl_name}: modify the table instead."
        )
    if obj.name.lower() == "sqlite_sequence":
        raise StructureError("sqlite_sequence is SQLite's own table (AUTOINCREMENT's counters): it cannot be dropped.")
    statement = f"DROP {obj.type.upper()} {quote_name(obj.name)}"
    if obj.type != "table":
        undo = Plan(f"Create {obj.type} {obj.name} again", (obj.sql,))
        notes = tuple(f"The view {v.name} reads it and will fail." for v in snap.views_using(obj.name) if v.name != obj.name)
        return Plan(f"Drop {obj.type} {obj.name}", (statement,), undo=undo, schema_version=snap.version, notes=notes,
                    confirm=True)
    attached = snap.attached(obj.name)
    notes = (
        *(f"Its {o.type} {o.name} is dropped with it." for o in attached),
        *(f"The view {v.name} reads it and will fail." for v in snap.views_using(obj.name)),
        *(f"The table {c.name} has a foreign key to it, which will point to a missing table." for c in snap.children(obj.name)),
    )
    if has_rows:
        return Plan(f"Drop table {obj.name}", (statement,), schema_version=snap.version, notes=notes, confirm=True,
                    no_undo=f"{obj.name} has rows: dropping it cannot be undone. Make a backup first (Tools ▸ Backup) if unsure.")
    undo = Plan(f"Create table {obj.name} again", (obj.sql, *(o.sql for o in attached if o.sql)))
    return Plan(f"Drop table {obj.name}", (statement,), undo=undo, require_empty=obj.name,
                schema_version=snap.version, notes=notes, confirm=True)


def plan_drop_now(connection: apsw.Connection, name: str) -> Plan:
    """`plan_drop` for the schema as it is on `connection`, undoable when the table is empty."""
    snap = snapshot(connection)
    obj = snap.find(name, ("table",))
    has_rows = obj is not None and bool(connection.execute(f"SELECT 1 FROM {quote_name(obj.name)} LIMIT 1").fetchall())
    return plan_drop(snap, name, has_rows=has_rows)


# Rehearsal on an empty copy of the schema -----------------------------------------------------------------
def _rehearse(snap: Snapshot, statements: list[str] | tuple[str, ...], views: tuple[str, ...] = ()) -> list[SchemaObject]:
    """Run `statements` on an in-memory copy of the schema (no rows); the schema after them, or
    StructureError with SQLite's words, or naming one of `views` they break."""
    replica = apsw.Connection(":memory:")
    try:
        for obj in snap.objects:
            if obj.sql and not obj.name.lower().startswith("sqlite_"):
                # A virtual table whose module this process lacks fails here: the change cannot touch it anyway.
                with contextlib.suppress(apsw.Error):
                    replica.execute(obj.sql)
        broken = broken_views(replica, views)
        for statement in statements:
            try:
                replica.execute(statement)
            except apsw.Error as exc:
                raise StructureError(f"{first_line(statement)}: {sqlite_message(exc)}") from exc
        after = broken_views(replica, views)
        newly = sorted(set(after) - set(broken))
        if newly:
            raise StructureError(
                f"The view {newly[0]} would no longer work after this change ({after[newly[0]]}): "
                "drop or change the view first."
            )
        return schema_objects(replica)
    finally:
        replica.close()


def _rehearsed(snap: Snapshot, plan: Plan) -> Plan:
    _rehearse(snap, plan.statements, plan.views)
    return plan


def broken_views(connection: apsw.Connection, views: tuple[str, ...]) -> dict[str, str]:
    """{view: SQLite's error} for each of `views` that cannot be read now (LIMIT 0: compiled, not run)."""
    broken: dict[str, str] = {}
    for name in views:
        try:
            connection.execute(f"SELECT * FROM {quote_name(str(name))} LIMIT 0").fetchall()
        except apsw.Error as exc:
            broken[str(name)] = sqlite_message(exc)
    return broken


# Small pieces ---------------------------------------------------------------------------------------------
def _current(snap: Snapshot, name: str) -> Table:
    obj = snap.find(name, ("table",))
    if obj is None or obj.sql is None:
        raise StructureError(f"There is no table named {name}.")
    return parse_table(obj.sql)


def _name_is_free(snap: Snapshot, name: str) -> None:
    if not name.strip():
        raise StructureError("A name is needed.")
    if name.lower().startswith("sqlite_"):
        raise StructureError("Names starting with sqlite_ are reserved for SQLite itself.")
    taken = snap.find(name)
    if taken is not None:
        raise StructureError(f"There is already a {taken.type} named {taken.name} (names are case-insensitive).")


def _free_name(snap: Snapshot, wanted: str) -> str:
    name, number = wanted, 1
    while snap.find(name) is not None:
        number += 1
        name = f"{wanted}_{number}"
    return name


def _describe(current: Table, wanted: Table) -> str:
    if wanted.name != current.name and len(wanted.columns) == len(current.columns):
        return f"Rename table {current.name} to {wanted.name}"
    return f"Change table {wanted.name}"


def _names(sql: str) -> set[str]:
    """Every name (word or quoted identifier) in `sql`, lower case."""
    try:
        return {identifier(t).lower() for t in tokenize(sql) if t.kind in ("word", "ident")}
    except Untranslatable:
        return set()


def _references(sql: str, table: str) -> bool:
    try:
        tokens = tokenize(sql)
    except Untranslatable:
        return False
    return any(a.upper == "REFERENCES" and identifier(b).lower() == table.lower() for a, b in zip(tokens, tokens[1:], strict=False))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def first_line(statement: str) -> str:
    """A statement's head for an error message: `CREATE TABLE new_t`, not its whole column list."""
    line = statement.strip().splitlines()[0] if statement.strip() else statement
    line = line.removesuffix(" (").removesuffix("(")
    return line if len(line) <= 80 else line[:77] + "…"


def sqlite_message(exc: apsw.Error) -> str:
    return str(exc).removeprefix(f"{type(exc).__name__}: ")
