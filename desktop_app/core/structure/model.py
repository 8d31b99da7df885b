"""What a table and an index are made of, and the CREATE statements that make them (pure: no database).

Names are quoted with apsw's `quote_name` (only when they need it, so the SQL reads as a person writes it).
Types, DEFAULTs, CHECKs and index expressions are SQL the user writes; each is checked to be one piece of
SQL (balanced parentheses, no `;`) so a field can never smuggle in a second statement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from apsw.ext import quote_name

from desktop_app.core.errors import QueryError
from desktop_app.core.postgres.sqlite_ddl import Token, Untranslatable, tokenize

# The types a STRICT table accepts (https://www.sqlite.org/stricttables.html), and what the type box offers.
STRICT_TYPES = ("INTEGER", "INT", "REAL", "TEXT", "BLOB", "ANY")
COMMON_TYPES = ("INTEGER", "TEXT", "REAL", "BLOB", "NUMERIC", "ANY", "BOOLEAN", "DATETIME", "VARCHAR(255)")
FK_ACTIONS = ("", "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")


class StructureError(QueryError):
    """A structure change that cannot be made as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...] = ()  # the parent's columns; () means its primary key
    on_delete: str = ""  # one of FK_ACTIONS
    on_update: str = ""
    extra: str = ""  # MATCH / DEFERRABLE ..., as written

    def sql(self) -> str:
        text = f"REFERENCES {quote_name(self.table)}"
        if self.columns:
            text += f"({', '.join(quote_name(c) for c in self.columns)})"
        for event, action in (("DELETE", self.on_delete), ("UPDATE", self.on_update)):
            if action:
                text += f" ON {event} {action}"
        return f"{text} {self.extra}" if self.extra else text


@dataclass(frozen=True)
class Column:
    name: str
    type: str = ""
    primary_key: bool = False
    autoincrement: bool = False
    not_null: bool = False
    unique: bool = False
    default: str = ""  # an SQL term as written: 0, 'x', CURRENT_TIMESTAMP, (expression)
    check: str = ""  # the expression inside CHECK ( )
    collate: str = ""
    references: ForeignKey | None = None
    generated: str = ""  # "GENERATED ALWAYS AS (...) STORED", as written
    extra: str = ""  # constraints this model does not break down (named ones, ON CONFLICT ...), as written
    # In a change: the existing column whose values this one takes ("" for a new column).
    source: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()  # table constraints other than the primary key, as written
    strict: bool = False
    without_rowid: bool = False
    key_order: tuple[str, ...] = ()  # a composite primary key's order, when it differs from the columns'

    @property
    def primary_key(self) -> tuple[str, ...]:
        keyed = {c.name.lower(): c.name for c in self.columns if c.primary_key}
        ordered = list(dict.fromkeys(keyed[name.lower()] for name in self.key_order if name.lower() in keyed))
        return (*ordered, *(name for name in keyed.values() if name not in ordered))

    def with_names(self, names: dict[str, str]) -> Table:
        """The table with columns renamed ({old: new}, any case), a composite key's order following them."""
        lower = {old.lower(): new for old, new in names.items()}
        return replace(self, columns=tuple(replace(c, name=lower.get(c.name.lower(), c.name)) for c in self.columns),
                       key_order=tuple(lower.get(name.lower(), name) for name in self.key_order))

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)

    def renamed(self, name: str) -> Table:
        return replace(self, name=name)


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    parts: tuple[str, ...]  # a column name (optionally + ASC/DESC/COLLATE x), or an expression
    unique: bool = False
    where: str = ""  # a partial index's condition


def create_table_sql(table: Table) -> str:
    """CREATE TABLE for `table`, one column per line; StructureError when it cannot be valid."""
    check_table(table)
    key = table.primary_key
    lines = [_column_sql(c, inline_key=len(key) == 1) for c in table.columns]
    if len(key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(quote_name(name) for name in key)})")
    lines.extend(table.constraints)
    options = [word for word, on in (("STRICT", table.strict), ("WITHOUT ROWID", table.without_rowid)) if on]
    body = ",\n  ".join(lines)
    return f"CREATE TABLE {quote_name(table.name)} (\n  {body}\n){' ' + ', '.join(options) if options else ''}"


