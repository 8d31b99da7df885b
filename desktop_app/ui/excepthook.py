"""Unexpected errors (bugs) show a dialog with the traceback instead of vanishing into a terminal."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from desktop_app.core.errors import PulseError

ShowError = Callable[[str, str, str | None], None]


def install_excepthook(show_error: ShowError) -> Callable[[], None]:
    """Route uncaught exceptions to `show_error(title, text, detail)`; returns a function that undoes it."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        detail = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(detail)
        if isinstance(value, PulseError):
            show_error("SQLite Pulse", str(value), None)
            return
        try:
            show_error(
                "Unexpected error",
                f"Something went wrong inside SQLite Pulse: {kind.__name__}: {value}\n\n"
                "The details below help to report it. You can keep working; save your work if in doubt.",
                detail,
            )
        except Exception:  # the dialog itself failed: the traceback is already on stderr
            traceback.print_exc()

    sys.excepthook = hook

    def restore() -> None:
        sys.excepthook = previous

    return restore
