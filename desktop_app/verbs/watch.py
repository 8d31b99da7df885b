"""`watch DB`: the dashboard's headless twin, for a terminal or an SSH session to an edge device.

One sample per interval, printed as one JSON object (the `stats --json` keys, red flags included, with each
row of the series table (core/series.py) that declares a JSON key) or one compact line. Each database is a
read-only `Session`, as in the window: its sampler keeps its read connection open for the whole run, so it
holds SQLite's locks and another process closing its last connection cannot delete the WAL under it.
Ctrl+C and SIGTERM end it cleanly (exit 0).

A database deleted while watched, or replaced (another file now at its path: a different device or inode
from `os.stat`, the file itself never opened), is said once and served as `up 0` with no figures; a file
that appears at the path is opened afresh, each interval until it opens.

Several databases can be watched at once (one line per database per interval, prefixed with its name),
and `--serve HOST:PORT` serves their figures to Prometheus (core/prometheus.py) with a `db` label.

`--query NAME=SQL` adds the user's own numbers, run on every database after each sample, and `--alert`
rules on them; `--fail-on-alert` makes an alert that fired an exit status (verbs/watch_queries.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK = 0
MB = 1_000_000


def positive(unit: str, short: str) -> Callable[[str], float]:
    """An argparse type: a number more than 0, in `unit` (`short` in the message that says it must be more)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from exc
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be more than 0 {short}")
        return value

    return parse