def _column_sql(column: Column, *, inline_key: bool) -> str:
    parts = [quote_name(column.name)]
    if column.type:
        parts.append(column.type)
    if column.primary_key and inline_key:
        parts.append("PRIMARY KEY AUTOINCREMENT" if column.autoincrement else "PRIMARY KEY")
    if column.not_null:
        parts.append("NOT NULL")
    if column.unique:
        parts.append("UNIQUE")
    if column.default:
        parts.append(f"DEFAULT {column.default}")
    if column.check:
        parts.append(f"CHECK ({column.check})")
    if column.collate:
        parts.append(f"COLLATE {column.collate}")
    if column.references is not None:
        parts.append(column.references.sql())
    parts.extend(text for text in (column.generated, column.extra) if text)
    return " ".join(parts)


def create_index_sql(index: Index, columns: tuple[str, ...] = ()) -> str:
    """CREATE INDEX for `index`; a part naming one of `columns` (the table's) is quoted as a column, any
    other part is an expression written as is."""
    if not index.name.strip():
        raise StructureError("The index needs a name.")
    if not index.parts:
        raise StructureError(f"Index {index.name} needs at least one column or expression.")
    known = {name.lower(): name for name in columns}
    listed = ", ".join(_index_part(part, known) for part in index.parts)
    sql = f"CREATE {'UNIQUE ' if index.unique else ''}INDEX {quote_name(index.name)} ON {quote_name(index.table)} ({listed})"
    if index.where.strip():
        sql += f" WHERE {one_piece(index.where, 'the WHERE condition')}"
    return sql


def _index_part(part: str, known: dict[str, str]) -> str:
    text = part.strip()
    head, _, tail = text.partition(" ")
    if text.lower() in known:
        return quote_name(known[text.lower()])
    if head.lower() in known and tail.strip().upper() in ("ASC", "DESC"):
        return f"{quote_name(known[head.lower()])} {tail.strip().upper()}"
    return one_piece(text, f"the index expression {text!r}")


def check_table(table: Table) -> None:
    """StructureError naming the first thing that makes `table` invalid."""
    if not table.name.strip():
        raise StructureError("The table needs a name.")
    if table.name.lower().startswith("sqlite_"):
        raise StructureError("Names starting with sqlite_ are reserved for SQLite itself.")
    if not table.columns:
        raise StructureError(f"Table {table.name} needs at least one column.")
    seen: set[str] = set()
    for column in table.columns:
        _check_column(table, column)
        if column.name.lower() in seen:
            raise StructureError(f"Two columns are named {column.name} (names are case-insensitive).")
        seen.add(column.name.lower())
    if table.without_rowid and not table.primary_key:
        raise StructureError(f"A WITHOUT ROWID table needs a primary key: tick PK on a column of {table.name}.")
    for constraint in table.constraints:
        one_piece(constraint, "a table constraint")


def _check_column(table: Table, column: Column) -> None:
    if not column.name.strip():
        raise StructureError(f"A column of {table.name} has no name.")
    type_tokens = _tokens(one_piece(column.type, f"the type of {column.name}"), "")
    if any(token.kind not in ("word", "number") and token.text not in ("(", ")", ",", "+", "-") for token in type_tokens):
        raise StructureError(f"The type of {column.name} must be a type name such as INTEGER or VARCHAR(20).")
    if table.strict and column.type.upper() not in STRICT_TYPES:
        raise StructureError(
            f"A STRICT table takes only the types {', '.join(STRICT_TYPES)}; {column.name} is {column.type or 'untyped'}."
        )
    if column.autoincrement:
        if not column.primary_key or len(table.primary_key) != 1 or column.type.upper() != "INTEGER":
            raise StructureError(f"AUTOINCREMENT needs {column.name} to be the only primary key column, of type INTEGER.")
        if table.without_rowid:
            raise StructureError("AUTOINCREMENT needs a rowid: a WITHOUT ROWID table cannot have it.")
    for text, what in ((column.default, "DEFAULT"), (column.check, "CHECK"), (column.generated, "generated"),
                       (column.extra, "constraint"), (column.collate, "COLLATE")):
        if text:
            one_piece(text, f"the {what} of {column.name}")


def one_piece(text: str, what: str) -> str:
    """`text` when it is one piece of SQL (it reads, its parentheses balance, no `;`); else StructureError."""
    tokens = _tokens(text, what)
    if any(token.text == ";" for token in tokens):
        raise StructureError(f"{what[0].upper()}{what[1:]} cannot contain ';'.")
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token.text, 0) if token.kind == "op" else 0
        if depth < 0:
            break
    if depth:
        raise StructureError(f"The parentheses of {what} do not match: {text}")
    return text


def _tokens(text: str, what: str) -> list[Token]:
    try:
        return tokenize(text)
    except Untranslatable as exc:
        raise StructureError(f"Cannot read {what}: {exc} (an unclosed quote?)") from exc
