"""What an ingest is asked to do: one `IngestConfig`, validated in one place, and its JSON document.

The same document crosses the process boundary to the `ingest-worker` child (see protocol.py), so every
field travels: a field added here is carried, validated and round-tripped without touching the protocol.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from desktop_app.core.errors import IngestError, QueryError
from desktop_app.core.ingest.handshake import check_header, check_subprotocol
from desktop_app.core.ingest.mapping import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Column,
    check_table_name,
    valid_identifier,
)
from desktop_app.core.ingest.mqtt_url import parse_mqtt_url
from desktop_app.core.ingest.retention import Retention
from desktop_app.core.ingest.targets import is_server_target, sink_target
from desktop_app.core.ingest.writer import DEFAULT_BATCH_MS, DEFAULT_BATCH_ROWS, WriterConfig

CONFIG_VERSION = 1
COMPRESSIONS = (None, "deflate")
MAX_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class IngestConfig:
    url: str  # ws://, wss://, or file://PATH for a recorded NDJSON replay
    db_path: Path | str  # a SQLite file, or a postgresql:// URL (core/postgres)
    table: str = "readings"
    raw: bool = False
    max_messages: int | None = None  # stop after receiving this many messages
    seconds: float | None = None  # stop after this long
    columns: tuple[Column, ...] | None = None  # explicit typed columns; None: inferred from the first messages
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_ms: float = DEFAULT_BATCH_MS
    max_queued_rows: int = 50_000
    max_queued_bytes: int = 32 << 20  # received and not yet written, in bytes (memory stays bounded)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # larger messages become (truncated) dead letters
    seq_field: str | None = "seq"  # a field carrying a sequence number, for gap detection
    compression: str | None = None  # None: offer none (and "deflate" only when a server demands it)
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    open_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    stable_after: float = 10.0  # a connection that lived this long (or delivered messages) resets the backoff
    verify_tls: bool = True  # wss: verify the server's certificate and host name
    ca_file: Path | None = None  # wss: trust this CA bundle instead of the system's
    # The handshake a feed needs (handshake.py). Header values and the subscribe message are SPECS, resolved
    # at each connect in the connecting process: "${NAME}" (environment) and "@/path" (a file) keep secrets out
    # of this config, its JSON document and its repr.
    subscribe: str | None = None  # sent after every connect, before counting starts: the text, or "@/path"
    headers: tuple[tuple[str, str], ...] = ()  # (name, value spec), added to the opening handshake
    subprotocols: tuple[str, ...] = ()  # offered in Sec-WebSocket-Protocol, in order of preference
    flush_timeout_s: float | None = None  # on stop, give up on a locked/full database after this long
    max_page_count: int | None = None  # size limit for the writer's connection (tests simulate a full disk)
    # While running, the interpreter's thread switch interval. Each SQLite call of the writer thread hands the
    # GIL to the busy receive loop, and getting it back waits up to one interval: at 1 ms instead of Python's
    # 5 ms the writer's time per batch halves (measured: 12.5 -> 6.5 ms per 1024 rows). None leaves it alone.
    gil_switch_interval_s: float | None = 0.001
    # Retention (retention.py): the writer trims the table in each batch's transaction. None keeps everything.
    retain_rows: int | None = None  # keep the newest N rows
    retain_seconds: float | None = None  # keep rows whose time is within the last D seconds ...
    retain_time_column: str | None = None  # ... read from this column (Unix seconds); None: received_at
    retain_bytes: int | None = None  # keep at most S bytes of the table (estimated from its inserts)
    retain_dead_letters_seconds: float | None = None  # this table's dead letters: keep the last D seconds
    retain_ledger_seconds: float | None = None  # fold older ledger rows (their sums stay)
    # MQTT (mqtt://, mqtts://; mqtt_source.py) and de-duplication (any source, SQLite targets).
    client_id: str | None = None  # MQTT: the persistent session's client id; None: derived from db + table + topic
    mqtt_user_env: str = "MQTT_USERNAME"  # MQTT: the environment variables holding the credentials (never
    mqtt_password_env: str = "MQTT_PASSWORD"  # the values themselves: those stay out of argv, JSON and logs)
    dedupe_key: str | None = None  # "FIELD" or "topic+FIELD": a UNIQUE index; repeated keys are skipped, counted

    def validated(self) -> IngestConfig:
        """This config, or an IngestError naming the first bad value in one line."""
        check_url(self.url)
        try:
            check_table_name(self.table)
        except QueryError as exc:
            raise IngestError(str(exc)) from None
        _positive_int("batch rows", self.batch_rows, upper=MAX_BATCH_ROWS)
        if not (isinstance(self.batch_ms, int | float) and 0 < self.batch_ms <= 100):
            raise IngestError(f"batch ms must be more than 0 and at most 100 (got {self.batch_ms!r}).")
        _positive_int("max queued rows", self.max_queued_rows)
        _positive_int("max queued bytes", self.max_queued_bytes)
        _positive_int("max message bytes", self.max_message_bytes)
        if self.max_messages is not None:
            _positive_int("max messages", self.max_messages)
        for name in ("seconds", "open_timeout", "backoff_initial", "backoff_max"):
            _positive_number(name.replace("_", " "), getattr(self, name), allow_none=name == "seconds")
        for name in ("ping_interval", "ping_timeout", "flush_timeout_s", "gil_switch_interval_s"):
            value = getattr(self, name)
            if value is not None and not (_finite(value) and value >= 0):
                raise IngestError(f"{name.replace('_', ' ')} must be a number >= 0 (got {value!r}).")
        if self.max_page_count is not None:
            _positive_int("max page count", self.max_page_count)
        if self.compression not in COMPRESSIONS:
            raise IngestError(f"compression must be 'deflate' or none (got {self.compression!r}).")
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise IngestError(f"CA file {self.ca_file} does not exist.")
        if str(self.db_path).strip() == "":
            raise IngestError("No database path given.")
        self._check_retention()
        self._check_handshake()
        self._check_mqtt()
        return self

    def _check_mqtt(self) -> None:
        columns = self.dedupe_columns()
        if columns:
            if self.raw:
                raise IngestError("--dedupe-key needs typed columns: drop --raw (raw mode has no field to key on).")
            if is_server_target(self.db_path):
                raise IngestError("--dedupe-key applies to SQLite files only for now: drop it for PostgreSQL.")
            if "topic" in columns[:-1] and not self.url.startswith(("mqtt://", "mqtts://")):
                raise IngestError("--dedupe-key topic+FIELD needs an MQTT source (only MQTT messages have a topic).")
        for name in ("mqtt_user_env", "mqtt_password_env"):
            if not valid_identifier(getattr(self, name)):
                raise IngestError(f"{name.replace('_', ' ')} must name an environment variable (got {getattr(self, name)!r}).")
        if self.client_id is not None and not (0 < len(self.client_id.encode()) <= 65535):
            raise IngestError("The MQTT client id must not be empty.")

    def dedupe_columns(self) -> tuple[str, ...]:
        """The columns of `dedupe_key` ("seq" -> ("seq",), "topic+seq" -> ("topic", "seq")); () without one."""
        if self.dedupe_key is None:
            return ()
        columns = tuple(part.strip() for part in self.dedupe_key.split("+"))
        if not all(valid_identifier(column) for column in columns) or len(columns) > 2 or (
            len(columns) == 2 and columns[0] != "topic"
        ):
            raise IngestError(
                f"--dedupe-key {self.dedupe_key!r}: give a JSON field (seq) or topic+FIELD (topic+seq), "
                "each a plain name of letters, digits and underscores."
            )
        return columns

    def _check_handshake(self) -> None:

        if (self.subscribe or self.headers or self.subprotocols) and not self.url.startswith(("ws://", "wss://")):
            what = "A recorded file has no connection" if self.url.startswith("file://") else "MQTT has no HTTP handshake"
            raise IngestError(f"{what}: subscribe, headers and subprotocols need ws:// or wss://.")
        if self.subscribe is not None and not (isinstance(self.subscribe, str) and self.subscribe):
            raise IngestError("The subscribe message is empty: give the text, or @FILE.")
        for header in self.headers:
            if not (isinstance(header, tuple) and len(header) == 2):
                raise IngestError("Each header is a (name, value) pair.")
            check_header(*header)
        for name in self.subprotocols:
            check_subprotocol(name)

    def _check_retention(self) -> None:
        for name in ("retain_rows", "retain_bytes"):
            if getattr(self, name) is not None:
                _positive_int(name.replace("_", " "), getattr(self, name))
        for name in ("retain_seconds", "retain_dead_letters_seconds", "retain_ledger_seconds"):
            _positive_number(name.replace("_", " "), getattr(self, name), allow_none=True)
        if self.retain_time_column is not None:
            if self.retain_seconds is None:
                raise IngestError("A retention time column needs a retention age (--retain-for 7d, say).")
            if not valid_identifier(self.retain_time_column):
                raise IngestError(f"{self.retain_time_column!r} is not a column name.")
        if self.retention() is not None and is_server_target(self.db_path):
            raise IngestError(
                "Retention applies to SQLite files only: for PostgreSQL, drop the --retain-* options and use "
                "its partitioning or a scheduled DELETE."
            )

    def retention(self) -> Retention | None:
        """The retention policy the retain_* fields describe; None when nothing is trimmed."""
        policy = Retention(
            rows=self.retain_rows, seconds=self.retain_seconds, time_column=self.retain_time_column,
            bytes=self.retain_bytes, dead_letter_seconds=self.retain_dead_letters_seconds,
            ledger_seconds=self.retain_ledger_seconds,
        )
        return policy if policy.active else None

    def writer_config(self) -> WriterConfig:
        return WriterConfig(
            batch_rows=self.batch_rows,
            batch_ms=self.batch_ms,
            max_queued_rows=self.max_queued_rows,
            max_queued_bytes=self.max_queued_bytes,
            flush_timeout_s=self.flush_timeout_s,
        )

    # -- the JSON document ---------------------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        """{"version": 1, "config": {every field}}: JSON-ready (paths as text, columns as objects)."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Path):
                value = str(value)
            elif item.name == "columns" and value is not None:
                value = [dataclasses.asdict(column) for column in value]
            data[item.name] = value
        return {"version": CONFIG_VERSION, "config": data}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> IngestConfig:
        """The inverse of `to_document`; IngestError for another version or an unknown field."""
        if not isinstance(document, dict) or document.get("version") != CONFIG_VERSION:
            version = document.get("version") if isinstance(document, dict) else None
            raise IngestError(f"Ingest config version {version!r} is not supported (expected {CONFIG_VERSION}).")
        data = dict(document.get("config") or {})
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise IngestError(f"Unknown ingest config field(s): {', '.join(unknown)}.")
        if data.get("db_path") is not None:
            data["db_path"] = sink_target(data["db_path"])
        if data.get("ca_file") is not None:
            data["ca_file"] = Path(data["ca_file"])
        if data.get("columns") is not None:
            data["columns"] = tuple(Column(**column) for column in data["columns"])
        if isinstance(data.get("headers"), list):  # JSON has no tuples
            data["headers"] = tuple(tuple(header) if isinstance(header, list) else header for header in data["headers"])
        if isinstance(data.get("subprotocols"), list):
            data["subprotocols"] = tuple(data["subprotocols"])
        try:
            return cls(**data).validated()
        except TypeError as exc:
            raise IngestError(f"Bad ingest config: {exc}") from None


def check_url(url: str) -> str:
    """A ws:// or wss:// URL with a host and a valid port (or file:// for a replay, or mqtt:// / mqtts:// with a
    topic filter); IngestError otherwise."""
    if url.startswith("file://"):
        return url
    if url.startswith(("mqtt://", "mqtts://")):

        parse_mqtt_url(url)
        return url
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
        host = parts.hostname
    except ValueError as exc:
        raise IngestError(f"{url!r} is not a valid URL: {exc}.") from None
    if parts.scheme not in ("ws", "wss") or not host:
        raise IngestError(f"{url!r} is not a WebSocket URL: expected ws://host:port/path or wss://...")
    if port == 0:
        raise IngestError(f"{url!r}: port 0 cannot be connected to.")
    return url


def _finite(value: object) -> TypeGuard[int | float]:
    """A real number (not a bool), finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(name: str, value: object, *, upper: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (upper is not None and value > upper):
        limit = f" and at most {upper:,}" if upper is not None else ""
        raise IngestError(f"{name} must be a whole number of at least 1{limit} (got {value!r}).")


def _positive_number(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not (_finite(value) and value > 0):
        raise IngestError(f"{name} must be a number above 0 (got {value!r}).")
