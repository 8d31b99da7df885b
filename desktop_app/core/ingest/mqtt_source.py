"""MQTT as a source: `MqttSource` subscribes to `mqtt://[user@]host:port/topic/filter` (mqtts:// with TLS) at
QoS 1 in a persistent session, and acknowledges each message only after the batch holding it has committed.

Why nothing is lost, even to SIGKILL: the client id is fixed (stable across restarts), the session outlives the
connection (MQTT 5 `clean_start=False` and a session expiry), and paho runs with `manual_ack=True`. A message
is PUBACKed from `committed()`, which the ingest session calls after each commit with the number of messages
that batch accounted for (rows, dead letters, skipped duplicates). Messages travel source -> inbox -> writer in
order and the writer commits whole chunks in order, so "N more committed" means "the oldest N pending".
Whatever was not acknowledged when the process died is redelivered by the broker on the next connection
(flagged `dup`, counted as `redelivered`); with `--dedupe-key` those are written once.

The client library is paho-mqtt 2 (Eclipse): maintained, MQTT 5, manual acknowledgement, and a documented way
to drive its socket from an asyncio loop, which is used here: the loop watches paho's socket with
add_reader/add_writer, so there is no network thread. Only the blocking TCP/TLS connect runs in the loop's
executor; the socket is watched once it returns.

Backpressure: when the inbox is full the reader is removed until there is room, and the CONNECT's Receive
Maximum bounds how many unacknowledged messages the broker sends; its Maximum Packet Size (4x the message
limit) bounds what paho holds in memory for one message. A broker drops a larger message itself (MQTT 5).

Broker settings matter: a broker that limits queued messages per client (mosquitto's `max_queued_messages`,
1000 by default) drops QoS 1 messages for a slow or absent subscriber; raise it for a lossless stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.errors import IngestError
from desktop_app.core.ingest.config import IngestConfig
from desktop_app.core.ingest.inbox import Inbox, SourceStatus, backoff_delay
from desktop_app.core.ingest.mqtt_url import MqttTarget, parse_mqtt_url

if TYPE_CHECKING:
    from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

KEEPALIVE_S = 30
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our subscription and queue this long while we are away
MAX_RECEIVE = 65535  # the largest Receive Maximum MQTT 5 allows
MISC_INTERVAL_S = 1.0  # keepalive pings and their timeout (paho's loop_misc)
# On stop: how long to wait for the writer to commit what was received so it can be acknowledged, then for
# the DISCONNECT to go out. Together under the session's SOURCE_STOP_S (3 s).
DRAIN_S = 2.0
CLOSE_S = 0.5
# CONNACK reasons that another attempt will not fix: said once, and the run ends.
FATAL_REFUSALS = {
    0x84: "the broker does not support MQTT 5",
    0x85: "the broker rejected the client id (choose another with --client-id)",
    0x86: "bad user name or password (set them in the environment: MQTT_USERNAME and MQTT_PASSWORD, or the "
    "variables named by --mqtt-user-env / --mqtt-password-env)",
    0x87: "not authorized (check the user name and password in the environment and the broker's ACL)",
    0x8A: "this client is banned by the broker",
    0x8C: "bad authentication method",
}


def client_id_for(config: IngestConfig) -> str:
    """`--client-id`, or one derived from the database, table, broker and topic: the same command restarted
    resumes the same session (and its unacknowledged messages). 22 characters: within MQTT 3's limit too."""
    if config.client_id:
        return config.client_id
    target = parse_mqtt_url(config.url)
    database = str(config.db_path) if isinstance(config.db_path, str) else str(Path(config.db_path).expanduser().absolute())
    seed = "\x00".join((database, config.table, target.host, str(target.port), target.topic))
    return "pulse-" + hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()


def with_topic(text: str, topic: str) -> str:
    """A JSON object's text with a "topic" field first (for `--dedupe-key topic+FIELD`); anything else as is
    (it becomes a dead letter, as it would without the topic). A "topic" field of the message's own wins."""
    body = text.lstrip()
    if not body.startswith("{"):
        return text
    inner = body[1:].lstrip()
    return '{"topic":' + json.dumps(topic) + ("" if inner.startswith("}") else ",") + inner


