"""Where messages come from: `source_for(config)` picks the source for a URL; `WebSocketSource` (ws://, wss://,
with reconnects) lives here, `FileSource` (a recorded NDJSON file) in file_source.py, `MqttSource` (mqtt://,
mqtts://) in mqtt_source.py. An SSE source would be one more class behind the `Source` interface (inbox.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from desktop_app.core.ingest.config import IngestConfig, IngestError
from desktop_app.core.ingest.inbox import Inbox, Source, SourceStatus, backoff_delay
from desktop_app.core.ingest.mapping import Message, Oversized

if TYPE_CHECKING:
    import ssl

    from desktop_app.core.ingest.stream_connection import StreamConnection

CLOSE_TIMEOUT_S = 2.0


class _NoDebugLogger(logging.LoggerAdapter):
    """websockets' own logger, but never at DEBUG: at DEBUG it logs every request header, Authorization
    included, and a root logger configured at DEBUG (a library, a test harness) would write the secret out."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_HANDSHAKE_LOGGER = _NoDebugLogger(logging.getLogger("websockets.client"), {})


def source_for(config: IngestConfig) -> Source:
    if config.url.startswith("file://"):
        from desktop_app.core.ingest.file_source import FileSource

        return FileSource(Path(config.url[len("file://"):]))
    if config.url.startswith(("mqtt://", "mqtts://")):
        from desktop_app.core.ingest.mqtt_source import MqttSource

        return MqttSource(config)
    return WebSocketSource(config)


class WebSocketSource:
    """A WebSocket client that reconnects with capped exponential backoff and jitter."""

    def __init__(self, config: IngestConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.status = SourceStatus()
        self._rng = rng or random.Random()
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._offer_compression = config.compression

    def stop(self) -> None:
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self, inbox: Inbox) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
        from websockets.typing import Subprotocol

        from desktop_app.core.ingest.handshake import resolve_headers, subscribe_message
        from desktop_app.core.ingest.stream_connection import CONTROL_MAX_SIZE, StreamConnection

        self._stop = stop = asyncio.Event()
        if self._stop_requested:
            stop.set()
        config, status = self.config, self.status
        ssl_context = self._ssl_context()
        attempt = 0
        connections = 0
        while not stop.is_set() and not inbox.limit_reached:
            status.state = "connecting"
            delivered = False
            connected_at = None
            connection = None
            # Resolved at each attempt (a rotated token file counts from the next reconnect); a missing variable
            # or file is the config's problem, not the network's: IngestError ends the run.
            headers = resolve_headers(config.headers)
            subscribe = subscribe_message(config.subscribe)
            try:
                # The stream's own reader bounds every data message (max_message_bytes; oversized ones become
                # dead letters and the connection stays up); websockets parses only control frames.
                async with connect(
                    config.url,
                    compression=None,
                    extensions=_deflate_offer() if self._offer_compression else None,
                    ping_interval=config.ping_interval,
                    ping_timeout=config.ping_timeout,
                    open_timeout=config.open_timeout,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=CONTROL_MAX_SIZE,
                    create_connection=StreamConnection,
                    ssl=ssl_context,
                    additional_headers=headers or None,
                    subprotocols=[Subprotocol(name) for name in config.subprotocols] or None,
                    logger=_HANDSHAKE_LOGGER,
                ) as connection:
                    connected_at = time.monotonic()
                    connections += 1
                    status.connections = connections
                    if connections > 1:
                        status.reconnects += 1
                    status.state = "connected"
                    status.retry_attempts = 0
                    status.compression = _negotiated_compression(connection)
                    if subscribe is not None:  # before delivery starts: what the server sends next is counted
                        await connection.send(subscribe)
                    received_before = inbox.received
                    try:
                        await self._receive_until_stopped(cast("StreamConnection", connection), inbox, stop)
                    finally:
                        delivered = inbox.received > received_before
                    return  # a limit was reached or stop() was called
            except ConnectionClosed as exc:
                status.last_error = f"Connection closed: {_describe_close(exc, connection)}"
            except InvalidURI as exc:
                raise IngestError(f"Bad WebSocket URL: {exc}") from exc
            except InvalidHandshake as exc:
                status.last_error = f"The server refused the WebSocket handshake: {exc}"
                if self._offer_compression is None and _demands_compression(exc):
                    self._offer_compression = "deflate"  # offered from now on, because this server asked
            except (OSError, TimeoutError) as exc:
                status.last_error = f"Cannot connect to {config.url}: {exc or type(exc).__name__}"
            if connected_at is None:
                status.retry_attempts += 1
            if stop.is_set():
                return
            if delivered or (connected_at is not None and time.monotonic() - connected_at >= config.stable_after):
                attempt = 0  # it was a good connection: start the backoff over
            delay = backoff_delay(attempt, config.backoff_initial, config.backoff_max, self._rng)
            attempt += 1
            status.state = "backoff"
            status.next_retry_at = time.monotonic() + delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            status.next_retry_at = None

    def _ssl_context(self) -> ssl.SSLContext | None:
        if urlsplit(self.config.url).scheme != "wss":
            return None
        import ssl  # noqa: PLC0415 (only for wss://)

        ca_file = self.config.ca_file
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if not self.config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _receive_until_stopped(self, connection: StreamConnection, inbox: Inbox, stop: asyncio.Event) -> None:
        """Receive until we are done (a limit, or stop()); a dropped connection raises ConnectionClosed.
        Delivery is attached here and detached in all cases, so the closing handshake is never held up."""
        status = self.status

        def first_message(message: Message | Oversized) -> bool:
            """Data flows again: the last error is history (until then it says why the last connection ended)."""
            status.last_error = None
            connection.deliver_to(inbox.take)
            return inbox.take(message)

        connection.attach(first_message, inbox.limit)
        receiving = asyncio.ensure_future(self._receive(connection, inbox))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiving, stopping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            connection.detach()
            if connection.failure:  # this side ended it: said even when the run stops before the TCP close
                status.last_error = f"Connection closed: {connection.failure}"
        if not receiving.cancelled():
            receiving.result()  # re-raises ConnectionClosed from a drop

    async def _receive(self, connection: StreamConnection, inbox: Inbox) -> None:
        """Deliver until max_messages is reached; raise ConnectionClosed when the connection is gone.

        The connection pushes messages into the inbox as they are read (see stream_connection); this coroutine
        only waits while the writer is full and ends the run at the message limit."""
        while True:
            await connection.wait_halted()
            if inbox.limit_reached:
                return
            if connection.halted:
                await inbox.wait_for_room()
                connection.resume()
                continue
            # The connection is gone and everything read before that was delivered.
            raise connection.protocol.close_exc


