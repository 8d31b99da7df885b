"""Logging, configured once per process: named loggers (`logging.getLogger(__name__)`) under `desktop_app`.

Warnings and errors go to stderr; the window also keeps a rotating log file in the user's state folder
(`$XDG_STATE_HOME/sqlite-pulse/sqlite-pulse.log`, 3 × 1 MiB) for bug reports, named in Help ▸ About.
`--log-level LEVEL` (before or after the verb) or SQLITE_PULSE_LOG_LEVEL sets how much is said.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from pathlib import Path

LOGGER = "desktop_app"
LEVEL_VARIABLE = "SQLITE_PULSE_LOG_LEVEL"
LEVELS = ("debug", "info", "warning", "error")
FILE_BYTES, FILE_BACKUPS = 1 << 20, 3
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_configured: Path | None | bool = False  # False: not yet; else the log file (None: stderr only)


def current_log_file() -> Path | None:
    """The file this process logs to, if any (for Help ▸ About)."""
    return _configured if isinstance(_configured, Path) else None


def log_file_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "sqlite-pulse" / "sqlite-pulse.log"


def split_log_level(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """`--log-level LEVEL` (or `--log-level=LEVEL`) taken out of argv, wherever it stands."""
    rest: list[str] = []
    level = None
    items = iter(argv)
    for item in items:
        if item == "--log-level":
            level = next(items, None)
        elif item.startswith("--log-level="):
            level = item.partition("=")[2]
        else:
            rest.append(item)
    if level is not None and level.lower() not in LEVELS:
        raise ValueError(f"--log-level: choose one of {', '.join(LEVELS)} (not {level!r})")
    return level, rest


def configure(level: str | None = None, *, to_file: bool = False) -> Path | None:
    """Set up the `desktop_app` loggers (once; later calls return what the first set up). The file, when asked
    for and writable, takes INFO and above whatever stderr shows; returns its path."""
    global _configured
    if _configured is not False:
        return _configured if isinstance(_configured, Path) else None
    name = (level or os.environ.get(LEVEL_VARIABLE) or "warning").upper()
    stderr_level = getattr(logging, name, logging.WARNING)
    logger = logging.getLogger(LOGGER)
    logger.propagate = False  # ours alone: a library's root configuration neither doubles nor hides them
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(stderr_level)
    console.setFormatter(logging.Formatter("sqlite-pulse: %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(console)
    logger.setLevel(stderr_level)
    path = None
    if to_file:
        path = log_file_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=FILE_BYTES, backupCount=FILE_BACKUPS,
                                                           encoding="utf-8")
        except OSError as exc:
            logger.warning("no log file (%s): %s", path, exc.strerror or exc)
            path = None
        else:
            handler.setLevel(min(stderr_level, logging.INFO))
            handler.setFormatter(logging.Formatter(FORMAT))
            logger.addHandler(handler)
            logger.setLevel(min(stderr_level, logging.INFO))
    _configured = path if path is not None else True
    return path
