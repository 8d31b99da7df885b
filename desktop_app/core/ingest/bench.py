"""`bench ingest`: how much faster the pipeline is than the plain approach, and how close to the wire.

Three measurements in one run, one after the other, on this machine:
  (a) naive: per message open a connection, INSERT, commit, close (how many apps log), with SQLite's
      default settings, into a database set up like the pipeline's (WAL, made by `create_database`), so
      only the approach differs. It is slow, so it runs on a smaller sample and its rate is compared.
      The same approach on a rollback-journal file (SQLite's default for a new file) is measured too and
      reported beside it: it is faster here (no WAL checkpoint when each connection closes).
  (b) receive-only: a WebSocket client that only counts messages from the demo server (separate process,
      unthrottled): websockets' own client loop (`async for message in connection`), what a hand-written
      ingester starts from. The same count through the pipeline's connection (stream_connection) is
      measured beside it: the pipeline's own receive ceiling.
  (c) pipeline: the `ingest` verb in its own process against the same kind of demo server: JSON parsed,
      mapped to a STRICT table, committed in batches. Its peak RSS is the ingest process's own.
  (d) hand-rolled: what a competent ingester written by hand does (websockets' client loop, json.loads,
      executemany and a commit every 1,000 messages, WAL), in this process.
Rates count from the first message received to the last one counted (b) or committed (c).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import apsw

from desktop_app.core.database import create_database
from desktop_app.core.demo import SensorFeed, spawn_demo_server
from desktop_app.core.errors import PulseError

RECEIVE_QUEUE_FRAMES = 1024  # frames websockets' generic client buffers in the baselines (b) and (d)
NAIVE_FLOOR = 50.0
RECEIVE_FLOOR = 0.5


@dataclass(frozen=True)
class BenchRow:
    name: str
    messages: int
    seconds: float
    per_second: float
    note: str = ""


@dataclass(frozen=True)
class IngestBenchResult:
    naive: BenchRow
    receive: BenchRow
    pipeline: BenchRow
    ratio_vs_naive: float  # pipeline rate / naive rate
    ratio_vs_receive: float  # pipeline rate / receive-only rate
    receive_stream: BenchRow  # (b) through the pipeline's own connection: its receive ceiling
    ratio_vs_stream_receive: float
    hand_rolled: BenchRow  # (d) websockets + json.loads + executemany, written by hand
    ratio_vs_hand_rolled: float
    naive_rollback_journal: BenchRow
    ratio_vs_naive_rollback_journal: float
    peak_rss_mb: float  # of the ingest process during (c)
    written: int
    dead_letters: int
    batches: int
    mean_commit_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def measure_naive(path: Path, messages: list[str], *, wal: bool = True) -> BenchRow:
    """Open, insert, commit, close per message, with SQLite's default connection settings."""
    if wal:
        create_database(path)
    setup = apsw.Connection(str(path))
    setup.execute("CREATE TABLE readings(id INTEGER PRIMARY KEY, received_at REAL, payload TEXT)")
    setup.close()
    started = time.perf_counter()
    for message in messages:
        connection = apsw.Connection(str(path))
        connection.execute("INSERT INTO readings(received_at, payload) VALUES (?, ?)", (time.time(), message))
        connection.close()  # autocommit: the INSERT committed on its own
    seconds = time.perf_counter() - started
    name = "(a) naive: open/insert/commit/close per message" if wal else "    same, rollback-journal file"
    note = f"{len(messages):,}-message sample, " + ("WAL file like (c)" if wal else "for reference")
    return BenchRow(name, len(messages), round(seconds, 3), round(len(messages) / seconds, 1), note)


async def _receive_only(url: str, expected: int) -> tuple[int, float]:
    from websockets.asyncio.client import connect

    async with connect(url, compression=None, max_queue=RECEIVE_QUEUE_FRAMES, max_size=2**22) as connection:
        await connection.recv()
        started = time.perf_counter()
        count = 1
        async for _message in connection:
            count += 1
            if count >= expected:
                break
        return count, time.perf_counter() - started


