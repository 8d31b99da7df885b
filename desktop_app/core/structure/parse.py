"""A table's definition read back from its CREATE TABLE text, so Modify Table starts from what is there.

SQLite keeps a table's definition only as the text it was created with; pragma_table_xinfo has names, types,
NOT NULL, DEFAULT and the key, but not CHECKs, COLLATE, generated expressions or AUTOINCREMENT. So the text
is read with the same small tokenizer the PostgreSQL copy uses: each column's constraints are broken down
where the model has a field for them, and anything else (a named constraint, ON CONFLICT, a composite
UNIQUE) is kept word for word. `read_table` checks the result against pragma_table_xinfo: a column the
reader missed would be a column a rebuild loses, so a disagreement is an error, never a guess.
"""

from __future__ import annotations

from dataclasses import replace

import apsw

from desktop_app.core.postgres.sqlite_ddl import (
    Token,
    Untranslatable,
    closing_parenthesis,
    identifier,
    table_items,
    tokenize,
)
from desktop_app.core.structure.model import Column, ForeignKey, StructureError, Table

CLAUSES = frozenset({"CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE", "REFERENCES",
                     "GENERATED", "AS"})
TABLE_CONSTRAINTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"})
ACTIONS = {("CASCADE",): "CASCADE", ("RESTRICT",): "RESTRICT", ("NO", "ACTION"): "NO ACTION",
           ("SET", "NULL"): "SET NULL", ("SET", "DEFAULT"): "SET DEFAULT"}


def read_table(connection: apsw.Connection, name: str) -> Table:
    """The definition of table `name` as it is in the database; StructureError for a view, a virtual table,
    or a definition this reader cannot follow exactly."""
    rows = connection.execute(
        "SELECT type, name, sql FROM sqlite_schema WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')", (name,)
    ).fetchall()
    if not rows:
        raise StructureError(f"There is no table named {name}.")
    kind, stored_name, sql = rows[0]
    if kind == "view":
        raise StructureError(f"{stored_name} is a view: change it by dropping it and creating it again in the console.")
    if str(sql).upper().startswith("CREATE VIRTUAL"):
        raise StructureError(f"{stored_name} is a virtual table: its module decides its columns; it cannot be modified.")
    table = parse_table(str(sql))
    names = [str(row[0]) for row in connection.execute("SELECT name FROM pragma_table_xinfo(?)", (stored_name,))]
    if names != [column.name for column in table.columns]:
        raise StructureError(
            f"Cannot follow the definition of {stored_name} exactly (read columns {[c.name for c in table.columns]}, "
            f"SQLite has {names}), so it is not changed here. Use the console."
        )
    return table


def parse_table(sql: str) -> Table:
    """The `Table` a CREATE TABLE statement defines; every column's `source` is itself (no change yet)."""
    try:
        tokens = tokenize(sql)
    except Untranslatable as exc:
        raise StructureError(f"Cannot read the table's definition: {exc}") from exc
    opening = next((i for i, token in enumerate(tokens) if token.text == "("), None)
    if opening is None:
        raise StructureError("The table's definition has no column list.")
    closing = _closing(tokens, opening)
    name = _name(tokens[opening - 1])
    options = {token.upper for token in tokens[closing + 1:]}
    columns: list[Column] = []
    constraints: list[str] = []
    key_order: tuple[str, ...] = ()
    for item in table_items(tokens):
        if item[0].upper in TABLE_CONSTRAINTS:
            key, column_key = _table_constraint(sql, item, columns)
            if key:
                key_order = key
            elif column_key is not None:
                index, references = column_key
                columns[index] = replace(columns[index], references=references)
            else:
                constraints.append(_text(sql, item))
        else:
            columns.append(_column(sql, item))
    keyed = {name.lower() for name in key_order}
    columns = [replace(c, primary_key=True) if c.name.lower() in keyed else c for c in columns]
    return Table(name, tuple(columns), tuple(constraints), strict="STRICT" in options,
                 without_rowid="ROWID" in options, key_order=key_order if len(key_order) > 1 else ())


def _column(sql: str, item: list[Token]) -> Column:
    column = Column(_name(item[0]), source=_name(item[0]))
    index = 1
    while index < len(item) and not _starts_clause(item, index):
        index += 1
    if index > 1:
        column = replace(column, type=_text(sql, item[1:index]))
    extra: list[str] = []
    while index < len(item):
        end = _clause_end(item, index)
        clause = item[index:end]
        modeled = None if clause[0].upper == "CONSTRAINT" else _modeled(sql, column, clause)
        if modeled is None:
            if clause[0].upper == "CONSTRAINT":  # a named constraint: it and the clause it names, as written
                end = _clause_end(item, end) if end < len(item) else end
            extra.append(_text(sql, item[index:end]))
        else:
            column = modeled
        index = end
    return replace(column, extra=" ".join(extra))


