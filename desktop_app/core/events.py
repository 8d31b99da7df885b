"""A tiny evented model: `events.sample.connect(callback)`, then `events.sample.emit(value)` calls it.

Plain Python, no Qt (napari's `EmitterGroup` in miniature, each event declared as a typed attribute).
Emitters are called on the thread that emits; the session emits only on its asyncio loop thread, so subscribers (widgets on the GUI thread, or a headless
`watch`) never see a callback from a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVarTuple, Unpack

Callback = Callable[..., Any]
Ts = TypeVarTuple("Ts")


class Emitter:
    """One event: an ordered list of callbacks."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callback] = []

    def connect(self, callback: Callback) -> Callback:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Remove `callback` (all callbacks when None); removing one that is not connected is a no-op."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        # A copy: a callback may disconnect itself (or others) while the event is being delivered.
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


class Event(Emitter, Generic[*Ts]):
    """One typed event: `Event[Session | None]("session_changed")`, or with several arguments
    `Event[Sample, Activity]("sample")`. A checker sees what `emit` takes and what a callback receives."""

    def connect(self, callback: Callable[[Unpack[Ts]], Any]) -> Callable[[Unpack[Ts]], Any]:  # type: ignore[override]
        super().connect(callback)
        return callback

    def disconnect(self, callback: Callable[[Unpack[Ts]], Any] | None = None) -> None:  # type: ignore[override]
        super().disconnect(callback)

    def emit(self, *args: *Ts) -> None:
        super().emit(*args)


class Events:
    """A group of declared events, one typed attribute each (see `session.SessionEvents`)."""

    def emitters(self) -> list[Emitter]:
        return [value for value in vars(self).values() if isinstance(value, Emitter)]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(emitter.name for emitter in self.emitters())

    def disconnect_all(self) -> None:
        for emitter in self.emitters():
            emitter.disconnect()