async def _receive_only_stream(url: str, expected: int) -> tuple[int, float]:
    """The same count through the pipeline's own connection (its receive ceiling)."""
    from websockets.asyncio.client import connect

    from desktop_app.core.ingest.config import DEFAULT_MAX_MESSAGE_BYTES
    from desktop_app.core.ingest.stream_connection import CONTROL_MAX_SIZE, StreamConnection

    count, first_at = 0, 0.0

    def deliver(_message: object) -> bool:
        nonlocal count, first_at
        if not count:
            first_at = time.perf_counter()
        count += 1
        return count < expected

    async with connect(url, compression=None, max_size=CONTROL_MAX_SIZE,
                       create_connection=StreamConnection) as connection:
        stream = cast(StreamConnection, connection)
        stream.attach(deliver, DEFAULT_MAX_MESSAGE_BYTES)
        await stream.wait_halted()
        stream.detach()
        return count, time.perf_counter() - first_at


def measure_receive_only(messages: int, *, stream: bool = False) -> BenchRow:
    receive = _receive_only_stream if stream else _receive_only
    with spawn_demo_server(count=messages) as server:
        count, seconds = asyncio.run(receive(server.url, messages))
    name = "    receive only, the pipeline's connection" if stream else "(b) receive only (WebSocket, counting)"
    return BenchRow(name, count, round(seconds, 3), round(count / seconds, 1))


HAND_ROLLED_BATCH = 1_000
HAND_ROLLED_FIELDS = ("device_id", "seq", "ts", "temperature", "humidity", "pressure", "battery")


async def _hand_rolled(url: str, expected: int, db_path: Path) -> tuple[int, float]:
    """What a competent hand-written ingester does: websockets' client loop, json.loads, executemany and a
    commit every HAND_ROLLED_BATCH messages, in WAL mode. Through apsw, which the bundle already has (the
    stdlib sqlite3 module would add 1.5 MB to it) and which is no slower than sqlite3 at executemany."""
    from websockets.asyncio.client import connect

    connection = apsw.Connection(str(db_path))
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE readings(device_id TEXT, seq INTEGER, ts REAL, temperature REAL, humidity REAL,"
        " pressure REAL, battery INTEGER)"
    )
    insert = f"INSERT INTO readings VALUES ({', '.join('?' * len(HAND_ROLLED_FIELDS))})"
    rows: list[tuple] = []
    count = 0
    started = 0.0
    try:
        async with connect(url, compression=None, max_queue=RECEIVE_QUEUE_FRAMES, max_size=2**22) as websocket:
            async for message in websocket:
                if not count:
                    started = time.perf_counter()
                reading = json.loads(message)
                rows.append(tuple(reading[field] for field in HAND_ROLLED_FIELDS))
                count += 1
                if len(rows) >= HAND_ROLLED_BATCH or count >= expected:
                    with connection:  # one transaction per batch
                        connection.executemany(insert, rows)
                    rows.clear()
                if count >= expected:
                    break
        return count, time.perf_counter() - started
    finally:
        connection.close()


def measure_hand_rolled(db_path: Path, messages: int) -> BenchRow:
    with spawn_demo_server(count=messages) as server:
        count, seconds = asyncio.run(_hand_rolled(server.url, messages, db_path))
    return BenchRow(
        "(d) hand-rolled: websockets loop + json.loads + executemany", count, round(seconds, 3),
        round(count / seconds, 1), f"commit every {HAND_ROLLED_BATCH:,}, WAL",
    )


def ingest_command(url: str, db_path: Path, messages: int) -> list[str]:
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop_app"]
    return [*base, "ingest", url, "--db", str(db_path), "--max-messages", str(messages), "--json"]


