"""`watch DB`: the dashboard's headless twin, for a terminal or an SSH session to an edge device.

One sample per interval, printed as one JSON object (the `stats --json` keys, red flags included) or one
compact line. Like the window it keeps one read-only connection open for the whole run, so it holds
SQLite's locks and another process closing its last connection cannot delete the WAL under it.
Ctrl+C and SIGTERM end it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

EXIT_OK = 0
MB = 1_000_000


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    watch = subparsers.add_parser(
        "watch", help="sample a database live: a line (or JSON object) per sample, until Ctrl+C (read-only)"
    )
    watch.add_argument("db", type=Path)
    watch.add_argument("--interval", type=positive_seconds, default=1.0, metavar="S", help="seconds between samples")
    watch.add_argument("--seconds", type=positive_seconds, default=None, metavar="S", help="stop after S seconds")
    watch.add_argument("--json", action="store_true", help="one JSON object per sample (the `stats --json` keys)")
    watch.set_defaults(handler=run_watch)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl+C and SIGTERM set `stop` instead of raising, so the loop ends between samples."""
    signals = [signal.SIGINT, signal.SIGTERM]
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_watch(args: argparse.Namespace) -> int:
    from desktop_app.core.database import open_database
    from desktop_app.core.errors import PulseError
    from desktop_app.core.metrics import MetricsSampler

    database = open_database(args.db, read_only=True)
    stop = threading.Event()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    last_error = ""
    with stop_on_signals(stop), MetricsSampler(database.path) as sampler:
        while not stop.is_set():
            try:
                sample = sampler.sample().to_dict()
            except PulseError as exc:  # e.g. locked for a moment: say so once, keep watching
                if str(exc) != last_error:
                    print(f"sqlite-pulse: {exc}", file=sys.stderr, flush=True)
                last_error = str(exc)
            else:
                last_error = ""
                if not emit(json.dumps(sample, default=str) if args.json else format_line(sample)):
                    break
            wait = args.interval if deadline is None else min(args.interval, deadline - time.monotonic())
            if wait <= 0 or stop.wait(wait) or (deadline is not None and time.monotonic() >= deadline):
                break
    return EXIT_OK


def emit(line: str) -> bool:
    """Print one line; False when the reader of our stdout went away (`watch … | head`)."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return False
    return True


def format_line(sample: dict) -> str:
    """`12:00:01 wal data 3.4 MB file 1.0 MB wal 1.2 MB frames 340 pending 120 free 0.0% writes flags: none`"""
    stamp = time.strftime("%H:%M:%S", time.localtime(sample["taken_at"]))
    parts = [
        stamp,
        sample["journal_mode"],
        f"data {sample['data_bytes'] / MB:,.2f} MB",
        f"file {sample['db_bytes'] / MB:,.2f} MB",
    ]
    if sample["journal_mode"] == "wal":
        parts += [
            f"wal {sample['wal_bytes'] / MB:,.2f} MB",
            f"frames {sample['wal_live_frames']:,}",
            f"pending {sample['wal_pending_frames']:,}",
        ]
    parts.append(f"free {sample['freelist_percent']:.1f}%")
    parts.append("written" if sample["external_write"] else "quiet")
    flags = [flag["code"] for flag in sample["red_flags"]]
    parts.append(f"flags: {', '.join(flags) if flags else 'none'}")
    return "  ".join(parts)
