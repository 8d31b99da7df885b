"""Counts in sentences: "1 table", "3 tables", "1 index", "2 indexes", never "table(s)"."""

from __future__ import annotations

IRREGULAR = {"index": "indexes", "match": "matches", "entry": "entries", "key": "keys"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless the count is one; thousands separated."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {plural or IRREGULAR.get(noun) or noun + 's'}"