def _negotiated_compression(connection: object) -> str | None:
    protocol = getattr(connection, "protocol", None)
    for extension in getattr(protocol, "extensions", None) or ():
        if getattr(extension, "name", "") == "permessage-deflate":
            return "deflate"
    return None


def _demands_compression(exc: Exception) -> bool:
    """A refusal that names compression (a status or body mentioning permessage-deflate); any other refusal
    (403, 404, a proxy) says nothing about compression and must not turn it on."""
    text = str(exc)
    response = getattr(exc, "response", None)
    if response is not None:
        body = getattr(response, "body", b"") or b""
        text += " " + bytes(body[:2000]).decode("utf-8", "replace")
        headers = getattr(response, "headers", None)
        if headers is not None:
            text += " " + " ".join(f"{key}: {value}" for key, value in headers.raw_items())
    lowered = text.lower()
    return "deflate" in lowered or "compression" in lowered


def _deflate_offer() -> list:
    """permessage-deflate with `server_no_context_takeover`: each compressed message starts from an empty window,
    so one over the size limit can be dropped part-way instead of inflated to the end to keep the window."""
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    return [ClientPerMessageDeflateFactory(server_no_context_takeover=True, compress_settings={"memLevel": 5})]


def _describe_close(exc: Exception, connection: object = None) -> str:
    failure = getattr(connection, "failure", None)
    if failure:
        return failure
    received = getattr(exc, "rcvd", None)
    if received is None:
        return "no close frame (the connection dropped)"
    reason = f" {received.reason}" if received.reason else ""
    return f"code {received.code}{reason}"
