"""SQLite's DEFAULT and CHECK expressions -> PostgreSQL, conservatively: what is not surely the same is refused.

apsw has no SQL parser, so a small tokenizer reads the CREATE TABLE text from sqlite_schema (DEFAULTs come
ready from pragma_table_xinfo). Translated: literals (numbers, strings, NULL, TRUE/FALSE), column names,
comparisons, arithmetic, ||, AND/OR/NOT, IS [NOT] NULL, [NOT] IN (...), [NOT] BETWEEN, length() and abs(),
and as DEFAULTs CURRENT_TIMESTAMP / CURRENT_DATE / CURRENT_TIME and datetime('now') / date('now') /
time('now'), written as text in SQLite's own format (UTC 'YYYY-MM-DD HH:MM:SS'). Anything else (another
function, LIKE or GLOB with their own case rules, CASE, CAST, a subquery, a name that is not a column) raises
Untranslatable with the reason, and the caller lists it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from desktop_app.core.ingest.mapping import quote_identifier as q
from desktop_app.core.postgres.copyformat import iso_datetime

TOKEN = re.compile(
    r"""(?P<space>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<string>'(?:[^']|'')*')
    |(?P<blob>[xX]'[0-9a-fA-F]*')
    |(?P<ident>"(?:[^"]|"")*"|\[[^\]]*\]|`(?:[^`]|``)*`)
    |(?P<hex>0[xX][0-9a-fA-F]+)
    |(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<word>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
    |(?P<op>\|\||<=|>=|==|!=|<>|<<|>>|->>|->|[-+*/%<>=~&|(),.;])""",
    re.VERBOSE | re.DOTALL,
)
KEYWORDS = {"AND", "OR", "NOT", "NULL", "IN", "BETWEEN", "TRUE", "FALSE"}
FUNCTIONS = {"length", "abs"}  # the same result in both for the text and numbers they are given
OPERATORS = {"=": "=", "==": "=", "!=": "<>", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
             "+": "+", "-": "-", "*": "*", "/": "/", "%": "%", "||": "||", "(": "(", ")": ")", ",": ","}
# As DEFAULTs of a text column: the text SQLite itself writes (UTC).
NOW_FORMATS = {"CURRENT_TIMESTAMP": "YYYY-MM-DD HH24:MI:SS", "CURRENT_DATE": "YYYY-MM-DD", "CURRENT_TIME": "HH24:MI:SS"}
NOW_FUNCTIONS = {"datetime": "CURRENT_TIMESTAMP", "date": "CURRENT_DATE", "time": "CURRENT_TIME"}
# As DEFAULTs of a column migrate --convert-dates made a date or timestamp: the same UTC value, to the second.
NOW_TYPED = {
    ("CURRENT_TIMESTAMP", "timestamp"): "date_trunc('second', now() AT TIME ZONE 'utc')",
    ("CURRENT_TIMESTAMP", "timestamptz"): "date_trunc('second', now())",
    ("CURRENT_DATE", "date"): "(now() AT TIME ZONE 'utc')::date",
    ("CURRENT_DATE", "timestamp"): "date_trunc('day', now() AT TIME ZONE 'utc')",
}
DATE_KINDS = {"date": ("date",), "timestamp": ("date", "timestamp"), "timestamptz": ("timestamptz",)}
TABLE_CONSTRAINTS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


class Untranslatable(ValueError):
    """Not translated; the message says why."""


@dataclass(frozen=True)
class Token:
    kind: str  # string, blob, ident, hex, number, word, op
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


@dataclass(frozen=True)
class Check:
    name: str | None  # CONSTRAINT name, when given
    sql: str  # the expression as written in SQLite
    tokens: tuple[Token, ...]


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(sql):
        match = TOKEN.match(sql, position)
        if match is None:
            raise Untranslatable(f"cannot read {sql[position:position + 10]!r}")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup or "", match.group(), match.start(), match.end()))
        position = match.end()
    return tokens


def identifier(token: Token) -> str:
    """The name a word or quoted identifier stands for."""
    text = token.text
    if token.kind == "ident":
        if text[0] == "[":
            return text[1:-1]
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def checks(create_sql: str) -> list[Check]:
    """Every CHECK of a CREATE TABLE (column and table constraints), in order."""
    found: list[Check] = []
    for item in table_items(tokenize(create_sql)):  # no items for CREATE TABLE ... AS SELECT: no constraints
        name, named_at, index = None, -1, 0
        while index < len(item):
            token = item[index]
            if token.text == "(":  # a type's size, a DEFAULT's expression, a key's columns: not a CHECK
                index = closing_parenthesis(item, index) + 1
            elif token.upper == "CONSTRAINT" and index + 1 < len(item):
                name, named_at = identifier(item[index + 1]), index + 2  # names the constraint right after it
                index += 2
            elif token.upper == "CHECK" and index + 1 < len(item) and item[index + 1].text == "(":
                end = closing_parenthesis(item, index + 1)
                body = tuple(item[index + 2:end])
                found.append(Check(name if named_at == index else None,
                                   create_sql[body[0].start:body[-1].end] if body else "", body))
                index = end + 1
            else:
                index += 1
    return found


def table_items(tokens: list[Token]) -> list[list[Token]]:
    """The column definitions and table constraints of a CREATE TABLE's parentheses (the first pair of
    `tokens`), each item's tokens without the commas between them."""
    start = next((i for i, token in enumerate(tokens) if token.text == "("), None)
    if start is None:
        return []
    items: list[list[Token]] = [[]]
    depth = 0
    for token in tokens[start + 1:]:
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            if depth == 0:
                break
            depth -= 1
        elif token.text == "," and depth == 0:
            items.append([])
            continue
        items[-1].append(token)
    return [item for item in items if item]