positive_seconds = positive("seconds", "seconds")
positive_ms = positive("milliseconds", "ms")


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
    watch.add_argument(
        "--query", action="append", metavar="NAME=SQL",
        help="a series of your own: read-only SQL returning a number (or rows of label, number), run on each "
        "database after each sample; repeatable",
    )
    watch.add_argument(
        "--alert", action="append", metavar="RULE",
        help="an alert on a --query series, e.g. 'backlog > 100' or 'lag rising for 5m'; repeatable",
    )
    watch.add_argument("--fail-on-alert", action="store_true", help="exit 1 when an alert fired during the run")
    watch.add_argument(
        "--query-budget-ms", type=positive_ms, default=None, metavar="MS",
        help="cut a query run off after MS milliseconds and report it in query_errors (default 250)",
    )
    watch.set_defaults(handler=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    return asyncio.run(_watch(args))


async def _watch(args: argparse.Namespace) -> int:
    """Each database is a `Session` (core/session.py), as in the window: it samples on its own schedule and
    this verb subscribes to its samples and its sampler errors, printing them (or serving them)."""
    from desktop_app.core import series
    from desktop_app.core.errors import DatabaseLocked, PulseError
    from desktop_app.core.metrics import Sample
    from desktop_app.core.session import Session
    from desktop_app.verbs import watch_queries

    plan = watch_queries.plan_from(args)  # a mistake in --query or --alert is said before anything is opened
    if any(str(path).startswith(("postgresql:", "postgres:")) for path in args.db):  # not a file (no URL echoed)
        raise PulseError("watch reads SQLite files, not a PostgreSQL server: an ingest into PostgreSQL serves its "
                         "own counters with `ingest … --metrics HOST:PORT`.")
    fired = watch_queries.FiredAlerts()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):  # end cleanly between samples
        loop.add_signal_handler(number, stop.set)
    sessions: list[Session] = []
    server = None
    ledgers: list[Any] | None = None
    started = loop.time()

    async def opened(path: Path) -> tuple[Session, tuple[int, int] | None] | None:
        """The path's Session and the identity of its file; a file locked at its first sample is said once and
        tried again each interval (None when the run ends first), as a lock later on is."""
        said = ""
        while not stop.is_set():
            try:
                # Taken before the open: a file replaced in between differs from it, and is reopened.
                identity = file_identity(path)
                return await Session.open(path, read_only=True, interval=args.interval), identity
            except DatabaseLocked as exc:
                if str(exc) != said:
                    print(f"sqlite-pulse: {exc}", file=sys.stderr, flush=True)
                    said = str(exc)
            left = None if args.seconds is None else started + args.seconds - loop.time()
            if left is not None and left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval if left is None else min(args.interval, left))
        return None

    identities: list[tuple[int, int] | None] = []  # (st_dev, st_ino) of the file each session opened
    try:
        for path in args.db:
            found = await opened(path)
            if found is None:
                return EXIT_OK
            sessions.append(found[0])
            identities.append(found[1])
        several = len(sessions) > 1
        names = [str(path) for path in args.db]
        if plan:
            await watch_queries.check_plan(plan, sessions, names)
            for session in sessions:
                session.set_query_series(plan.series, plan.rules)
        fleet = None
        table = series.BUILTIN  # looked up per run: the table is data, and a test may add a row
        if args.serve:
            from desktop_app.core.prometheus import FleetMetrics, LedgerReader, parse_listen, serve

            host, port = parse_listen(args.serve)
            fleet = FleetMetrics(table)
            ledgers = [LedgerReader(session.path) for session in sessions]
            server, port = serve(fleet, host, port)
            print(f"serving metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)

        live: list[Session | None] = list(sessions)  # None while the path has no file that opens

        def show(index: int, sample: Sample, session: Session | None = None) -> None:
            if stop.is_set() or (session is not None and live[index] is not session):
                return  # a sample of a file no longer watched (deleted or replaced) is dropped
            if file_identity(args.db[index]) != identities[index]:
                return  # gone or replaced since the sample: `follow_files` is about to say so
            current = live[index]
            if current is None:
                return
            if fleet is not None and ledgers is not None:
                try:
                    ingesting = ledgers[index].read()
                except PulseError as exc:
                    failed(index, exc)
                    return
                fleet.update(names[index], sample, ledgers[index] if ingesting else None)
                if plan:
                    fleet.update_queries(names[index], current.query_values, current.alerts.states())
                return
            record = series.json_record(table, sample)
            if plan:
                record.update(
                    watch_queries.record_fields(current.query_values, current.alerts.states(), plan)
                )
            if several and args.json:
                record = {"db": names[index], **record}
            prefix = f"{names[index]}: " if several else ""
            line = json.dumps(record, default=str) if args.json else prefix + format_line(record)
            if plan and not args.json:
                line = "  ".join([line, *watch_queries.line_words(record)])
            if not emit(line):
                stop.set()

        def on_sample(index: int, session: Session, sample: Sample, _activity: object) -> None:
            # A pass publishes its sample, then its query runs and alert changes: shown once all are in.
            loop.call_soon(show, index, sample, session)

        def failed(index: int, error: PulseError, session: Session | None = None) -> None:
            # e.g. locked for a moment: said once, kept watching
            if session is not None and live[index] is not session:
                return
            prefix = f"{names[index]}: " if several else ""
            print(f"sqlite-pulse: {prefix}{error}", file=sys.stderr, flush=True)
            if fleet is not None:
                fleet.update(names[index], None)

        def attach(index: int, session: Session) -> None:
            session.events.sample.connect(functools.partial(on_sample, index, session))
            session.events.sampler_error.connect(lambda error: failed(index, error, session))
            session.events.alerts.connect(functools.partial(fired.note, names[index]))

        async def follow_files() -> None:
            """Each interval: a path whose file is gone or is another file drops its session (`up` 0, no
            figures); a file at the path is then opened afresh, tried each interval until it opens."""
            said = [""] * len(live)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.interval)
                for index, path in enumerate(args.db):
                    if stop.is_set():
                        return
                    now = file_identity(path)
                    old = live[index]
                    if now == identities[index] and old is not None:
                        continue
                    prefix = f"{names[index]}: " if several else ""
                    if old is not None:
                        live[index] = None
                        what = "was deleted" if now is None else "was replaced by another file; opening that one"
                        print(f"sqlite-pulse: {prefix}the database {what}.", file=sys.stderr, flush=True)
                        if fleet is not None and ledgers is not None:
                            fleet.forget(names[index])
                            ledgers[index].close()
                        await old.close()
                        identities[index] = None
                    if now is None:
                        continue
                    try:
                        session = await Session.open(path, read_only=True, interval=args.interval)
                    except PulseError as exc:  # not a database yet (still being copied), locked: said once
                        if str(exc) != said[index]:
                            said[index] = str(exc)
                            print(f"sqlite-pulse: {prefix}{exc}", file=sys.stderr, flush=True)
                        continue
                    if stop.is_set():
                        await session.close()
                        return
                    said[index] = ""
                    identities[index], live[index] = now, session
                    sessions.append(session)  # closed at the end with the others
                    if ledgers is not None:
                        ledgers[index] = LedgerReader(session.path)
                    if plan:
                        session.set_query_series(plan.series, plan.rules)
                    attach(index, session)
                    if fleet is not None:
                        fleet.forget(names[index])  # counters start afresh with the new file
                    if session.last_sample is not None:
                        show(index, session.last_sample, session)

        for index, session in enumerate(sessions):
            attach(index, session)
        for index, session in enumerate(sessions):  # every session subscribed before the first await
            if not plan:
                if session.last_sample is not None:  # the sample taken on opening
                    show(index, session.last_sample, session)
                continue
            try:  # the opening sample ran no query: the first record is a pass that does
                await session.sample_now()
            except PulseError as exc:
                failed(index, exc)
        following = loop.create_task(follow_files(), name="watch-files")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), None if args.seconds is None else max(0.0, started + args.seconds - loop.time()))
        stop.set()
        await following
    finally:
        stop.set()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        if server is not None:
            server.shutdown()
        for ledger in ledgers or ():
            ledger.close()
        for session in sessions:
            await session.close()
    if args.fail_on_alert and fired.fired:
        for line in fired.report(len(args.db) > 1):
            print(f"sqlite-pulse: {line}", file=sys.stderr, flush=True)
        return watch_queries.EXIT_ALERT
    return EXIT_OK


def file_identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the file at `path`, None when there is none: `os.stat` only, since opening and
    closing a file SQLite holds would drop its locks (DESIGN.md)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


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
