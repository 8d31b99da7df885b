"""Streaming verbs: demo-server, ingest, ingest-file, and the `bench` family (`bench ingest` lives here).

Heavy imports (websockets, the ingest pipeline) stay inside the handlers so `stats` stays light.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from desktop_app.core.words import counted

EXIT_OK = 0
EXIT_UNWRITTEN = 1  # the run ended with messages that could not be written
EXIT_NEVER_CONNECTED = 3  # the source never connected (nothing listening, refused, TLS failed, ...)
DEFAULT_FLUSH_TIMEOUT_S = 5.0  # a stop ends the run within this long, even behind a locked database
PROGRESS_INTERVAL_S = 1.0
WARNING_CHECK_S = 0.2  # how soon after the first batch an all-dead-letters run is said
BENCHMARKS_ATTRIBUTE = "_pulse_benchmarks"


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo-server", help="serve a synthetic sensor stream over WebSocket")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    demo.add_argument("--rate", type=float, metavar="R", help="messages per second per connection (default: unthrottled)")
    demo.add_argument("--count", type=int, metavar="N", help="end the stream after N messages")
    demo.add_argument("--drop-every", type=int, metavar="K", help="cut each connection after K messages")
    demo.add_argument("--malformed-every", type=int, metavar="M", help="make every M-th message malformed")
    demo.add_argument("--to-file", type=Path, metavar="NDJSON", help="write --count messages to a file and exit")
    demo.add_argument("--watch-stdin", action="store_true", help=argparse.SUPPRESS)  # exit at stdin EOF (a child)
    demo.set_defaults(handler=run_demo_server)

    ingest = subparsers.add_parser("ingest", help="land a WebSocket or MQTT stream in a SQLite table")
    ingest.add_argument(
        "url", help="ws:// or wss:// URL, or mqtt://[user@]host:port/topic/# (mqtts:// with TLS)"
    )
    _add_pipeline_options(ingest)
    ingest.add_argument("--ca-file", type=Path, help="wss, mqtts: trust this CA bundle")
    ingest.add_argument("--insecure", action="store_true", help="wss, mqtts: do not verify the server certificate")
    _add_mqtt_options(ingest)
    ingest.add_argument("--compression", choices=("deflate",), help="offer permessage-deflate (default: off)")
    _add_handshake_options(ingest)
    ingest.set_defaults(handler=run_ingest)

    # The window runs its ingest in a child process of this verb: JSON lines both ways (core/ingest/protocol.py).
    worker = subparsers.add_parser("ingest-worker")  # no help=: argparse then leaves it out of the list
    worker.set_defaults(handler=run_ingest_worker)

    replay = subparsers.add_parser("ingest-file", help="the ingest pipeline fed from a recorded NDJSON file")
    replay.add_argument("file", type=Path)
    _add_pipeline_options(replay)
    # Not for a file, but known here: argparse would echo an unknown option's value, a header's secret with it.
    # IngestConfig refuses them for a file:// source in one line.
    _add_handshake_options(replay, shown=False)
    replay.set_defaults(handler=run_ingest_file)

    benchmarks = bench_subparsers(subparsers)
    bench_ingest = benchmarks.add_parser("ingest", help="naive inserts vs receive-only vs the full pipeline")
    bench_ingest.add_argument("--messages", type=int, default=200_000, metavar="N")
    bench_ingest.add_argument(
        "--naive-messages", type=int, default=2_000, metavar="N", help="sample size for the slow naive baseline"
    )
    bench_ingest.add_argument("--json", action="store_true", help="last line: one JSON object")
    bench_ingest.set_defaults(handler=run_bench_ingest)


def bench_subparsers(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The `bench` verb's sub-benchmarks; another verb module adds its own with `.add_parser(...)`."""
    bench = subparsers.choices.get("bench")
    if bench is None:
        bench = subparsers.add_parser("bench", help="benchmarks (run one at a time; they measure this machine)")
        benchmarks = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
        setattr(bench, BENCHMARKS_ATTRIBUTE, benchmarks)
    return getattr(bench, BENCHMARKS_ATTRIBUTE)


