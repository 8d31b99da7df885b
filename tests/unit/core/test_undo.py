"""The undo history without Qt: last first, bounded, Allow edits for edits, and what a failed undo leaves."""

from __future__ import annotations

import asyncio

import pytest

from desktop_app.core.edit import EditConflict
from desktop_app.core.errors import DatabaseLocked
from desktop_app.core.undo import UndoEntry, UndoFailed, UndoHistory, UndoRefused


def history_with(outcomes: list[BaseException | None], depth: int = 50) -> tuple[UndoHistory, list[str]]:
    ran: list[str] = []

    async def write(fn):
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is not None:
            raise outcome
        return fn(None)

    async def refresh() -> None:
        ran.append("schema re-read")

    return UndoHistory(write, refresh, depth=depth), ran


def entry(title: str, ran: list[str], kind: str = "edit", schema: bool = False) -> UndoEntry:
    return UndoEntry(title, lambda _c: ran.append(title), kind=kind, table="t", schema=schema)


def test_last_first_bounded_and_edits_need_allow_edits() -> None:
    history, ran = history_with([], depth=3)
    for title in ("a", "b", "c", "d"):
        history.push(entry(title, ran))
    history.push(entry("rename", ran, kind="structure", schema=True))
    assert [e.title for e in history.entries] == ["c", "d", "rename"]  # the oldest went
    assert history.text() == "Undo rename"
    asyncio.run(history.undo())  # a structure entry: no Allow edits needed; the schema is re-read
    assert ran == ["rename", "schema re-read"]
    with pytest.raises(UndoRefused, match="Allow edits"):
        asyncio.run(history.undo())
    history.edits_allowed = True
    asyncio.run(history.undo())
    asyncio.run(history.undo())
    assert ran[2:] == ["d", "c"] and history.text() == "Nothing to undo"
    with pytest.raises(UndoRefused, match="Nothing to undo"):
        asyncio.run(history.undo())
    history.push(entry("e", ran))
    history.begin_saving()  # a change on its way: undoing "e" now would undo the change before it
    with pytest.raises(UndoRefused, match="still being saved"):
        asyncio.run(history.undo())
    history.end_saving()
    asyncio.run(history.undo())
    assert ran[-1] == "e"


def test_a_locked_undo_stays_on_top_and_a_conflict_is_taken_off_saying_so() -> None:
    history, ran = history_with([DatabaseLocked("database is locked"), None, EditConflict("changed again")])
    history.edits_allowed = True
    history.push(entry("older", ran))
    history.push(entry("newer", ran))
    with pytest.raises(UndoFailed, match="still the next undo"):
        asyncio.run(history.undo())
    assert [e.title for e in history.entries] == ["older", "newer"]
    asyncio.run(history.undo())  # tried again: done
    with pytest.raises(UndoFailed, match="taken off the undo history"):
        asyncio.run(history.undo())  # older: changed again since, it would fail every time
    assert history.entries == [] and ran == ["newer"]
