"""Live ingest: messages from a source (WebSocket, recorded file) into a SQLite table, nothing lost.

    config.py    IngestConfig: every setting, validated in one place; its versioned JSON document
    sources.py   Source interface, Inbox, WebSocketSource, FileSource
    mapping.py   MessageMapper: messages -> rows and dead letters, sequence gaps (pure, no I/O)
    sink.py      Sink interface, SQLiteSink (DDL, multi-row insert, dead letters, ledger, error classes)
    writer.py    BatchWriter: the writer thread, bounded queue (messages and bytes), retries and pauses
    session.py   IngestSession: a source + the writer, and the counters (IngestStats, stats.py)
    protocol.py  the `ingest-worker` child and its parent side (JSON lines both ways)
    bench.py     `bench ingest`
"""

from desktop_app.core.ingest.config import CONFIG_VERSION, IngestConfig, IngestError, check_url
from desktop_app.core.ingest.session import FileIngest, IngestFailed, IngestSession, ingest_file
from desktop_app.core.ingest.sources import (
    RECEIVE_QUEUE_FRAMES,
    FileSource,
    Inbox,
    Source,
    WebSocketSource,
    backoff_delay,
)
from desktop_app.core.ingest.stats import IngestStats, peak_rss_mb

__all__ = [
    "CONFIG_VERSION",
    "RECEIVE_QUEUE_FRAMES",
    "FileIngest",
    "FileSource",
    "Inbox",
    "IngestConfig",
    "IngestError",
    "IngestFailed",
    "IngestSession",
    "IngestStats",
    "Source",
    "WebSocketSource",
    "backoff_delay",
    "check_url",
    "ingest_file",
    "peak_rss_mb",
]
