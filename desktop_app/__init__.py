"""SQLite Pulse: watch a SQLite database live and ingest WebSocket streams into it."""

__version__ = "0.1.0"