def deferrable_keys(create_sql: str) -> dict[tuple[str, ...], str]:
    """{child columns (lower case): "DEFERRABLE [INITIALLY DEFERRED]"} for the foreign keys declared so."""
    found: dict[tuple[str, ...], str] = {}
    for item in table_items(tokenize(create_sql)):
        words = [t.upper for t in item]
        if "REFERENCES" not in words:
            continue
        head = 2 if words[0] == "CONSTRAINT" else 0
        if words[head:head + 2] == ["FOREIGN", "KEY"] and len(item) > head + 2 and item[head + 2].text == "(":
            end = closing_parenthesis(item, head + 2)
            columns = tuple(identifier(t).lower() for t in item[head + 3:end] if t.text != ",")
        elif words[0] not in TABLE_CONSTRAINTS:
            columns = (identifier(item[0]).lower(),)
        else:
            continue
        tail = words[words.index("REFERENCES"):]
        for index, word in enumerate(tail):
            if word == "DEFERRABLE" and (index == 0 or tail[index - 1] != "NOT"):
                deferred = tail[index + 1:index + 3] == ["INITIALLY", "DEFERRED"]
                found[columns] = "DEFERRABLE INITIALLY DEFERRED" if deferred else "DEFERRABLE"
    return found


def closing_parenthesis(tokens: list[Token], open_index: int) -> int:
    """The index of the `)` that closes the `(` at `open_index`; Untranslatable when there is none."""
    depth = 0
    for index in range(open_index, len(tokens)):
        if tokens[index].text == "(":
            depth += 1
        elif tokens[index].text == ")":
            depth -= 1
            if depth == 0:
                return index
    raise Untranslatable("unbalanced parentheses")


def boolean_range(tokens: tuple[Token, ...] | list[Token], column: Callable[[str], str | None]) -> str | None:
    """The column a `col IN (0, 1)` check names: on a boolean column the type says it already."""
    texts = [t.text for t in tokens]
    if len(tokens) == 7 and tokens[0].kind in ("word", "ident") and tokens[1].upper == "IN" \
            and texts[2::2] == ["(", ",", ")"] and sorted(texts[3:6:2]) == ["0", "1"]:
        return column(identifier(tokens[0]))
    return None


