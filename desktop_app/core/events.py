"""A tiny evented model: `events.sample.connect(callback)`, then `events.sample.emit(value)` calls it.

Plain Python, no Qt (napari's `EmitterGroup` in miniature). Emitters are called on the thread that emits;
the session emits only on its asyncio loop thread, so subscribers (widgets on the GUI thread, or a headless
`watch`) never see a callback from a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

Callback = Callable[..., Any]
T = TypeVar("T")


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


class EmitterGroup:
    """Named emitters as attributes: `EmitterGroup("opened", "closed").opened.connect(cb)`."""

    def __init__(self, *names: str) -> None:
        self._names = names
        for name in names:
            setattr(self, name, Emitter(name))

    def disconnect_all(self) -> None:
        for name in self._names:
            getattr(self, name).disconnect()

    @property
    def names(self) -> tuple[str, ...]:
        return self._names


class Event(Emitter, Generic[T]):
    """One typed event with one payload: `Event[Session | None]("session_changed")`. A checker sees what
    `emit` takes and what a callback receives, which `setattr`-made emitters hide."""

    def connect(self, callback: Callable[[T], Any]) -> Callable[[T], Any]:  # type: ignore[override]
        return super().connect(callback)

    def emit(self, value: T) -> None:  # type: ignore[override]
        super().emit(value)
