"""The console's own documents, per database: its open tabs and the queries saved by name.

Plain data with a JSON form; the window keeps it in the app's settings keyed by the database's path, never
in the database file. A hand-edited or foreign entry is dropped item by item, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TabState:
    title: str  # the name the user gave (a file-backed tab shows its file name instead)
    text: str
    file: str | None = None  # the .sql file the tab is saved to
    modified: bool = False  # text differs from the file's

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, "file": self.file, "modified": self.modified}

    @classmethod
    def from_dict(cls, item: Any) -> TabState | None:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            return None
        file = item.get("file")
        return cls(
            title=str(item.get("title") or "Query"),
            text=item["text"],
            file=file if isinstance(file, str) and file else None,
            modified=bool(item.get("modified")),
        )


@dataclass(frozen=True)
class ConsoleState:
    tabs: tuple[TabState, ...]
    current: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"tabs": [tab.to_dict() for tab in self.tabs], "current": self.current}

    @classmethod
    def from_dict(cls, value: Any) -> ConsoleState | None:
        if not isinstance(value, dict) or not isinstance(value.get("tabs"), list):
            return None
        tabs = tuple(tab for item in value["tabs"] if (tab := TabState.from_dict(item)) is not None)
        if not tabs:
            return None
        current = value.get("current")
        return cls(tabs, current if isinstance(current, int) and 0 <= current < len(tabs) else 0)


@dataclass(frozen=True)
class SavedQuery:
    name: str
    sql: str


def saved_queries_from(value: Any) -> list[SavedQuery]:
    """The saved queries in a stored JSON value (a list of {name, sql}); anything else is skipped."""
    found: list[SavedQuery] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("sql"), str):
            found.append(SavedQuery(item["name"], item["sql"]))
    return found


def saved_queries_to(queries: list[SavedQuery]) -> list[dict[str, str]]:
    return [{"name": query.name, "sql": query.sql} for query in queries]


def with_query(queries: list[SavedQuery], query: SavedQuery) -> list[SavedQuery]:
    """`queries` with `query` added, or replacing the one of that name; sorted by name."""
    kept = [item for item in queries if item.name != query.name]
    return sorted([*kept, query], key=lambda item: item.name.casefold())


def without_query(queries: list[SavedQuery], name: str) -> list[SavedQuery]:
    return [item for item in queries if item.name != name]


def renamed(queries: list[SavedQuery], old: str, new: str) -> list[SavedQuery]:
    """`old` saved as `new` (replacing any query already named `new`)."""
    query = next((item for item in queries if item.name == old), None)
    if query is None:
        return queries
    return with_query(without_query(queries, old), SavedQuery(new, query.sql))
