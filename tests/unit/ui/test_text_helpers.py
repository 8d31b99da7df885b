from __future__ import annotations

import pytest
from PySide6.QtGui import QTextDocument

from desktop_app.ui.sql_highlighter import SqlHighlighter

pytestmark = pytest.mark.gui


def formats_of(text: str) -> list[tuple[int, int, str]]:
    document = QTextDocument()
    highlighter = SqlHighlighter(document)
    document.setPlainText(text)
    highlighter.rehighlight()
    spans = []
    block = document.begin()
    while block.isValid():
        for fmt_range in block.layout().formats():
            spans.append(
                (block.position() + fmt_range.start, fmt_range.length, fmt_range.format.foreground().color().name())
            )
        block = block.next()
    return spans


def colour_at(text: str, position: int) -> str | None:
    for start, length, colour in formats_of(text):
        if start <= position < start + length:
            return colour
    return None


def test_keywords_strings_numbers_and_comments_are_coloured() -> None:
    sql = "SELECT 'from' , 42 FROM t -- where\n/* a\nselect */ WHERE x"
    keyword = colour_at(sql, sql.index("SELECT"))
    assert keyword is not None
    assert colour_at(sql, sql.index("'from'") + 1) not in (None, keyword)  # a keyword inside a string is a string
    assert colour_at(sql, sql.index("42")) not in (None, keyword)
    comment = colour_at(sql, sql.index("where"))
    assert comment not in (None, keyword)
    assert colour_at(sql, sql.index("select */")) == comment  # a block comment spans lines
    assert colour_at(sql, sql.index("WHERE x")) == keyword
    assert colour_at(sql, sql.index(" t ") + 1) is None


def test_a_word_is_a_function_when_called_else_a_type_or_keyword() -> None:
    sql = "REPLACE INTO t VALUES (replace(a, 'x', 'y'), date ('now')); CREATE TABLE u(d DATE, n int2, m INT)"
    keyword, function = colour_at(sql, sql.index("REPLACE")), colour_at(sql, sql.index("replace("))
    type_ = colour_at(sql, sql.index("DATE"))
    assert None not in (keyword, function, type_) and len({keyword, function, type_}) == 3
    assert colour_at(sql, sql.index("date (")) == function  # a space before the bracket still calls it
    assert colour_at(sql, sql.index("INT)")) == type_
    assert colour_at(sql, sql.index("int2")) is None  # not a type: the whole word counts