class MqttSource:
    """A QoS 1 subscriber with a persistent session, acknowledging after commit; reconnects with backoff."""

    def __init__(self, config: IngestConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.target = parse_mqtt_url(config.url)
        self.client_id = client_id_for(config)
        self.status = SourceStatus()
        self.session_present: bool | None = None  # from the last CONNACK: the broker had our session
        self._topic_field = bool(config.dedupe_key and config.dedupe_key.startswith("topic+"))
        self._rng = rng or random.Random()
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None  # set whenever something run() waits on may have changed
        self._client: Client | None = None
        self._inbox: Inbox | None = None
        self._sock: Any = None  # paho's socket, while the loop watches it
        self._paused = False  # the inbox is full: not reading
        self._taking = True  # False once the message limit is reached or a stop began: later ones are not taken
        self._tasks: set[asyncio.Future[Any]] = set()
        # Per connection (reset in _connect): what the broker said.
        self._accepted = False
        self._subscribed = False
        self._refusal: str | None = None  # a fatal refusal (CONNACK or SUBACK), in words
        self._retry_reason: str | None = None  # a refusal worth retrying (server busy, ...)
        self._disconnect_reason: str | None = None
        # Messages taken and not yet acknowledged, oldest first: generation << 16 | mid (-1 for QoS 0). A mid
        # belongs to its connection; one from an earlier connection is not acknowledged (the broker redelivers it).
        self._pending: deque[int] = deque()
        self._generation = 0

    # -- the Source interface ---------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop_requested = True
        if self._changed is not None:
            self._changed.set()

    def committed(self, messages: int) -> None:
        """On the loop: the writer committed the oldest `messages` taken messages; acknowledge them."""
        pending, client = self._pending, self._client
        current = self._generation if self._accepted and self._sock is not None else -1
        for _ in range(min(messages, len(pending))):
            entry = pending.popleft()
            if entry >= 0 and entry >> 16 == current and client is not None:
                client.ack(entry & 0xFFFF, 1)
        self._poke()

    async def run(self, inbox: Inbox) -> None:
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._inbox = inbox
        self._client = client = self._new_client()
        status, config = self.status, self.config
        attempt = 0
        try:
            while not self._finishing():
                status.state = "connecting"
                received_before = inbox.received
                connected_at = await self._connect(client)
                if connected_at is not None:
                    await self._until(lambda: self._sock is None or self._finishing())
                    if self._finishing():
                        await self._drain(client)
                        return
                    status.last_error = f"Connection lost: {self._disconnect_reason or 'the broker closed it'}"
                else:
                    status.retry_attempts += 1
                if self._finishing():
                    return
                delivered = inbox.received > received_before
                loop = self._loop
                if delivered or (connected_at is not None and loop.time() - connected_at >= config.stable_after):
                    attempt = 0  # it was a good connection: start the backoff over

                delay = backoff_delay(attempt, config.backoff_initial, config.backoff_max, self._rng)
                attempt += 1
                status.state = "backoff"
                status.next_retry_at = time.monotonic() + delay
                await self._until(self._finishing, delay)
                status.next_retry_at = None
        finally:
            self._close()
            status.state = "done"

    # -- connecting -------------------------------------------------------------------------------------

    def _new_client(self) -> Client:
        from paho.mqtt.client import CallbackAPIVersion, Client, MQTTProtocolVersion  # noqa: PLC0415

        client = Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=MQTTProtocolVersion.MQTTv5,
                        manual_ack=True, reconnect_on_failure=False)
        client.connect_timeout = self.config.open_timeout
        username, password = credentials(self.config, self.target)
        if username is not None:
            client.username_pw_set(username, password)
        if self.target.tls:
            ca_file = self.config.ca_file
            context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if not self.config.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            client.tls_set_context(context)
            client.tls_insecure_set(not self.config.verify_tls)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return client

    def _connect_properties(self) -> Properties:
        from paho.mqtt.packettypes import PacketTypes  # noqa: PLC0415
        from paho.mqtt.properties import Properties  # noqa: PLC0415

        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        # Unacknowledged messages the broker may send: they wait in the inbox and the writer's queue.
        properties.ReceiveMaximum = min(MAX_RECEIVE, self.config.max_queued_rows)
        properties.MaximumPacketSize = 4 * self.config.max_message_bytes + 65536
        return properties

    async def _connect(self, client: Client) -> float | None:
        """One attempt: TCP (+TLS) in the executor, then CONNACK and SUBACK on the loop. The loop time it
        connected, or None (the reason is in status.last_error). IngestError for a refusal that will not pass."""
        loop, status, target = self._require_loop(), self.status, self.target
        self._close()
        self._generation = (self._generation + 1) & 0xFFFFFFFF
        self._accepted = self._subscribed = False
        self._refusal = self._retry_reason = self._disconnect_reason = None
        connect = functools.partial(client.connect, target.host, target.port, KEEPALIVE_S, clean_start=False,
                                    properties=self._connect_properties())
        opening = loop.run_in_executor(None, connect)
        try:
            await opening
        except asyncio.CancelledError:
            opening.add_done_callback(lambda _: self._close())  # the socket it may still open is closed then
            raise
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, TLS, timeout
            status.last_error = f"Cannot connect to {target.host}:{target.port}: {_describe(exc)}"
            return None
        self._watch(client)
        answered = await self._until(
            lambda: self._subscribed or self._refusal is not None or self._sock is None or self._finishing(),
            self.config.open_timeout,
        )
        if self._refusal is not None:
            self._close()
            raise IngestError(f"The broker at {target.host}:{target.port} refused: {self._refusal}.")
        if self._subscribed:
            status.connections += 1
            if status.connections > 1:
                status.reconnects += 1
            status.state = "connected"
            status.retry_attempts = 0
            status.last_error = None
            return loop.time()
        if not answered:
            status.last_error = f"{target.host}:{target.port} did not answer the MQTT CONNECT in {self.config.open_timeout:g} s"
        elif self._retry_reason is not None:
            status.last_error = f"The broker at {target.host}:{target.port} refused: {self._retry_reason}"
        elif self._sock is None:
            status.last_error = f"Connection closed before the broker answered: {self._disconnect_reason or 'no reason given'}"
        self._close()
        return None

    async def _drain(self, client: Client) -> None:
        """Stopping (or the message limit): take no more, acknowledge what commits within DRAIN_S, then say
        DISCONNECT (the session stays on the broker; what is unacknowledged is redelivered next time)."""
        self._taking = False
        await self._until(lambda: not self._pending or self._sock is None, DRAIN_S)
        if self._sock is not None:
            client.disconnect()
            await self._until(lambda: self._sock is None, CLOSE_S)

    # -- paho's callbacks (on the loop thread, except the socket ones during the executor's connect) --------

    def _on_connect(self, client: Client, userdata: Any, flags: ConnectFlags, reason: ReasonCode,
                    properties: Properties | None) -> None:
        from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: PLC0415

        if reason.is_failure:
            fatal = FATAL_REFUSALS.get(reason.value)
            if fatal is not None:
                self._refusal = fatal
            else:
                self._retry_reason = str(reason)
        else:
            self._accepted = True
            self.session_present = flags.session_present
            # retainHandling=1: a retained message comes only with a new subscription, not again on each reconnect.
            client.subscribe(self.target.topic, options=SubscribeOptions(qos=1, retainHandling=1))
        self._poke()

    def _on_subscribe(self, client: Client, userdata: Any, mid: int, reasons: list[ReasonCode],
                      properties: Properties | None) -> None:
        reason = reasons[0] if reasons else None
        if reason is not None and reason.is_failure:
            self._refusal = f"cannot subscribe to {self.target.topic!r}: {reason}"
        else:
            self._subscribed = True
            if reason is not None and reason.value == 0:
                self.status.last_error = "The broker granted QoS 0 only: messages may be lost"
        self._poke()

    def _on_disconnect(self, client: Client, userdata: Any, flags: DisconnectFlags, reason: ReasonCode,
                       properties: Properties | None) -> None:
        self._disconnect_reason = str(reason)
        self._poke()

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        inbox = self._inbox
        if not self._taking or inbox is None or inbox.limit_reached:
            self._taking = False  # not taken, not acknowledged: the broker redelivers it next session
            self._poke()
            return
        payload = message.payload
        text: str | bytes
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            text = bytes(payload)  # a dead letter: binary where JSON text is expected
        if self._topic_field and isinstance(text, str):
            with contextlib.suppress(UnicodeDecodeError):  # a topic that is not UTF-8 (MQTT forbids it): none then
                text = with_topic(text, message.topic)
        if message.dup:
            self.status.redelivered += 1
        self._pending.append(self._generation << 16 | message.mid if message.qos else -1)
        if not inbox.put(text):
            self._pause()
        if inbox.limit_reached:
            self._taking = False
            self._poke()

    def _on_socket_close(self, client: Client, userdata: Any, sock: Any) -> None:
        if sock is self._sock:
            self._unwatch()

    def _on_register_write(self, client: Client, userdata: Any, sock: Any) -> None:
        if sock is self._sock and self._loop is not None:
            self._loop.add_writer(sock, self._writable)

    def _on_unregister_write(self, client: Client, userdata: Any, sock: Any) -> None:
        if sock is self._sock and self._loop is not None:
            self._loop.remove_writer(sock)

    # -- the socket on the loop -------------------------------------------------------------------------

    def _watch(self, client: Client) -> None:
        """Watch the socket the executor's connect opened (a CONNECT may be waiting to be written)."""
        loop = self._require_loop()
        sock = client.socket()
        if sock is None:
            return
        self._sock = sock
        if not self._paused:
            loop.add_reader(sock, self._readable)
        if client.want_write():
            loop.add_writer(sock, self._writable)
        task = asyncio.ensure_future(self._misc(client, sock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _unwatch(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
        self._poke()

    def _readable(self) -> None:
        client = self._client
        if client is None:
            return
        client.loop_read()
        # TLS: bytes already decrypted wait in the SSL object, where the selector cannot see them.
        while self._sock is not None and not self._paused and isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            client.loop_read()

    def _writable(self) -> None:
        if self._client is not None:
            self._client.loop_write()

    async def _misc(self, client: Client, sock: Any) -> None:
        """Keepalive pings, and closing a connection whose ping went unanswered."""
        while self._sock is sock:
            await asyncio.sleep(MISC_INTERVAL_S)
            if self._sock is sock:
                client.loop_misc()

    def _pause(self) -> None:
        """The inbox is full: stop reading until the writer has room (TCP then pushes back on the broker)."""
        if self._paused:
            return
        self._paused = True
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)
        task = asyncio.ensure_future(self._resume_when_room())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resume_when_room(self) -> None:
        if self._inbox is not None:
            await self._inbox.wait_for_room()
        self._paused = False
        if self._sock is not None and self._loop is not None:
            self._loop.add_reader(self._sock, self._readable)

    def _close(self) -> None:
        """Stop watching and close the socket now (no DISCONNECT: the session stays, as after a crash)."""
        client, sock = self._client, self._sock
        self._unwatch()
        for task in list(self._tasks):
            task.cancel()
        self._paused = False
        current = client.socket() if client is not None else None
        for each in {id(s): s for s in (sock, current) if s is not None}.values():
            with contextlib.suppress(OSError):
                each.close()

    # -- waiting ------------------------------------------------------------------------------------------

    def _finishing(self) -> bool:
        inbox = self._inbox
        return self._stop_requested or not self._taking or (inbox is not None and inbox.limit_reached)

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _until(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait until `ready()` (checked whenever a callback pokes); False when `timeout` passed first."""
        loop, changed = self._require_loop(), self._changed
        assert changed is not None
        deadline = None if timeout is None else loop.time() + timeout
        while not ready():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return True

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("MqttSource.run() has not started")
        return self._loop


def credentials(config: IngestConfig, target: MqttTarget) -> tuple[str | None, str | None]:
    """User name and password from the environment (the variables the config names), the user name also from
    the URL. Never from the command line or the config document, so they show in no process list or log."""
    username = os.environ.get(config.mqtt_user_env) or target.username
    password = os.environ.get(config.mqtt_password_env) or None
    if password is not None and username is None:
        raise IngestError(
            f"{config.mqtt_password_env} is set but no user name is: set {config.mqtt_user_env} too, or put "
            "user@ before the host in the URL."
        )
    return username, password


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
