"""The desktop app: `sqlite-pulse [PATH] [--read-only] [--demo]` opens the main window on a qasync loop.

PySide6 is imported before qasync (qasync binds to the Qt already loaded). The qasync loop drives the
window: opening a file, every query, page and maintenance job is a coroutine on it that awaits work done on
the session's threads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

# isort: split
import qasync  # after PySide6 on purpose: it binds to the Qt already imported

from desktop_app import __version__, logs
from desktop_app.ui.application import create_application

if TYPE_CHECKING:
    from desktop_app.ui.main_window import MainWindow

TRACE_VARIABLE = "SQLITE_PULSE_TRACE_STARTUP"


def since_process_start() -> float:
    """Seconds since this process started (Linux /proc; 10 ms resolution), else since this module loaded."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:  # not SQLite's files
            started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
            return float(uptime.read().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _LOADED_AT


_LOADED_AT = time.perf_counter()
_TRACE_BASE = since_process_start() - time.perf_counter() if os.environ.get(TRACE_VARIABLE) else 0.0


def trace(step: str) -> None:
    """With SQLITE_PULSE_TRACE_STARTUP=1, print when each start-up step happened (ms since process start)."""
    if os.environ.get(TRACE_VARIABLE):
        print(f"startup {(_TRACE_BASE + time.perf_counter()) * 1000:7.0f} ms  {step}", file=sys.stderr, flush=True)


trace("PySide6 and qasync imported")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqlite-pulse", description="Watch a SQLite database live.")
    parser.add_argument("path", nargs="?", type=Path, help="database to open")
    parser.add_argument("--read-only", action="store_true", help="open PATH read-only (no write lock, no changes)")
    parser.add_argument("--demo", action="store_true", help="open a demo database with a live stream flowing into it")
    parser.add_argument("--demo-rate", type=int, default=2000, metavar="N", help="demo messages per second (0: unthrottled)")
    parser.add_argument("--settings", type=Path, metavar="INI", help="settings file (default: per-user)")
    parser.add_argument("--log-level", choices=logs.LEVELS, help="how much to log (default: warning; the log file "
                        "keeps info and above)")
    parser.add_argument("--version", action="version", version=f"SQLite Pulse {__version__}")
    return parser


SHOW_WITHIN_S = 0.25  # a file given on the command line may hold the window back this long, no longer
EXPOSE_WAIT_S = 0.1  # how long the frame may wait for the display to expose it before the panels load


async def show_frame(window: MainWindow) -> bool:
    """Show the window's frame (menus, toolbar, empty docks) and let it paint, then build the panels: the
    window is on screen while their modules import (the largest part of start-up). False when the window
    was closed meanwhile (Ctrl+C, SIGTERM, or the user, while it waited to be exposed)."""
    if window.shut_down:
        return False
    window.show()
    trace("window shown")
    deadline = time.monotonic() + EXPOSE_WAIT_S
    handle = window.windowHandle()
    while handle is not None and not handle.isExposed() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)  # the display's expose event arrives through the loop
    if window.shut_down:
        return False
    window.repaint()
    window.build_panels()
    trace("panels built")
    return True


async def start(window: MainWindow, args: argparse.Namespace) -> None:
    """A file given on the command line is opened first (while that is quick: SHOW_WITHIN_S at most), so the
    window shows titled with it; then the panels are built and the session fills them. If the window is
    closed first, or this is cancelled, a session opened here is closed here."""
    if args.path is None or args.demo:
        if await show_frame(window) and args.demo:
            window.start_demo(args.demo_rate)
        return
    from desktop_app.core.session import Session

    started = asyncio.ensure_future(
        Session.open(args.path, read_only=args.read_only, interval=window.sample_interval)
    )
    opening: asyncio.Future | None = started  # None once the window owns it
    try:
        await asyncio.wait({started}, timeout=SHOW_WITHIN_S)
        if started.done() and not started.cancelled() and started.exception() is None:
            database = started.result().database
            assert database is not None  # an opened session has its database
            window.announce_opening(database)
            trace("title names the file")
        if await show_frame(window):
            window.open_path(args.path, read_only=args.read_only, opening=started)
            opening = None
    finally:
        if opening is not None:
            opening.cancel()  # Session.open closes what it opened when cancelled
            with contextlib.suppress(BaseException):
                await (await opening).close()


def close_or_quit(window: MainWindow) -> None:
    """Ctrl+C or SIGTERM: close the window (which stops the ingest and the demo server); before it has ever
    shown, closing it would not end the app, so shut it down and quit."""
    if window.isVisible():
        window.close()
        return
    window.shutdown()
    QApplication.quit()


class SignalGate:
    """Ctrl+C and SIGTERM from the first line of `main`: a signal that arrives before the window exists is
    remembered (the app then ends without showing it); afterwards each one closes the window from the loop.
    Python runs signal handlers only between bytecodes, so a slow timer gives it the chance while Qt idles."""

    def __init__(self) -> None:
        self.window: MainWindow | None = None
        self.requested = False
        self.previous = {sig: signal.signal(sig, self._received) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _received(self, _signum: int, _frame: object) -> None:
        window = self.window
        if window is None:
            self.requested = True
        else:
            QTimer.singleShot(0, lambda: close_or_quit(window))

    def attach(self, window: MainWindow) -> bool:
        """From now on a signal closes `window`. False when one already came: do not show it."""
        self.window = window
        return not self.requested

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    gate = SignalGate()  # before anything can announce itself, so no signal ever finds Python's default
    try:
        return run_window(gate, argv)
    finally:
        gate.restore()


def run_window(gate: SignalGate, argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logs.configure(args.log_level, to_file=True)
    app = create_application()
    trace("QApplication created")

    from desktop_app.ui.excepthook import install_excepthook
    from desktop_app.ui.main_window import MainWindow
    from desktop_app.ui.settings import AppSettings

    trace("window modules imported")

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    settings = AppSettings.at(args.settings) if args.settings else AppSettings.default()
    window = MainWindow(settings, build_panels=False)
    if not gate.attach(window):
        window.shutdown()
        return 0
    trace("window frame built")
    if os.environ.get(TRACE_VARIABLE):
        window.database_opened.connect(lambda database: trace(f"{database.path.name} opened, title set"))
        window.sample_received.connect(lambda _sample: trace("a sample reached the dashboard"))
        window.open_failed.connect(lambda error: trace(f"open failed: {error}"))
    restore_hook = install_excepthook(window.dialogs.show_error)
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(300)

    starting: list[asyncio.Task] = []
    loop.call_soon(lambda: starting.append(asyncio.ensure_future(start(window, args))))  # once the loop runs
    try:
        with loop:
            loop.run_forever()  # returns when the last window closes
            unfinished = [task for task in starting if not task.done()]
            for task in unfinished:  # closed while starting: let it close what it opened
                task.cancel()
            if unfinished:
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(asyncio.gather(*unfinished, return_exceptions=True))
    finally:
        wake.stop()
        window.shutdown()
        restore_hook()
    return 0
