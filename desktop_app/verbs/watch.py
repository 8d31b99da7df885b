"""`watch DB`: the dashboard's headless twin, for a terminal or an SSH session to an edge device.

One sample per interval, printed as one JSON object (the `stats --json` keys, red flags included, with each
row of the series table (core/series.py) that declares a JSON key) or one compact line. Like the window it keeps one read-only connection open for the whole run, so it holds
SQLite's locks and another process closing its last connection cannot delete the WAL under it.
Ctrl+C and SIGTERM end it cleanly (exit 0).

Several databases can be watched at once (one line per database per interval, prefixed with its name),
and `--serve HOST:PORT` serves their figures to Prometheus (core/prometheus.py) with a `db` label.
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
    watch.add_argument("db", type=Path, nargs="+")
    watch.add_argument("--interval", type=positive_seconds, default=1.0, metavar="S", help="seconds between samples")
    watch.add_argument("--seconds", type=positive_seconds, default=None, metavar="S", help="stop after S seconds")
    watch.add_argument("--json", action="store_true", help="one JSON object per sample (the `stats --json` keys)")
    watch.add_argument(
        "--serve", metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (HOST defaults to 127.0.0.1; samples are "
        "then not printed)",
    )
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
    from desktop_app.core import series
    from desktop_app.core.database import open_database
    from desktop_app.core.errors import PulseError
    from desktop_app.core.metrics import MetricsSampler

    databases = [open_database(path, read_only=True) for path in args.db]
    several = len(databases) > 1
    names = [str(path) for path in args.db]
    fleet = ledgers = server = None
    table = series.BUILTIN  # looked up per run: the table is data, and a test may add a row
    if args.serve:
        from desktop_app.core.prometheus import FleetMetrics, LedgerReader, parse_listen, serve

        host, port = parse_listen(args.serve)
        fleet = FleetMetrics(table)
        ledgers = [LedgerReader(database.path) for database in databases]
        server, port = serve(fleet, host, port)
        print(f"serving metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    stop = threading.Event()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    last_errors = [""] * len(databases)
    with stop_on_signals(stop), contextlib.ExitStack() as stack:
        samplers = [stack.enter_context(MetricsSampler(database.path)) for database in databases]
        running = True
        while running and not stop.is_set():
            for index, sampler in enumerate(samplers):
                prefix = f"{names[index]}: " if several else ""
                try:
                    sample = sampler.sample()
                    ingesting = ledgers is not None and ledgers[index].read()
                except PulseError as exc:  # e.g. locked for a moment: say so once, keep watching
                    if str(exc) != last_errors[index]:
                        print(f"sqlite-pulse: {prefix}{exc}", file=sys.stderr, flush=True)
                    last_errors[index] = str(exc)
                    if fleet is not None:
                        fleet.update(names[index], None)
                    continue
                last_errors[index] = ""
                if fleet is not None:
                    fleet.update(names[index], sample, ledgers[index] if ingesting and ledgers else None)
                    continue
                record = series.json_record(table, sample)
                if several and args.json:
                    record = {"db": names[index], **record}
                line = json.dumps(record, default=str) if args.json else prefix + format_line(record)
                if not emit(line):
                    running = False
                    break
            wait = args.interval if deadline is None else min(args.interval, deadline - time.monotonic())
            if wait <= 0 or stop.wait(wait) or (deadline is not None and time.monotonic() >= deadline):
                break
    if server is not None:
        server.shutdown()
    for ledger in ledgers or ():
        ledger.close()
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