def expression(tokens: tuple[Token, ...] | list[Token], column: Callable[[str], str | None]) -> str:
    """PostgreSQL text for a CHECK expression; `column(name)` gives a column's real name, or None."""
    if not tokens:
        raise Untranslatable("an empty expression")
    out: list[str] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        before = tokens[index - 1] if index else None
        if token.kind in ("string", "number"):
            out.append(token.text)
        elif token.kind == "hex":
            raise Untranslatable(f"the hexadecimal literal {token.text}")
        elif token.kind == "blob":
            raise Untranslatable(f"the blob literal {token.text}")
        elif token.kind == "op":
            if token.text not in OPERATORS:
                raise Untranslatable(f"the operator {token.text}")
            out.append(OPERATORS[token.text])
        elif token.kind == "word" and token.upper not in KEYWORDS and following is not None and following.text == "(":
            if token.text.lower() not in FUNCTIONS:
                raise Untranslatable(f"uses the SQLite function {token.text.lower()}()")
            out.append(token.text.lower())
        elif token.upper == "IS":
            # Only IS [NOT] NULL: SQLite's `a IS b` between values has no same-spelled PostgreSQL form.
            rest = [t.upper for t in tokens[index + 1:index + 3]]
            if not (rest[:1] == ["NULL"] or rest == ["NOT", "NULL"]):
                raise Untranslatable("uses IS between two values")
            out.append("IS")
        elif token.upper == "NOT" and following is not None and following.upper == "NULL" and (
                before is None or before.upper != "IS"):
            out.append("IS NOT")  # SQLite's postfix `x NOT NULL`
        elif token.upper in ("ISNULL", "NOTNULL"):
            out.append("IS NULL" if token.upper == "ISNULL" else "IS NOT NULL")
        elif token.upper in KEYWORDS:
            out.append(token.upper)
        elif token.kind == "word" and token.upper in ("LIKE", "GLOB", "REGEXP", "MATCH"):
            raise Untranslatable(f"uses {token.upper} (its case rules differ in PostgreSQL)")
        elif token.kind in ("word", "ident"):
            name = column(identifier(token))
            if name is None:
                what = token.upper if token.kind == "word" else identifier(token)
                raise Untranslatable(f"uses {what}, which is not a column of the table nor translated")
            out.append(q(name))
        else:
            raise Untranslatable(f"uses {token.text}")
    _one_comparison_per_term(tokens)
    return " ".join(out)


COMPARISONS = {"=", "==", "!=", "<>", "<", "<=", ">", ">=", "IS", "IN", "BETWEEN", "ISNULL", "NOTNULL"}


def _one_comparison_per_term(tokens: tuple[Token, ...] | list[Token]) -> None:
    """Refuse `a < b = c` and the like: the two dialects rank comparison operators differently."""
    counts = [0]
    between = [False]
    for index, token in enumerate(tokens):
        word = token.upper or token.text
        if token.text == "(":
            counts.append(0)
            between.append(False)
        elif token.text == ")":
            counts.pop()
            between.pop()
        elif word == "AND" and between[-1]:
            between[-1] = False  # BETWEEN's own AND
        elif word in ("AND", "OR", "NOT", ","):
            if word == "NOT" and index + 1 < len(tokens) and tokens[index + 1].upper in ("NULL", "IN", "BETWEEN"):
                continue
            counts[-1] = 0
        elif word in COMPARISONS:
            counts[-1] += 1
            between[-1] = between[-1] or word == "BETWEEN"
            if counts[-1] > 1:
                raise Untranslatable("chains comparisons, which SQLite and PostgreSQL rank differently")


