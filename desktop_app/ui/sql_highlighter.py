"""SQL syntax highlighting for the console editor and the schema SQL view.

Colours come from the palette (ui/theme.py: each hue made readable on the editor's background) and are
re-read when the theme changes."""

from __future__ import annotations

import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument

from desktop_app.ui import theme

KEYWORDS = ["ABORT", "ACTION", "ADD", "AFTER", "ALL", "ALTER", "ALWAYS", "ANALYZE", "AND", "AS", "ASC", "ATTACH", "AUTOINCREMENT", "BEFORE", "BEGIN", "BETWEEN", "BY", "CASCADE", "CASE", "CAST", "CHECK", "COLLATE", "COLUMN", "COMMIT", "CONFLICT", "CONSTRAINT", "CREATE", "CROSS", "CURRENT", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "DATABASE", "DEFAULT", "DEFERRABLE", "DEFERRED", "DELETE", "DESC", "DETACH", "DISTINCT", "DO", "DROP", "EACH", "ELSE", "END", "ESCAPE", "EXCEPT", "EXCLUDE", "EXCLUSIVE", "EXISTS", "EXPLAIN", "FAIL", "FILTER", "FIRST", "FOLLOWING", "FOR", "FOREIGN", "FROM", "FULL", "GENERATED", "GLOB", "GROUP", "GROUPS", "HAVING", "IF", "IGNORE", "IMMEDIATE", "IN", "INDEX", "INDEXED", "INITIALLY", "INNER", "INSERT", "INSTEAD", "INTERSECT", "INTO", "IS", "ISNULL", "JOIN", "KEY", "LAST", "LEFT", "LIKE", "LIMIT", "MATCH", "MATERIALIZED", "NATURAL", "NO", "NOT", "NOTHING", "NOTNULL", "NULL", "NULLS", "OF", "OFFSET", "ON", "OR", "ORDER", "OTHERS", "OUTER", "OVER", "PARTITION", "PLAN", "PRAGMA", "PRECEDING", "PRIMARY", "QUERY", "RAISE", "RANGE", "RECURSIVE", "REFERENCES", "REGEXP", "REINDEX", "RELEASE", "RENAME", "REPLACE", "RESTRICT", "RETURNING", "RIGHT", "ROLLBACK", "ROW", "ROWS", "SAVEPOINT", "SELECT", "SET", "STRICT", "TABLE", "TEMP", "TEMPORARY", "THEN", "TIES", "TO", "TRANSACTION", "TRIGGER", "UNBOUNDED", "UNION", "UNIQUE", "UPDATE", "USING", "VACUUM", "VALUES", "VIEW", "VIRTUAL", "WHEN", "WHERE", "WINDOW", "WITH", "WITHOUT"]  # noqa: SIM905 (a word list reads better as text)
TYPES = "INTEGER INT REAL TEXT BLOB NUMERIC ANY BOOLEAN VARCHAR FLOAT DOUBLE DATE DATETIME".split()  # noqa: SIM905
FUNCTIONS = ["abs", "avg", "changes", "char", "coalesce", "count", "date", "datetime", "format", "glob", "group_concat", "hex", "ifnull", "iif", "instr", "json", "json_extract", "json_array", "json_object", "julianday", "last_insert_rowid", "length", "like", "lower", "ltrim", "max", "min", "nullif", "printf", "quote", "random", "randomblob", "replace", "round", "rtrim", "strftime", "string_agg", "substr", "substring", "sum", "time", "total", "total_changes", "trim", "typeof", "unhex", "unicode", "unixepoch", "upper", "zeroblob"]  # noqa: SIM905


def _format(color: QColor, *, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(color)
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


KEYWORD_SET = frozenset(KEYWORDS)
TYPE_SET = frozenset(TYPES)
FUNCTION_SET = frozenset(FUNCTIONS)
# Words are looked up in sets rather than matched by three alternations of ~200 words: those took ~14 ms to
# compile, on the window's way to the screen.
WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
CALL_FOLLOWS = re.compile(r"\s*\(")
# Later rules win where they overlap (a number inside a quoted name is the name's).
OTHER_RULES = (
    ("number", re.compile(r"\b\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b|\bx'[0-9a-fA-F]*'")),
    ("number", re.compile(r"[?:@$]\w*")),
    ("identifier", re.compile(r'"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]')),
    ("string", re.compile(r"'(?:[^']|'')*'?")),
)


class SqlHighlighter(QSyntaxHighlighter):
    IN_COMMENT = 1

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.apply_theme(rehighlight=False)
        theme.notifier().changed.connect(self.apply_theme)

    def apply_theme(self, rehighlight: bool = True) -> None:
        """Take the colours for the current palette (the editor's background is its Base colour)."""
        sql = self.colors = theme.colors().sql
        self._words = {kind: _format(sql[kind], bold=kind == "keyword") for kind in ("keyword", "type", "function")}
        self._rules = [(pattern, _format(sql[kind])) for kind, pattern in OTHER_RULES]
        self._comment = _format(sql["comment"], italic=True)
        if rehighlight:
            self.rehighlight()

    def keyword_format(self) -> QTextCharFormat:
        return self._words["keyword"]

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt override)
        words = self._words
        for match in WORD.finditer(text):
            word = match.group()
            upper = word.upper()
            if word.lower() in FUNCTION_SET and CALL_FOLLOWS.match(text, match.end()):
                fmt = words["function"]
            elif upper in TYPE_SET:
                fmt = words["type"]
            elif upper in KEYWORD_SET:
                fmt = words["keyword"]
            else:
                continue
            self.setFormat(match.start(), len(word), fmt)
        for pattern, fmt in self._rules:
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), fmt)
        self._comments(text)

    def _comments(self, text: str) -> None:
        """Line comments and /* block comments */ (which may span lines) override everything else."""
        self.setCurrentBlockState(0)
        position = 0
        if self.previousBlockState() == self.IN_COMMENT:
            end = text.find("*/")
            if end < 0:
                self.setFormat(0, len(text), self._comment)
                self.setCurrentBlockState(self.IN_COMMENT)
                return
            self.setFormat(0, end + 2, self._comment)
            position = end + 2
        while position < len(text):
            line = text.find("--", position)
            block = text.find("/*", position)
            starts = [p for p in (line, block) if p >= 0 and not _inside_string(text, p)]
            if not starts:
                return
            start = min(starts)
            if start == line:
                self.setFormat(start, len(text) - start, self._comment)
                return
            end = text.find("*/", start + 2)
            if end < 0:
                self.setFormat(start, len(text) - start, self._comment)
                self.setCurrentBlockState(self.IN_COMMENT)
                return
            self.setFormat(start, end + 2 - start, self._comment)
            position = end + 2


def _inside_string(text: str, position: int) -> bool:
    return text.count("'", 0, position) % 2 == 1
