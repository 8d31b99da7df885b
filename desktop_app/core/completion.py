"""What to offer while SQL is typed: keywords, functions, tables and views, their columns, and aliases.

Pure and Qt-free. A `Catalog` is read once per schema change (`read_catalog`, on a connection the caller
owns: the tables' columns and `PRAGMA function_list`); `complete(catalog, text, position)` then works on
the editor's text alone, so a keystroke never touches the database. Tables in scope and their aliases come
from the statement around the cursor (`FROM Album a JOIN Track AS t`): after `a.` only Album's columns are
offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import apsw

from desktop_app.core.database import pragma_int

KEYWORDS = tuple(sorted(apsw.keywords))
KEYWORD_SET = frozenset(KEYWORDS)
# Words after which a table name follows; a comma keeps a FROM list going.
TABLE_INTRODUCERS = frozenset({"FROM", "JOIN", "UPDATE", "INTO", "TABLE"})
# Words that end a FROM list (what follows is no longer a table and its alias).
FROM_ENDERS = frozenset({
    "WHERE", "GROUP", "ORDER", "LIMIT", "HAVING", "ON", "USING", "SET", "VALUES", "UNION", "EXCEPT",
    "INTERSECT", "WINDOW", "RETURNING", "SELECT",
})
WINDOW_CHARS = 3_000  # of a long script, the text either side of the cursor that is read
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
IDENTIFIER_TAIL = re.compile(r"[\w$]*\Z")
TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<string>'(?:[^']|'')*(?:'|\Z))
    |(?P<quoted>"(?:[^"]|"")*(?:"|\Z)|\[[^\]]*(?:\]|\Z)|`(?:[^`]|``)*(?:`|\Z))
    |(?P<word>[^\W\d][\w$]*)
    |(?P<number>\d[\w.]*)
    |(?P<punct>.)
    """,
    re.DOTALL | re.VERBOSE,
)
COLUMNS_SQL = (
    "SELECT m.name, c.name FROM sqlite_schema AS m, pragma_table_xinfo(m.name) AS c "
    "WHERE m.type IN ('table', 'view') AND c.hidden != 1 ORDER BY m.name, c.cid"
)


@dataclass(frozen=True)
class Catalog:
    """The names a database offers: tables and views with their columns (in order), and functions."""

    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    functions: tuple[str, ...] = ()
    schema_version: int = -1

    def columns_of(self, name: str) -> tuple[str, ...]:
        """Columns of the table or view `name` (case-insensitive, as SQLite matches names)."""
        if name in self.tables:
            return self.tables[name]
        folded = name.casefold()
        return next((columns for table, columns in self.tables.items() if table.casefold() == folded), ())


