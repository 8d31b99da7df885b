"""Which sink a target names, and what it needs before a run: `sink_for(target, mapper)` and `prepare_target`.
A new sink is one more class behind `Sink` (sink.py) and one more scheme in targets.py and here."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.ingest.mapping import MessageMapper
from desktop_app.core.ingest.retention import Retention
from desktop_app.core.ingest.sink import Sink, SQLiteSink
from desktop_app.core.ingest.targets import is_server_target


def prepare_target(target: Path | str, *, interactive: bool) -> list[str]:
    """Before a long run: a server is connected to once (asking for a password on the terminal when it wants
    one the URL, PGPASSWORD and ~/.pgpass do not give); a file needs nothing. Returns notes for the user."""
    if not is_server_target(target):
        return []
    from desktop_app.core.postgres.url import ensure_password

    return ensure_password(str(target), interactive=interactive)


def sink_for(target: Path | str, mapper: MessageMapper, *, busy_timeout_ms: int = 200,
             max_page_count: int | None = None, retention: Retention | None = None,
             dedupe: tuple[str, ...] = ()) -> Sink:
    """The sink a target names: a postgresql:// (or postgres://) URL is PostgreSQL (core/postgres/sink.py),
    anything else a SQLite file. Retention is the SQLite sink's (IngestConfig refuses it for a server)."""
    if is_server_target(target):
        from desktop_app.core.postgres.sink import PostgresSink

        return PostgresSink(str(target), mapper)
    return SQLiteSink(target, mapper, busy_timeout_ms=busy_timeout_ms, max_page_count=max_page_count,
                      retention=retention, dedupe=dedupe)
