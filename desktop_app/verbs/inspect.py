"""Headless inspection and maintenance verbs: stats, backup, checkpoint, vacuum, check.

Problems with the file raise `PulseError`s; `cli.py` prints them as one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_CHECK_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    stats = subparsers.add_parser("stats", help="print page, freelist and WAL metrics (read-only)")
    stats.add_argument("db", type=Path)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=run_stats)

    backup = subparsers.add_parser("backup", help="copy a live database with the online backup API")
    backup.add_argument("source", type=Path)
    backup.add_argument("destination", type=Path)
    backup.add_argument("--overwrite", action="store_true", help="replace DESTINATION if it exists")
    backup.add_argument("--pages-per-step", type=int, default=1024, metavar="N")
    backup.add_argument("--json", action="store_true")
    backup.set_defaults(handler=run_backup)

    from desktop_app.core.maintenance import CHECKPOINT_MODES  # light: apsw is loaded anyway

    checkpoint = subparsers.add_parser("checkpoint", help="copy WAL frames into the database file")
    checkpoint.add_argument("db", type=Path)
    checkpoint.add_argument("--mode", choices=CHECKPOINT_MODES, default="passive")
    checkpoint.add_argument("--json", action="store_true")
    checkpoint.set_defaults(handler=run_checkpoint)

    vacuum = subparsers.add_parser("vacuum", help="rebuild the database, or write a compact copy with --into")
    vacuum.add_argument("db", type=Path)
    vacuum.add_argument("--into", type=Path, metavar="PATH", help="write a compacted copy here instead")
    vacuum.add_argument("--json", action="store_true")
    vacuum.set_defaults(handler=run_vacuum)

    check = subparsers.add_parser(
        "check", help="integrity check, rolling back a hot journal first (exit 1 when problems are found)"
    )
    check.add_argument("db", type=Path)
    check.add_argument("--quick", action="store_true", help="quick_check: skip verifying index contents")
    check.add_argument("--max-errors", type=int, default=100, metavar="N", help="report at most N problems")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=run_check)


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, default=str))


def run_stats(args: argparse.Namespace) -> int:
    from desktop_app.core.database import open_database
    from desktop_app.core.metrics import MetricsSampler

    database = open_database(args.db, read_only=True)
    with MetricsSampler(database.path) as sampler:
        sample = sampler.sample().to_dict()
    if args.json:
        _print_json(sample)
    else:
        print(format_stats(database.path, sample))
    return EXIT_OK


STATS_ROWS = (
    ("journal mode", "journal_mode"),
    ("synchronous", "synchronous"),
    ("auto_vacuum", "auto_vacuum"),
    ("page size", "page_size"),
    ("pages", "page_count"),
    ("free pages", "freelist_count"),
    ("free pages %", "freelist_percent"),
    ("database bytes", "db_bytes"),
    ("data bytes (incl. WAL)", "data_bytes"),
    ("WAL bytes", "wal_bytes"),
    ("WAL frames (room)", "wal_frames"),
    ("WAL frames (live)", "wal_live_frames"),
    ("WAL frames checkpointed", "wal_backfilled_frames"),
    ("WAL frames pending", "wal_pending_frames"),
    ("WAL auto-checkpoint", "wal_autocheckpoint"),
    ("data version", "data_version"),
)


def format_stats(path: Path, sample: dict[str, Any]) -> str:
    width = max(len(label) for label, _key in STATS_ROWS)
    lines = [str(path)]
    for label, key in STATS_ROWS:
        value = sample[key]
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        lines.append(f"  {label:<{width}}  {shown}")
    if sample["journal_mode"] == "wal":
        lines.extend(format_snapshots(sample["read_snapshots"]))
    flags = sample["red_flags"]
    lines.append("red flags:" if flags else "red flags: none")
    lines.extend(f"  [{flag['code']}] {flag['message']}" for flag in flags)
    return "\n".join(lines)


def format_snapshots(snapshots: list[dict[str, Any]]) -> list[str]:
    """Who holds a read snapshot: a checkpoint cannot copy the WAL past any of them."""
    if not snapshots:
        return ["read snapshots: none"]
    lines = ["read snapshots:"]
    for snapshot in snapshots:
        who = "this process" if snapshot["pid"] == os.getpid() else "process"
        sees = f"sees the WAL up to frame {snapshot['frame']:,}" if snapshot["slot"] else "sees the database file only"
        held = f", held for at least {snapshot['seconds']:,.0f} s" if snapshot["seconds"] >= 1 else ""
        pinned = snapshot["pinned_frames"]
        behind = f"{pinned:,} WAL frames a checkpoint cannot copy" if pinned else "up to date"
        lines.append(f"  {who} {snapshot['pid']} {snapshot['name']}: {sees}, {behind}{held}")
    return lines


def read_snapshots(path: Path) -> list[dict[str, Any]]:
    from desktop_app.core.metrics import MetricsSampler

    with MetricsSampler(path) as sampler:
        return sampler.sample().to_dict()["read_snapshots"]


class ProgressPrinter:
    """Backup progress on stderr: one updating line on a terminal, a line per 10 % otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100.0 * done / total if total else 100.0
        text = f"backup: {percent:5.1f}% ({done:,}/{total:,} pages)"
        if self.interactive:
            self.stream.write("\r" + text)
        elif int(percent // 10) != self.last_tenth:
            self.last_tenth = int(percent // 10)
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def run_backup(args: argparse.Namespace) -> int:
    from desktop_app.core.maintenance import backup

    printer = ProgressPrinter(sys.stderr)
    try:
        result = backup(
            args.source,
            args.destination,
            pages_per_step=args.pages_per_step,
            progress=printer,
            overwrite=args.overwrite,
        )
    finally:
        printer.finish()
    if args.json:
        _print_json(asdict(result))
    else:
        print(result.describe())
    return EXIT_OK


def run_checkpoint(args: argparse.Namespace) -> int:
    from desktop_app.core.maintenance import checkpoint

    result = checkpoint(args.db, args.mode)
    # Frames left behind mean a reader's snapshot (or a busy writer) stopped the copy: name who holds one.
    snapshots = read_snapshots(args.db) if result.incomplete else []
    if args.json:
        _print_json({**asdict(result), "read_snapshots": snapshots})
        return EXIT_OK
    print(result.describe())
    if snapshots:
        print("\n".join(format_snapshots(snapshots)))
        print("  End those read transactions, then checkpoint again.")
    return EXIT_OK


def run_vacuum(args: argparse.Namespace) -> int:
    from desktop_app.core.maintenance import vacuum, vacuum_into

    result = vacuum_into(args.db, args.into) if args.into else vacuum(args.db)
    if args.json:
        _print_json(asdict(result))
    else:
        print(result.describe())
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    from desktop_app.core.maintenance import integrity_check

    result = integrity_check(args.db, quick=args.quick, max_errors=args.max_errors)
    if args.json:
        _print_json(asdict(result))
    else:
        print(result.describe(most=None))  # a terminal lists every problem SQLite reported
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED
