"""What a target names: a database server (a postgresql:// URL) or a SQLite file. The one place, with
`sink_for` (sinks.py), that reads a target's scheme; light, so the window's panels can use it."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.errors import PulseError
from desktop_app.core.postgres.url import is_postgres_url


def is_server_target(target: object) -> bool:
    """True when `target` names a database server (a postgresql:// or postgres:// URL), not a SQLite file."""
    return is_postgres_url(target)


def sink_target(text: str) -> Path | str:
    """A target as typed (--db, a saved config): a server URL stays text (a Path would fold its '//'), anything
    else is a SQLite file path."""
    return text if is_server_target(text) else Path(text)


def require_server_url(text: str, message: str) -> str:
    """`text` when it is a PostgreSQL URL; else PulseError(`message`)."""
    if not is_server_target(text):
        raise PulseError(message)
    return text
