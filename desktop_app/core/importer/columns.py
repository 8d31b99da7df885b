"""Columns of an import: names made usable (unique, not empty) and SQLite types inferred from sample values.

CSV values are inserted as text and SQLite's column affinity converts them (an INTEGER column stores '42' as
42), so inference only has to be conservative: a column is INTEGER when every sampled value is an integer
SQLite would store exactly, REAL when every one is a number, else TEXT. '007', ' 42' and 20-digit ids stay
TEXT: converting them would lose what was in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TYPES = ("INTEGER", "REAL", "TEXT")
INTEGER_TEXT = re.compile(r"-?(?:0|[1-9]\d{0,17})")  # 18 digits always fit in 64 bits
# A fraction (an exponent may follow) or an integer with an exponent. Digits alone are not REAL: a 20-digit id
# would lose digits as one, so it stays TEXT.
REAL_TEXT = re.compile(r"-?(?:0|[1-9]\d*)?\.\d+(?:[eE][+-]?\d{1,3})?|-?(?:0|[1-9]\d*)[eE][+-]?\d{1,3}")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of TYPES


def text_type(values: Iterable[str]) -> str:
    """INTEGER, REAL or TEXT for these values as read from a text file; empty values do not count (a column
    with none but empty values is TEXT)."""
    kind = ""
    for value in values:
        if not value:
            continue
        if INTEGER_TEXT.fullmatch(value):
            kind = kind or "INTEGER"
        elif REAL_TEXT.fullmatch(value):
            kind = "REAL"
        else:
            return "TEXT"
    return kind or "TEXT"


def json_type(values: Iterable[object]) -> str:
    """INTEGER (ints and booleans), REAL (numbers) or TEXT (strings, objects, arrays, a mix) for JSON values."""
    kinds = {type(value) for value in values if value is not None}
    if not kinds:
        return "TEXT"
    if kinds <= {int, bool}:
        return "INTEGER"
    if kinds <= {int, bool, float}:
        return "REAL"
    return "TEXT"


def usable_names(names: Sequence[str]) -> list[str]:
    """Names trimmed; an empty one becomes column_N; a repeat (SQLite compares names without case) gets _2, _3."""
    result: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(names, start=1):
        base = raw.strip() or f"column_{index}"
        name, suffix = base, 2
        while name.lower() in seen:
            name, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(name.lower())
        result.append(name)
    return result


def numbered_names(count: int) -> list[str]:
    return [f"column_{index}" for index in range(1, count + 1)]


def check_type(name: str) -> str:
    upper = name.strip().upper()
    if upper not in TYPES:
        raise ValueError(f"unknown column type {name!r}; expected one of {', '.join(TYPES)}")
    return upper