@dataclass(frozen=True)
class Completion:
    """`items` to offer for the word `text[start:position]` (`prefix`); empty when there is nothing to say."""

    start: int
    prefix: str
    items: list[str]
    qualifier: str | None = None  # the alias or table before the dot, if any


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def name(self) -> str:
        """The identifier this token spells (quotes removed)."""
        if self.kind != "quoted":
            return self.text
        body = self.text[1:-1] if len(self.text) > 1 else ""
        return body.replace('""', '"') if self.text[0] == '"' else body.replace("``", "`")

    @property
    def keyword(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def read_catalog(connection: apsw.Connection) -> Catalog:
    """Tables, views, their columns and the connection's functions (one short statement each)."""
    version = pragma_int(connection, "schema_version")
    tables: dict[str, list[str]] = {
        name: [] for (name,) in connection.execute(
            "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name"
        )
    }
    try:
        for table, column in connection.execute(COLUMNS_SQL):
            tables[table].append(column)
    except apsw.Error:  # a view that no longer compiles: read the others one by one
        for table, columns in tables.items():
            columns.clear()
            try:
                columns.extend(row[0] for row in connection.execute(
                    "SELECT name FROM pragma_table_xinfo(?) WHERE hidden != 1 ORDER BY cid", (table,)
                ))
            except apsw.Error:
                continue
    try:
        names = {name for (name,) in connection.execute("SELECT name FROM pragma_function_list")}
        functions = tuple(sorted(name for name in names if PLAIN_NAME.fullmatch(name)))  # not -> and ->>
    except apsw.Error:  # built without the introspection pragmas
        functions = ()
    return Catalog({name: tuple(columns) for name, columns in tables.items()}, functions, version)


def tokens(text: str) -> Iterator[Token]:
    for match in TOKEN.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        yield Token(kind, match.group(), match.start())


def statement_around(text: str, position: int) -> tuple[list[Token], str]:
    """The tokens (no spaces or comments) of the statement holding `position`, and the kind of token the
    cursor is inside ("string" or "comment" mean: do not complete here; "" otherwise)."""
    current: list[Token] = []
    inside = ""
    for token in tokens(text):
        touches = token.start < position < token.end or token.end == position
        if touches and token.kind in ("string", "comment") and not _closed(token, position):
            inside = token.kind
        if token.kind == "punct" and token.text == ";":
            if token.start >= position:
                break
            current = []
            continue
        if token.kind not in ("space", "comment"):
            current.append(token)
    return current, inside


def _closed(token: Token, position: int) -> bool:
    """A string or block comment the cursor sits just after (`'abc'|`) is closed: the cursor is outside."""
    if token.end != position:
        return False
    text = token.text
    if token.kind == "string":
        return len(text) >= 2 and text.endswith("'")
    return text.startswith("/*") and len(text) >= 4 and text.endswith("*/")


def tables_in_scope(statement: list[Token]) -> tuple[list[str], dict[str, str]]:
    """Tables the statement names (FROM, JOIN, UPDATE, INTO) in order, and {alias: table}."""
    tables: list[str] = []
    aliases: dict[str, str] = {}
    in_from = False
    index = 0
    while index < len(statement):
        token = statement[index]
        word = token.keyword
        introduces = word in TABLE_INTRODUCERS or (in_from and token.text == ",")
        if word in FROM_ENDERS:
            in_from = False
        if not introduces:
            index += 1
            continue
        in_from = word in ("FROM", "JOIN") or (token.text == "," and in_from)
        index += 1
        name, index = _table_name(statement, index)
        if name is None:
            continue
        tables.append(name)
        alias, index = _alias(statement, index)
        if alias is not None:
            aliases[alias.casefold()] = name
    return tables, aliases


def _table_name(statement: list[Token], index: int) -> tuple[str | None, int]:
    """The (schema-qualified) name at `index`, and the index after it."""
    if index >= len(statement) or not _is_name(statement[index]):
        return None, index
    name = statement[index].name
    index += 1
    if index + 1 < len(statement) and statement[index].text == "." and _is_name(statement[index + 1]):
        name = statement[index + 1].name  # schema.table: the table
        index += 2
    return name, index


def _alias(statement: list[Token], index: int) -> tuple[str | None, int]:
    if index < len(statement) and statement[index].keyword == "AS":
        index += 1
        if index < len(statement) and (statement[index].kind == "quoted" or statement[index].kind == "word"):
            return statement[index].name, index + 1
        return None, index
    if index < len(statement) and _is_name(statement[index]):
        return statement[index].name, index + 1
    return None, index


def _is_name(token: Token) -> bool:
    return token.kind == "quoted" or (token.kind == "word" and token.keyword not in KEYWORD_SET)


def quote_if_needed(name: str) -> str:
    """`name` as it can be typed: bare when that is safe, else in double quotes."""
    if PLAIN_NAME.fullmatch(name) and name.upper() not in KEYWORD_SET:
        return name
    return '"' + name.replace('"', '""') + '"'


def complete(catalog: Catalog, text: str, position: int, *, forced: bool = True) -> Completion:
    """What to offer at `position` in `text`. `forced` (Ctrl+Space) offers even for an empty word; typing
    offers after a dot, or after two characters of a word. Nothing inside a string or a comment. Only the
    lines around the cursor are read (WINDOW_CHARS each way), so a long script costs a keystroke no more."""
    low, high = _window(text, position)
    found = _complete(catalog, text[low:high], position - low, forced)
    return Completion(found.start + low, found.prefix, found.items, found.qualifier) if low else found


def _window(text: str, position: int) -> tuple[int, int]:
    """Whole lines around `position`, about WINDOW_CHARS each way."""
    if len(text) <= 2 * WINDOW_CHARS:
        return 0, len(text)
    low = text.rfind("\n", 0, max(0, position - WINDOW_CHARS)) + 1  # the start of a line: never mid-string
    high = text.find("\n", min(len(text), position + WINDOW_CHARS))
    return low, len(text) if high < 0 else high


def _complete(catalog: Catalog, text: str, position: int, forced: bool) -> Completion:
    before = text[:position]
    prefix = IDENTIFIER_TAIL.search(before)
    assert prefix is not None  # the pattern matches the empty string
    start = prefix.start()
    word = prefix.group()
    statement, inside = statement_around(text, position)
    if inside or word[:1].isdigit():
        return Completion(start, word, [])
    qualifier = _qualifier(statement, before, start)
    tables, aliases = tables_in_scope(statement)
    if qualifier is not None:
        table = aliases.get(qualifier.casefold(), qualifier)
        items = _matching(catalog.columns_of(table), word, quote=True)
        return Completion(start, word, items, qualifier)
    if not forced and len(word) < 2:
        return Completion(start, word, [])
    in_scope = [column for table in tables for column in catalog.columns_of(table)]
    names = (*in_scope, *aliases_named(statement, aliases), *catalog.tables)
    items = _matching(names, word, quote=True)
    taken = {item.casefold() for item in items}
    items += [name for name in _matching((*catalog.functions, *KEYWORDS), word) if name.casefold() not in taken]
    if len(items) == 1 and items[0].casefold() == word.casefold():
        items = []  # the word is already complete
    return Completion(start, word, items)


def aliases_named(statement: list[Token], aliases: dict[str, str]) -> list[str]:
    """The aliases as the statement spells them."""
    spelled = {token.name.casefold(): token.name for token in statement if token.kind in ("word", "quoted")}
    return [spelled.get(alias, alias) for alias in aliases]


def _qualifier(statement: list[Token], before: str, start: int) -> str | None:
    """The name before `start` when the word follows a dot (`a.`, `"My Table".`), else None."""
    if start == 0 or before[start - 1] != ".":
        return None
    last = next((token for token in statement if token.end == start - 1), None)
    if last is None or last.kind not in ("word", "quoted"):
        return None
    return last.name


def _matching(names: Iterable[str], word: str, *, quote: bool = False) -> list[str]:
    """`names` that start with `word` (case-insensitive), once each, in order; `quote`: as they must be typed."""
    folded = word.casefold()
    seen: set[str] = set()
    found: list[str] = []
    for name in names:
        key = name.casefold()
        if key.startswith(folded) and key not in seen:
            seen.add(key)
            found.append(quote_if_needed(name) if quote else name)
    return found
