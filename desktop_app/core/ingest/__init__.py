"""Live ingest: messages from a source (WebSocket, recorded file) into a SQLite table, nothing lost.

    config.py    IngestConfig: every setting, validated in one place; its versioned JSON document
    inbox.py     the Source interface and the Inbox between a source and the writer
    sources.py   source_for(config), WebSocketSource
    file_source.py FileSource: a recorded NDJSON file
    mqtt_source.py MqttSource: mqtt:// and mqtts:// (QoS 1, persistent session, acknowledged after commit)
    mapping.py   MessageMapper: messages -> rows and dead letters, sequence gaps (pure, no I/O)
    sink.py      Sink interface, SQLiteSink (DDL, multi-row insert, dead letters, ledger, error classes)
    writer.py    BatchWriter: the writer thread, bounded queue (messages and bytes), retries and pauses
    session.py   IngestSession: a source + the writer, and the counters (IngestStats, stats.py)
    protocol.py  the `ingest-worker` child and its parent side (JSON lines both ways)
    run.py       IngestRun: one run at a time (the worker child, and the demo server's), its events
    frames.py    FrameReader: the streaming, bounded WebSocket frame reader (Sans-I/O)
    stream_connection.py  the WebSocket connection that feeds it
    bench.py     `bench ingest`
"""

import importlib
from typing import Any

# Names load on first use (PEP 562): the window imports the package for its config and counters, and must
# not pay for the session, the sources and the WebSocket stack before it shows.
_HOMES = {
    "CONFIG_VERSION": "config",
    "IngestConfig": "config",
    "IngestError": "config",
    "check_url": "config",
    "FileIngest": "session",
    "IngestFailed": "session",
    "IngestSession": "session",
    "ingest_file": "session",
    "FileSource": "file_source",
    "MqttSource": "mqtt_source",
    "Inbox": "inbox",
    "Source": "inbox",
    "WebSocketSource": "sources",
    "backoff_delay": "sources",
    "IngestStats": "stats",
    "peak_rss_mb": "stats",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CONFIG_VERSION",
    "FileIngest",
    "FileSource",
    "Inbox",
    "IngestConfig",
    "IngestError",
    "IngestFailed",
    "IngestSession",
    "IngestStats",
    "MqttSource",
    "Source",
    "WebSocketSource",
    "backoff_delay",
    "check_url",
    "ingest_file",
    "peak_rss_mb",
]