def _modeled(sql: str, column: Column, clause: list[Token]) -> Column | None:
    """`column` with `clause` in its fields, or None when the clause is to be kept as written."""
    words = [token.upper for token in clause]
    if words[:2] == ["PRIMARY", "KEY"] and words[2:] in ([], ["AUTOINCREMENT"]):
        return replace(column, primary_key=True, autoincrement=bool(words[2:]))
    if words == ["NOT", "NULL"]:
        return replace(column, not_null=True)
    if words == ["UNIQUE"]:
        return replace(column, unique=True)
    if words[0] == "CHECK" and not column.check:
        return replace(column, check=_text(sql, clause[2:-1]))
    if words[0] == "DEFAULT":
        return replace(column, default=_text(sql, clause[1:]))
    if words[0] == "COLLATE" and len(clause) == 2:
        return replace(column, collate=clause[1].text)
    if words[0] == "REFERENCES":
        return replace(column, references=_foreign_key(sql, clause))
    if words[0] in ("GENERATED", "AS"):
        return replace(column, generated=_text(sql, clause))
    return None


def parse_references(text: str) -> ForeignKey | None:
    """`parent`, `parent(id)` or `"my parent"(a, b) ON DELETE CASCADE` as a key (None when empty)."""
    if not text.strip():
        return None
    sql = f"REFERENCES {text}"
    try:
        tokens = tokenize(sql)
    except Untranslatable as exc:
        raise StructureError(f"Cannot read the reference {text!r}: {exc}") from exc
    if len(tokens) < 2 or tokens[1].kind not in ("word", "ident", "string"):
        raise StructureError(f"A reference names the parent table first, as in parent(id): {text!r}")
    return _foreign_key(sql, tokens)


def references_text(key: ForeignKey | None) -> str:
    """The text `parse_references` reads back: the parent and its columns (actions are shown apart)."""
    if key is None:
        return ""
    return replace(key, on_delete="", on_update="").sql().removeprefix("REFERENCES ")


def _foreign_key(sql: str, clause: list[Token]) -> ForeignKey:
    """REFERENCES parent[(columns)] [ON DELETE x] [ON UPDATE y] [anything else, kept as written]."""
    table, index, columns = _name(clause[1]), 2, tuple[str, ...]()
    if index < len(clause) and clause[index].text == "(":
        end = _closing(clause, index)
        columns = tuple(_name(token) for token in clause[index + 1:end] if token.text != ",")
        index = end + 1
    actions = {"DELETE": "", "UPDATE": ""}
    rest: list[str] = []
    while index < len(clause):
        words = tuple(token.upper for token in clause[index:index + 4])
        action = next((ACTIONS[key] for key in ACTIONS if words[2:2 + len(key)] == key), None)
        if words[:1] == ("ON",) and len(words) > 1 and words[1] in actions and action is not None:
            actions[words[1]] = action
            index += 2 + len(action.split())
            continue
        rest.append(clause[index].text)
        index += 1
    return ForeignKey(table, columns, actions["DELETE"], actions["UPDATE"], " ".join(rest))


def _table_constraint(
    sql: str, item: list[Token], columns: list[Column]
) -> tuple[tuple[str, ...], tuple[int, ForeignKey] | None]:
    """(key columns) for a plain PRIMARY KEY (a, b); (index, key) for a one-column FOREIGN KEY that the column
    can carry; otherwise ((), None): the constraint is kept as written."""
    words = [token.upper or token.text for token in item]
    if words[:3] == ["PRIMARY", "KEY", "("] and _closing(item, 2) == len(item) - 1:
        inside = item[3:-1]
        names = [token for token in inside if token.text != ","]
        if len(names) * 2 - 1 == len(inside) and all(token.kind in ("word", "ident") for token in names):
            return tuple(_name(token) for token in names), None
    if words[:3] == ["FOREIGN", "KEY", "("] and len(item) > 6 and item[4].text == ")" and words[5] == "REFERENCES":
        name = _name(item[3]).lower()
        index = next((i for i, c in enumerate(columns) if c.name.lower() == name and c.references is None), None)
        if index is not None:
            return (), (index, _foreign_key(sql, item[5:]))
    return (), None


def _starts_clause(item: list[Token], index: int) -> bool:
    return item[index].upper in CLAUSES


def _clause_end(item: list[Token], start: int) -> int:
    """Where the column constraint starting at `start` ends (the next clause's first token, or the end)."""
    first = item[start].upper
    index = start + {"CONSTRAINT": 2, "NOT": 2, "COLLATE": 2, "REFERENCES": 2}.get(first, 1)
    if first == "DEFAULT":
        if index < len(item) and item[index].text == "(":
            return _closing(item, index) + 1
        return min(index + (2 if index < len(item) and item[index].text in "+-" else 1), len(item))
    if first == "CONSTRAINT":
        return index
    depth = 0
    while index < len(item):
        token = item[index]
        depth += {"(": 1, ")": -1}.get(token.text, 0) if token.kind == "op" else 0
        previous = item[index - 1].upper
        following = item[index + 1].upper if index + 1 < len(item) else ""
        continuing = first == "REFERENCES" and (previous == "SET" or (token.upper == "NOT" and following == "DEFERRABLE"))
        if first in ("GENERATED", "AS") and token.upper == "AS":
            continuing = True
        if depth == 0 and token.upper in CLAUSES and not continuing:
            break
        index += 1
    return index


def _closing(tokens: list[Token], opening: int) -> int:
    try:
        return closing_parenthesis(tokens, opening)
    except Untranslatable as exc:
        raise StructureError("The table's definition has unbalanced parentheses.") from exc


def _name(token: Token) -> str:
    if token.kind == "string":
        return token.text[1:-1].replace("''", "'")
    return identifier(token)


def _text(sql: str, tokens: list[Token]) -> str:
    return sql[tokens[0].start:tokens[-1].end] if tokens else ""