def _add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=db_target, required=True,
        help="database file (created in WAL mode if new), or postgresql://user@host:port/dbname "
        "(password from PGPASSWORD, ~/.pgpass or a prompt)",
    )
    parser.add_argument("--table", default="readings")
    parser.add_argument("--raw", action="store_true", help="store (received_at, payload) instead of typed columns")
    parser.add_argument(
        "--columns", metavar="SPEC", help="typed columns, e.g. device_id:TEXT,seq:INTEGER,temperature:REAL"
    )
    parser.add_argument("--max-messages", type=int, metavar="N", help="stop after N messages")
    parser.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--batch-rows", type=int, metavar="N", help="rows per transaction (default 1024)")
    parser.add_argument("--batch-ms", type=float, metavar="MS", help="longest wait before a commit, above 0 and at most 100 (default 50)")
    parser.add_argument(
        "--max-message-bytes", type=int, metavar="N", help="larger messages become dead letters (default 1 MiB)"
    )
    parser.add_argument(
        "--flush-timeout", type=float, metavar="S", default=DEFAULT_FLUSH_TIMEOUT_S,
        help=f"on stop, give up on a locked or full database after S seconds (default {DEFAULT_FLUSH_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--dedupe-key", metavar="FIELD", help="write each key once: a unique index on the JSON field FIELD (or "
        "topic+FIELD for MQTT); repeats (redeliveries) are skipped and counted as duplicates",
    )
    parser.add_argument("--json", action="store_true", help="last stdout line: one JSON object with the counts")
    parser.add_argument(
        "--metrics", metavar="HOST:PORT", help="serve the run's counters to Prometheus at "
        "http://HOST:PORT/metrics, whatever the target (HOST defaults to 127.0.0.1; port 0 picks a free one, "
        "the address is printed on stderr)",
    )
    _add_retention_options(parser)


def _add_retention_options(parser: argparse.ArgumentParser) -> None:
    """Text here, parsed by `_retention_options`: a bad value is then one line, not argparse's usage block."""
    group = parser.add_argument_group("retention (the writer deletes the oldest rows as it inserts)")
    group.add_argument("--retain-rows", metavar="N", help="keep the newest N rows (1000000, 250k, 1M)")
    group.add_argument("--retain-for", metavar="D", help="keep the last D of rows by time (90s, 30m, 12h, 7d)")
    group.add_argument(
        "--retain-time-column", metavar="NAME", help="--retain-for reads this column (Unix seconds; default received_at)"
    )
    group.add_argument("--retain-bytes", metavar="S", help="keep at most S of the table (500MB, 2GiB)")
    group.add_argument("--retain-dead-letters-for", metavar="D", help="delete this table's dead letters older than D")
    group.add_argument("--retain-ledger-for", metavar="D", help="fold ledger rows older than D (their sums stay)")


def _retention_options(args: argparse.Namespace) -> dict[str, Any]:
    from desktop_app.core.ingest import IngestError
    from desktop_app.core.ingest.retention import parse_duration, parse_rows, parse_size

    fields = (
        ("retain_rows", "retain_rows", parse_rows),
        ("retain_for", "retain_seconds", parse_duration),
        ("retain_bytes", "retain_bytes", parse_size),
        ("retain_dead_letters_for", "retain_dead_letters_seconds", parse_duration),
        ("retain_ledger_for", "retain_ledger_seconds", parse_duration),
    )
    options: dict[str, Any] = {}
    for flag, field, parse in fields:
        text = getattr(args, flag, None)
        if text is not None:
            try:
                options[field] = parse(text)
            except ValueError as exc:
                raise IngestError(f"--{flag.replace('_', '-')}: {exc}.") from None
    if getattr(args, "retain_time_column", None) is not None:
        options["retain_time_column"] = args.retain_time_column
    return options