def measure_pipeline(db_path: Path, messages: int) -> dict:
    with spawn_demo_server(count=messages) as server:
        completed = subprocess.run(
            ingest_command(server.url, db_path, messages),
            capture_output=True,
            text=True,
            timeout=max(120.0, messages / 2_000),
        )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise PulseError(f"The ingest run failed ({completed.returncode}): {completed.stderr.strip()[-500:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_ingest_bench(
    *,
    messages: int = 200_000,
    naive_messages: int = 2_000,
    progress: Callable[[str], None] = lambda _text: None,
    workdir: Path | None = None,
) -> IngestBenchResult:
    with tempfile.TemporaryDirectory(prefix="pulse-bench-", dir=workdir) as folder:
        folder_path = Path(folder)
        progress(f"(a) naive inserts, {naive_messages:,} messages...")
        sample = [m for m in SensorFeed(seed=1).take(naive_messages) if isinstance(m, str)]
        naive = measure_naive(folder_path / "naive.db", sample)
        naive_journal = measure_naive(folder_path / "naive-journal.db", sample, wal=False)
        progress(f"(b) receive only, {messages:,} messages...")
        receive = measure_receive_only(messages)
        receive_stream = measure_receive_only(messages, stream=True)
        progress(f"(d) hand-rolled ingester, {messages:,} messages...")
        hand_rolled = measure_hand_rolled(folder_path / "hand-rolled.db", messages)
        progress(f"(c) full pipeline, {messages:,} messages...")
        stats = measure_pipeline(folder_path / "pipeline.db", messages)
    if stats["written"] != messages or stats["dead_letters"] or stats["unwritten"]:
        raise PulseError(f"The pipeline run lost or refused messages: {stats}")
    active = stats["written"] / stats["rows_per_s"] if stats["rows_per_s"] else stats["seconds"]
    pipeline = BenchRow(
        "(c) pipeline: WebSocket -> JSON -> STRICT table, batched",
        stats["written"],
        round(active, 3),
        stats["rows_per_s"],
        f"{stats['batches']:,} batches, mean commit {stats['mean_commit_ms']:.2f} ms",
    )
    return IngestBenchResult(
        naive=naive,
        receive=receive,
        pipeline=pipeline,
        ratio_vs_naive=round(pipeline.per_second / naive.per_second, 1),
        ratio_vs_receive=round(pipeline.per_second / receive.per_second, 3),
        receive_stream=receive_stream,
        ratio_vs_stream_receive=round(pipeline.per_second / receive_stream.per_second, 3),
        hand_rolled=hand_rolled,
        ratio_vs_hand_rolled=round(pipeline.per_second / hand_rolled.per_second, 2),
        naive_rollback_journal=naive_journal,
        ratio_vs_naive_rollback_journal=round(pipeline.per_second / naive_journal.per_second, 1),
        peak_rss_mb=stats["peak_rss_mb"],
        written=stats["written"],
        dead_letters=stats["dead_letters"],
        batches=stats["batches"],
        mean_commit_ms=stats["mean_commit_ms"],
    )


def format_table(result: IngestBenchResult) -> str:
    rows = [
        result.naive, result.naive_rollback_journal, result.receive, result.receive_stream, result.hand_rolled,
        result.pipeline,
    ]
    width = max(len(row.name) for row in rows)
    lines = [f"{'approach':<{width}}  {'messages':>10}  {'seconds':>8}  {'msgs/s':>10}  note"]
    for row in rows:
        lines.append(
            f"{row.name:<{width}}  {row.messages:>10,}  {row.seconds:>8.2f}  {row.per_second:>10,.0f}  {row.note}"
        )
    naive_ok = "ok" if result.ratio_vs_naive >= NAIVE_FLOOR else "BELOW FLOOR"
    receive_ok = "ok" if result.ratio_vs_receive >= RECEIVE_FLOOR else "BELOW FLOOR"
    lines.append(
        f"ratio_vs_naive   (c/a) = {result.ratio_vs_naive:,.1f}   (floor {NAIVE_FLOOR:g}: {naive_ok}; "
        f"{result.ratio_vs_naive_rollback_journal:,.1f} against the rollback-journal file)"
    )
    lines.append(f"ratio_vs_receive (c/b) = {result.ratio_vs_receive:.3f}   (floor {RECEIVE_FLOOR:g}: {receive_ok}; "
                 f"{result.ratio_vs_stream_receive:.3f} against the pipeline's own connection receiving only)")
    lines.append(f"ratio_vs_hand_rolled (c/d) = {result.ratio_vs_hand_rolled:.2f}")
    lines.append(f"peak RSS of the ingest process: {result.peak_rss_mb:.0f} MB")
    return "\n".join(lines)
