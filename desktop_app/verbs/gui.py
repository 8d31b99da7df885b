"""GUI verbs: `smoke`, the self-test of the real window (works offscreen, under X, and when packaged), and the
hidden `ingest-worker` the window runs its ingest in."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    smoke = subparsers.add_parser(
        "smoke",
        help="self-test: open the window, stream demo data, run a query, EXPLAIN, checkpoint and backup",
    )
    smoke.add_argument("--seconds", type=float, default=5.0, metavar="S", help="how long to stream demo data")
    smoke.add_argument("--screenshot", type=Path, metavar="PNG", help="save a screenshot of the window here")
    smoke.add_argument(
        "--theme", choices=("system", "light", "dark"), default="system", help="colour scheme of the window (default: the desktop's)"
    )
    smoke.add_argument("--size", default="1360x860", metavar="WxH", help="window size in logical pixels (fitted to the screen)")
    smoke.set_defaults(handler=run_smoke)

    # The window runs its ingest in a child process of this verb (see desktop_app/ui/ingest_process.py).
    worker = subparsers.add_parser("ingest-worker")  # no help=: argparse then leaves it out of the list
    worker.add_argument("url")
    worker.add_argument("--db", type=Path, required=True)
    worker.add_argument("--table", default="readings")
    worker.add_argument("--raw", action="store_true")
    worker.add_argument("--max-messages", type=int)
    worker.add_argument("--seconds", type=float)
    worker.set_defaults(handler=run_ingest_worker)


def run_smoke(args: argparse.Namespace) -> int:
    from desktop_app.ui.smoke import run_smoke as smoke  # Qt loads only for this verb

    width, _, height = args.size.partition("x")
    return smoke(max(0.0, args.seconds), args.screenshot, theme=args.theme, size=(int(width), int(height)))


def run_ingest_worker(args: argparse.Namespace) -> int:
    from desktop_app.ui.ingest_process import run_worker, worker_config  # no Qt: the worker stays light

    return run_worker(worker_config(args.url, args.db, args.table, args.raw, args.max_messages, args.seconds))