def default(text: str, pg_type: str) -> str:
    """PostgreSQL text for a column DEFAULT (pragma_table_xinfo's dflt_value) on a column of `pg_type`."""
    tokens = tokenize(text)
    while len(tokens) >= 2 and tokens[0].text == "(" and closing_parenthesis(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    kinds = [t.kind for t in tokens]
    words = [t.upper for t in tokens]
    if kinds == ["word"] and words[0] == "NULL":
        return "NULL"
    if kinds in (["number"], ["op", "number"]) and (kinds == ["number"] or tokens[0].text in "+-"):
        number = "".join(t.text for t in tokens)
        if pg_type == "boolean":
            if number not in ("0", "1"):
                raise Untranslatable(f"the number {number} on a boolean column")
            return "TRUE" if number == "1" else "FALSE"
        if pg_type == "bytea":
            raise Untranslatable("a number on a blob column")
        return number if pg_type != "text" else "'" + number + "'"
    if kinds == ["word"] and words[0] in ("TRUE", "FALSE"):
        if pg_type == "boolean":
            return words[0]
        if pg_type in ("bigint", "double precision") or pg_type.startswith("numeric"):
            return "1" if words[0] == "TRUE" else "0"
        raise Untranslatable(f"{words[0]} on a {pg_type} column")
    if kinds == ["string"]:
        if pg_type == "text":
            return tokens[0].text
        parsed = iso_datetime(tokens[0].text[1:-1].replace("''", "'"))
        if pg_type in DATE_KINDS and parsed is not None and parsed[0] in DATE_KINDS[pg_type]:
            return f"{tokens[0].text}::{pg_type}"
        raise Untranslatable(f"a string on a {pg_type} column")
    now = None
    if kinds == ["word"] and words[0] in NOW_FORMATS:
        now = words[0]
    elif kinds == ["word", "op", "string", "op"] and tokens[0].text.lower() in NOW_FUNCTIONS \
            and tokens[2].text.lower() == "'now'" and tokens[3].text == ")":
        now = NOW_FUNCTIONS[tokens[0].text.lower()]
    if now is not None and (now, pg_type) in NOW_TYPED:
        return NOW_TYPED[now, pg_type]
    if now is not None:
        if pg_type != "text":
            raise Untranslatable(f"the time now as text on a {pg_type} column")
        return f"to_char(now() AT TIME ZONE 'utc', '{NOW_FORMATS[now]}')"
    function = next((t.text.lower() for t, n in zip(tokens, tokens[1:], strict=False) if t.kind == "word"
                     and n.text == "("), None)
    if function is not None:
        raise Untranslatable(f"uses the SQLite function {function}()")
    raise Untranslatable("not a literal or a time of now")


# Words a SELECT uses as keywords: never taken for a column that happens to be spelled alike ("End", "Limit").
_VIEW_WORDS = """SELECT FROM WHERE GROUP BY ORDER HAVING LIMIT OFFSET JOIN LEFT RIGHT FULL INNER OUTER CROSS
    NATURAL ON USING AS AND OR NOT NULL IS IN BETWEEN LIKE GLOB ESCAPE CASE WHEN THEN ELSE END DISTINCT ALL UNION
    EXCEPT INTERSECT ASC DESC CAST EXISTS COLLATE VIEW CREATE TEMP TEMPORARY IF WITH RECURSIVE VALUES TRUE
    FALSE"""
VIEW_KEYWORDS = frozenset(_VIEW_WORDS.split())


def requote(sql: str, rename: Callable[[str], str | None]) -> str:
    """`sql` (a CREATE VIEW) with every quoted name ("x", [x], `x`) written in standard double quotes, and a name
    `rename(name)` maps (a table's or column's PostgreSQL name) written as that; string literals, comments
    and function names are left as they are. An unquoted name keeps its spelling unless PostgreSQL, folding
    it to lower case, would miss what it names. Untranslatable when the text cannot be read."""
    out: list[str] = []
    position = 0
    tokens = tokenize(sql)
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        before = tokens[index - 1] if index else None
        if token.kind == "ident":
            name = identifier(token)
            text = q(rename(name) or name)
        elif token.kind == "word" and (following is None or following.text != "(") \
                and (before is None or before.upper != "AS") and token.upper not in VIEW_KEYWORDS:
            mapped = rename(token.text)
            text = q(mapped) if mapped is not None and mapped != token.text.lower() else token.text
        else:
            continue
        out.append(sql[position:token.start])
        out.append(text)
        position = token.end
    out.append(sql[position:])
    return "".join(out)
