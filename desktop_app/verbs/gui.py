"""GUI verbs: `smoke`, the self-test of the real window (works offscreen, under X, and when packaged).
(The hidden `ingest-worker` verb lives with the other streaming verbs in verbs/stream.py.)"""

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
    smoke.set_defaults(handler=run_smoke)


def run_smoke(args: argparse.Namespace) -> int:
    from desktop_app.ui.smoke import run_smoke as smoke  # Qt loads only for this verb

    return smoke(max(0.0, args.seconds), args.screenshot)

