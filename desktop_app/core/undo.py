"""One undo history per open database: the grid's edits and the Structure menu's changes, last first.

Each entry is what one committed change needs to be put back: a title ("Edit Album row 3 Title", "Rename
table a to b"), a function that undoes it in one transaction on the session's one write connection
(`Callable[[apsw.Connection], object]`, run through `Session.write`), and what a view needs to know to show
the result (the table it touched, whether the schema changed). The `Session` owns its history: it starts
empty with the open, and is emptied when the file closes.

LIFO is what makes it safe: an edit made after a structure change can only be undone first, so an edit's
undo never runs against a schema it was not made for (the app's own changes, at least; another program's
are caught by the undo itself, whose update is guarded by the value it wrote).

An undo that fails because another connection held the lock stays on top: trying again later works. Any
other failure (the row changed again since, a constraint, the schema moved on under it) would fail the same
way every time and would keep every older entry out of reach, so that entry is taken off, and the error says
so (`UndoFailed`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop_app.core.errors import DatabaseLocked, PulseError
from desktop_app.core.events import Event, Events

if TYPE_CHECKING:
    import apsw

DEPTH = 50

Undo = Callable[["apsw.Connection"], object]
Writer = Callable[[Undo], Awaitable[object]]


class UndoRefused(PulseError):
    """Nothing was undone: the history is empty, an undo is still running, or edits are not allowed now."""


class UndoFailed(PulseError):
    """The undo ran and SQLite (or a guard) refused it: nothing was changed, the message says whether the
    entry is still on the history."""


@dataclass(frozen=True)
class UndoEntry:
    title: str  # "Edit Album row 3 Title", "Rename table a to b"
    undo: Undo  # puts it back, in one transaction, on the write connection
    kind: str = "edit"  # "edit" (the grid's rows) or "structure"
    table: str | None = None  # the table it touched (a view showing it reloads)
    schema: bool = False  # the schema changes when it is undone (re-read it)


class UndoEvents(Events):
    def __init__(self) -> None:
        self.changed: Event[UndoHistory] = Event("changed")  # an entry was added or taken off
        self.undone: Event[UndoEntry] = Event("undone")  # an entry was undone (views reload what it touched)


class UndoHistory:
    """The open database's undo entries, newest last, at most `depth` (the oldest go first)."""

    def __init__(self, write: Writer, refresh_schema: Callable[[], Awaitable[object]], *, depth: int = DEPTH) -> None:
        self._write = write
        self._refresh_schema = refresh_schema
        self.depth = depth
        self.entries: list[UndoEntry] = []
        self.events = UndoEvents()
        self.running: UndoEntry | None = None  # the entry being undone
        self.saving = 0  # changes on their way to the writer: their entries are not on the history yet
        self._edits_allowed = False

    @property
    def edits_allowed(self) -> bool:
        """The grid's Allow edits: undoing an edit changes rows too, so it needs the box ticked."""
        return self._edits_allowed

    @edits_allowed.setter
    def edits_allowed(self, on: bool) -> None:
        if on != self._edits_allowed:
            self._edits_allowed = on
            self.events.changed.emit(self)

    def __len__(self) -> int:
        return len(self.entries)

    def begin_saving(self) -> None:
        """A change is on its way to the writer: Undo waits for it (it would undo the change before it)."""
        self.saving += 1
        self.events.changed.emit(self)

    def end_saving(self) -> None:
        self.saving -= 1
        self.events.changed.emit(self)

    def push(self, entry: UndoEntry) -> None:
        self.entries.append(entry)
        del self.entries[: -self.depth]
        self.events.changed.emit(self)

    def last(self) -> UndoEntry | None:
        return self.entries[-1] if self.entries else None

    def text(self) -> str:
        """The Undo action's text: "Undo <title>", or "Nothing to undo"."""
        entry = self.last()
        return f"Undo {entry.title}" if entry is not None else "Nothing to undo"

    def refusal(self) -> str:
        """Why Undo would do nothing now ("" when it would run the last entry)."""
        entry = self.last()
        if self.running is not None:
            return f"Still undoing {self.running.title}."
        if self.saving:
            return "A change is still being saved: undo it once it is."
        if entry is None:
            return "Nothing to undo."
        if entry.kind == "edit" and not self.edits_allowed:
            return f"Tick Allow edits under the table to undo {entry.title} (undoing an edit changes rows too)."
        return ""

    def clear(self) -> None:
        if self.entries:
            self.entries.clear()
            self.events.changed.emit(self)

    async def undo(self) -> UndoEntry:
        """Undo the last entry; return it. UndoRefused: nothing ran. UndoFailed: it ran and nothing changed."""
        why = self.refusal()
        if why:
            raise UndoRefused(why)
        entry = self.entries.pop()
        self.running = entry
        self.events.changed.emit(self)
        try:
            await self._write(entry.undo)
        except DatabaseLocked as error:
            self.entries.append(entry)  # another writer held the lock: the same undo can be tried again
            raise UndoFailed(f"Could not undo {entry.title}: {error} It is still the next undo: try again.") from error
        except PulseError as error:
            raise UndoFailed(
                f"Could not undo {entry.title}: {error} It was taken off the undo history (it would fail again); "
                "older changes can still be undone."
            ) from error
        finally:
            self.running = None
            self.events.changed.emit(self)
        if entry.schema:
            await self._refresh_schema()
        self.events.undone.emit(entry)
        return entry