def _add_mqtt_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("MQTT (QoS 1, a persistent session; each message acknowledged once committed)")
    group.add_argument(
        "--client-id", metavar="ID", help="the session's client id (default: derived from --db, --table and the topic, "
        "the same on every restart)",
    )
    group.add_argument(
        "--mqtt-user-env", metavar="NAME", help="environment variable holding the user name (default MQTT_USERNAME)"
    )
    group.add_argument(
        "--mqtt-password-env", metavar="NAME", help="environment variable holding the password (default MQTT_PASSWORD)"
    )


def db_target(text: str) -> Path | str:
    """--db: a SQLite file path, or a postgresql:// URL kept as text (a Path would fold its '//')."""
    from desktop_app.core.ingest.targets import sink_target

    return sink_target(text)


def _config(args: argparse.Namespace, url: str) -> Any:
    """The IngestConfig the flags describe, validated: a bad value is one line and exit code 2."""
    from desktop_app.core.errors import QueryError
    from desktop_app.core.ingest import IngestConfig, IngestError
    from desktop_app.core.ingest.mapping import parse_columns

    try:
        columns = parse_columns(args.columns) if args.columns else None
    except QueryError as exc:
        raise IngestError(f"--columns: {exc}") from None
    options: dict[str, Any] = {
        "url": url,
        "db_path": args.db,
        "table": args.table,
        "raw": args.raw,
        "max_messages": args.max_messages,
        "seconds": args.seconds,
        "columns": columns,
    }
    for name in ("batch_rows", "batch_ms", "max_message_bytes"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.flush_timeout is not None:
        options["flush_timeout_s"] = args.flush_timeout
    for name in ("ca_file", "compression", "client_id", "mqtt_user_env", "mqtt_password_env", "dedupe_key"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    options.update(_handshake_options(args))
    options.update(_retention_options(args))
    if getattr(args, "insecure", False):
        options["verify_tls"] = False
    return IngestConfig(**options).validated()


SUMMARY_KEYS = ("received", "written", "dead_letters", "reconnects", "gaps", "seconds", "rows_per_s")


def _report(stats: Any, as_json: bool) -> int:
    data = stats.to_dict()
    if as_json:
        print(json.dumps(data))
    else:
        print(
            f"received {data['received']:,}  written {data['written']:,}  dead letters {data['dead_letters']:,}  "
            f"reconnects {data['reconnects']}  gaps {data['gaps']} ({data['missing']} missing, "
            f"{data['seq_resets']} resets)  {data['seconds']:.1f} s  {data['rows_per_s']:,.0f} rows/s"
        )
        if data.get("sink_reconnects"):
            print(f"reconnected to the target's server {counted(data['sink_reconnects'], 'time')}")
        if data.get("duplicates") or data.get("redelivered"):
            print(f"duplicates skipped {data.get('duplicates', 0):,}  redelivered by the broker "
                  f"{data.get('redelivered', 0):,}")
        if data["journal_mode"] and data["journal_mode"] != "wal":
            print(
                f"note: the database uses journal_mode={data['journal_mode']}; WAL lets readers and this writer "
                "run together (it was left unchanged).",
                file=sys.stderr,
            )
    if data["unwritten"]:
        print(f"sqlite-pulse: {data['unwritten']:,} messages could not be written: {data['last_error']}", file=sys.stderr)
        return EXIT_UNWRITTEN
    return EXIT_OK


def run_ingest(args: argparse.Namespace) -> int:
    from desktop_app.core.ingest.handshake import check_resolvable

    signals = _stop_signals(args)
    config = _config(args, args.url)
    check_resolvable(config.headers, config.subscribe)  # a missing variable or file: one line, exit 2, now
    return _run_session(config, args.json, signals, args.metrics)


def _add_handshake_options(parser: argparse.ArgumentParser, *, shown: bool = True) -> None:
    """For feeds that need a handshake. Secrets: write ${NAME} (from the environment) or @FILE, never the
    value itself, which would sit in the process list; values are never printed, logged or shown."""

    def described(text: str) -> str:
        return text if shown else argparse.SUPPRESS

    parser.add_argument(
        "--subscribe", metavar="TEXT|@FILE",
        help=described("send this message after every connect (and reconnect) before counting starts; "
                       "@FILE reads it from a file"),
    )
    parser.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'",
        help=described("an HTTP header for the handshake (repeatable); ${NAME} in VALUE is taken from the "
                       "environment, a VALUE of @FILE is read from a file: use these for secrets"),
    )
    parser.add_argument(
        "--subprotocol", action="append", default=[], metavar="NAME",
        help=described("offer this WebSocket subprotocol (repeatable, in order of preference)"),
    )


def _handshake_options(args: argparse.Namespace) -> dict[str, Any]:
    from desktop_app.core.ingest.handshake import parse_header

    options: dict[str, Any] = {}
    if getattr(args, "subscribe", None) is not None:
        options["subscribe"] = args.subscribe
    if getattr(args, "header", None):
        options["headers"] = tuple(parse_header(text) for text in args.header)
    if getattr(args, "subprotocol", None):
        options["subprotocols"] = tuple(args.subprotocol)
    return options


def run_ingest_file(args: argparse.Namespace) -> int:
    signals = _stop_signals(args)
    return _run_session(_config(args, "file://" + str(args.file)), args.json, signals, args.metrics)


def _stop_signals(args: argparse.Namespace) -> Any:
    """The handlers the command line installed at its first line; a direct call installs them now."""
    from desktop_app.cli import StopSignals

    return getattr(args, "stop_signals", None) or StopSignals()


def _run_session(config: Any, as_json: bool, signals: Any, metrics: str | None = None) -> int:
    """Run one ingest in this process. First Ctrl+C / SIGTERM (even one that came while starting): stop and
    flush. A second one: stop retrying a stuck database, say how many messages that abandons, and count them
    as unwritten. Exit code 3 when a WebSocket source never connected. `metrics` (HOST:PORT): serve the
    run's counters to Prometheus while it lasts."""
    import asyncio

    from desktop_app.core.ingest import IngestFailed, IngestSession
    from desktop_app.core.ingest.metrics import IngestMetrics
    from desktop_app.core.ingest.sinks import prepare_target
    from desktop_app.core.prometheus import parse_listen, serve

    listen = parse_listen(metrics, "--metrics") if metrics is not None else None  # a typo: one line, at once
    if not signals.pending:  # a server asks for a password now, not from the writer
        with signals.interruptible():
            for note in prepare_target(config.db_path, interactive=sys.stdin.isatty()):
                print(f"sqlite-pulse: note: {note}", file=sys.stderr)
    # The collector reads the session's counters at each scrape (the lambda finds `session` by then).
    collector = IngestMetrics(lambda: session.stats(), table=config.table, target=config.db_path)
    session = IngestSession(config, on_commit=collector.observe_commit)
    server = None
    if listen is not None:
        server, port = serve(collector, *listen)
        print(f"serving metrics on http://{listen[0]}:{port}/metrics", file=sys.stderr, flush=True)
    show_progress = sys.stderr.isatty() and not as_json
    all_dead = _AllDeadLetters(erase_line=show_progress)

    async def main() -> Any:
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not session.stopping:
                session.stop()
                return
            abandoned = session.abandon()
            print(f"\nsqlite-pulse: interrupted again: abandoning {abandoned:,} unwritten messages", file=sys.stderr)

        # Held signals are passed now; the handler runs between bytecodes, the loop takes it from there.
        signals.listen(lambda: loop.call_soon_threadsafe(on_signal))
        watchers = [asyncio.ensure_future(all_dead.watch(session))]
        if show_progress:
            watchers.append(asyncio.ensure_future(_print_progress(session)))
        try:
            return await session.run()
        finally:
            signals.listen(None)  # the report is on its way: a late signal must not cut it off
            for watcher in watchers:
                watcher.cancel()
            if show_progress:
                sys.stderr.write("\n")

    try:
        stats = asyncio.run(main())
    except IngestFailed as exc:  # the final counts still go out, with the cause in plain words
        all_dead.check(exc.stats)
        _report(exc.stats, as_json)
        print(f"sqlite-pulse: {exc}", file=sys.stderr)
        return EXIT_UNWRITTEN
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    all_dead.check(stats)  # a run over before the watcher looked
    code = _report(stats, as_json)
    if not session.ever_connected and not config.url.startswith("file://"):
        why = stats.last_error or "stopped before the first connection"
        print(f"sqlite-pulse: never connected to {config.url}: {why}; nothing was written.", file=sys.stderr)
        return max(code, EXIT_NEVER_CONNECTED)
    return code


class _AllDeadLetters:
    """Says once, on stderr, that every message so far went to dead letters (the stream does not fit the
    table): after the first batch while the run goes on, or at its end."""

    def __init__(self, *, erase_line: bool = False) -> None:
        self.said = False
        self.prefix = "\r\x1b[K" if erase_line else ""  # over the progress line, which is redrawn after

    def check(self, stats: Any) -> None:
        warning = None if self.said else stats.all_dead_letters_warning()
        if warning:
            self.said = True
            print(f"{self.prefix}sqlite-pulse: warning: {warning}", file=sys.stderr, flush=True)

    async def watch(self, session: Any) -> None:
        import asyncio

        while not self.said:
            await asyncio.sleep(WARNING_CHECK_S)
            stats = session.stats()
            if stats.written or stats.duplicates:  # rows land: it can no longer be true
                return
            self.check(stats)


async def _print_progress(session: Any) -> None:
    import asyncio

    while True:
        await asyncio.sleep(PROGRESS_INTERVAL_S)
        sys.stderr.write("\r\x1b[K" + session.stats().progress_line())
        sys.stderr.flush()


def run_ingest_worker(args: argparse.Namespace) -> int:
    from desktop_app.core.ingest.protocol import run_worker  # no Qt: the worker stays light

    return run_worker()


def run_demo_server(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from desktop_app.core.demo import READY_PREFIX, DemoServer, write_ndjson

    if args.to_file is not None:
        if not args.count:
            raise _usage_error("--to-file needs --count")
        write_ndjson(args.to_file, args.count, malformed_every=args.malformed_every)
        print(f"wrote {args.count:,} messages to {args.to_file}")
        return EXIT_OK

    if args.watch_stdin:
        from desktop_app.core.ingest.protocol import die_with_parent

        die_with_parent()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        if args.watch_stdin:
            threading.Thread(target=_wait_for_eof, args=(loop, stop), daemon=True).start()
        try:
            server = DemoServer(
                args.host,
                args.port,
                rate=args.rate,
                count=args.count,
                drop_every=args.drop_every,
                malformed_every=args.malformed_every,
            )
        except ValueError as exc:
            raise _usage_error(str(exc)) from exc
        try:
            await server.start()
        except OSError as exc:
            raise _usage_error(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc
        print(READY_PREFIX + server.url, flush=True)
        try:
            await stop.wait()
        finally:
            await server.close()

    asyncio.run(main())
    return EXIT_OK


def _wait_for_eof(loop: Any, stop: Any) -> None:
    """Read stdin to its end (the parent closed it, or died), then stop the server."""
    while sys.stdin.buffer.read(65536):
        pass
    with contextlib.suppress(RuntimeError):  # the loop already closed
        loop.call_soon_threadsafe(stop.set)


def _usage_error(message: str) -> Exception:
    from desktop_app.core.errors import PulseError

    return PulseError(message)


def run_bench_ingest(args: argparse.Namespace) -> int:
    from desktop_app.core.ingest.bench import format_table, run_ingest_bench

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    started = time.monotonic()
    result = run_ingest_bench(messages=args.messages, naive_messages=args.naive_messages, progress=progress)
    print(format_table(result))
    if args.json:
        data = result.to_dict()
        data["bench_seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(data))
    return EXIT_OK
