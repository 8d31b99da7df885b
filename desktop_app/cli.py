"""Command line: headless verbs over the core, or the desktop window when no verb is given.

Each verb module under `desktop_app.verbs` exposes `register(subparsers)`; the handler it sets
with `set_defaults(handler=...)` returns the process exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Iterator, Sequence

from desktop_app import __version__, logs
from desktop_app.core.errors import PulseError

# Modules that contribute verbs. Imported lazily per call so `stats` never loads Qt.
VERB_MODULES = (
    "desktop_app.verbs.inspect",  # stats, backup, checkpoint, vacuum, check
    "desktop_app.verbs.watch",  # watch
    "desktop_app.verbs.stream",  # demo-server, ingest, ingest-file, bench
    "desktop_app.verbs.migrate",  # migrate (SQLite -> PostgreSQL)
    "desktop_app.verbs.gui",  # smoke
    "desktop_app.verbs.query",  # query
    "desktop_app.verbs.space",  # space (where the bytes go)
    "desktop_app.verbs.audit",  # audit (the production checklist)
    "desktop_app.verbs.trim",  # trim (retention for any table)
    "desktop_app.verbs.dead_letters",  # dead-letters (list, show, replay, resolve, purge)
    "desktop_app.verbs.import_file",  # import (CSV/TSV, JSON, SQL into a table)
)

EXIT_USAGE_OR_ERROR = 2
# Every verb's name, so `sqlite-pulse file.db` starts the window without importing the verb modules (a test
# keeps this equal to what they register).
VERB_NAMES = frozenset(
    {"audit", "backup", "bench", "check", "checkpoint", "demo-server", "ingest", "ingest-file", "ingest-worker", "smoke",
     "migrate", "query", "space", "stats", "vacuum", "watch", "dead-letters", "trim", "import"}
)
# Verbs whose last word is a report of what they did: Ctrl+C or SIGTERM must reach it from their first instant.
REPORTING_VERBS = frozenset({"ingest", "ingest-file"})


class StopSignals:
    """SIGINT and SIGTERM, caught from the moment this is made: held until a listener takes them (the verb once
    its run exists), then passed to it. With no listener they never end the process by themselves."""

    def __init__(self) -> None:
        self.pending = 0
        self._listener: Callable[[], None] | None = None
        numbers = (signal.SIGINT, signal.SIGTERM)
        self._previous = {number: signal.signal(number, self._received) for number in numbers}
        # A spawner may block them across exec, so that one sent while the interpreter starts waits: take it now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, numbers)

    def _received(self, _signum: int, _frame: object) -> None:
        listener = self._listener
        if listener is None:
            self.pending += 1
        else:
            listener()

    def listen(self, listener: Callable[[], None] | None) -> None:
        """From now on each signal calls `listener` (None: hold them again); the held ones are passed first.
        Python runs a handler in the main thread between bytecodes, so none is lost or passed twice here."""
        self._listener = listener
        while listener is not None and self.pending:
            self.pending -= 1
            listener()

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Python's Ctrl+C (KeyboardInterrupt) for a blocking step with nothing to report yet: a prompt."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, self._received)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlite-pulse",
        description="Watch a SQLite database live; ingest WebSocket streams into it.",
    )
    parser.add_argument("--version", action="version", version=f"SQLite Pulse {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a verb module exists but its own import failed: that is a bug
                raise
            continue
        module.register(subparsers)
    return parser


def is_verb_call(argv: Sequence[str]) -> bool:
    """True when argv names a verb (or asks for help/version) rather than a database to open."""
    if not argv:
        return False
    first = argv[0]
    if first in ("-h", "--help", "--version"):
        return True
    return not first.startswith("-") and first in VERB_NAMES


def _verb_names() -> set[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def run_verb(argv: Sequence[str]) -> int:
    # Before the verb modules load (~0.1 s of imports): a signal then is held for the run, not fatal.
    stop_signals = StopSignals() if argv and argv[0] in REPORTING_VERBS else None
    try:
        args = build_parser().parse_args(list(argv))
        args.stop_signals = stop_signals
        return int(args.handler(args) or 0)
    except PulseError as exc:
        print(f"sqlite-pulse: {exc}", file=sys.stderr)
        return EXIT_USAGE_OR_ERROR
    except KeyboardInterrupt:
        return 130
    finally:
        if stop_signals is not None:
            stop_signals.restore()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        level, verb_argv = logs.split_log_level(argv)
    except ValueError as exc:
        print(f"sqlite-pulse: {exc}", file=sys.stderr)
        return EXIT_USAGE_OR_ERROR
    if is_verb_call(verb_argv):
        logs.configure(level)
        return run_verb(verb_argv)
    from desktop_app.app import main as gui_main  # Qt is imported only for the window

    return gui_main(argv)
