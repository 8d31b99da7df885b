"""The inbox between a source and the writer, and the interface every source has.

A `Source` receives messages and puts them in an `Inbox`; the session owns the inbox and hands its chunks to the
writer thread:

    status: SourceStatus        state, reconnects, retry attempts, next retry, last error, compression
    async run(inbox)            receive until the stream ends, inbox.limit_reached, or stop(); for each
                                message: `inbox.put(message)` (cheap), and when it returns False (the writer
                                is full) `await inbox.wait_for_room()`: the source stops reading, so the
                                sender is pushed back instead of memory growing.
    stop()                      end run() soon (thread-safe through the session's loop)
    committed(messages)         optional (called when the source has it): on the loop, after each commit, how
                                many more of the messages put in the inbox are durably accounted for (rows,
                                dead letters, skipped duplicates), oldest first: a source that acknowledges
                                (MQTT) acknowledges those. A Protocol cannot carry a default, so it is not
                                declared below; see `committed_hook`.

Messages are `str` (text) or `bytes` (binary); one over the size limit arrives as an `Oversized` (its first
bytes and real size), so a huge message costs memory only while it is received.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from desktop_app.core.ingest.mapping import Message, Oversized, cut_oversized

CHUNK_ROWS = 256  # messages per hand-over to the writer thread
CHUNK_BYTES = 1 << 20  # ... or this many bytes, whichever comes first
ROOM_POLL_S = 0.005  # how often a blocked source checks the writer's queue for room


@dataclass
class SourceStatus:
    state: str = "connecting"  # "connecting" | "connected" | "backoff" | "done"
    connections: int = 0  # connections made (a file source counts its opening)
    reconnects: int = 0  # connections re-established after the first
    retry_attempts: int = 0  # failed attempts since the last connection
    next_retry_at: float | None = None  # monotonic time of the next attempt, in "backoff"
    last_error: str | None = None  # why the last connection ended or failed; cleared when messages flow again
    compression: str | None = None  # negotiated on the current/last connection
    redelivered: int = 0  # messages the sender flagged as sent again (MQTT dup): possible duplicates


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Capped exponential backoff with full jitter: uniform in [base/2, base], base = initial * 2**attempt."""
    base = min(cap, initial * (2 ** min(attempt, 30)))
    return base / 2 + rng.random() * base / 2


class Inbox:
    """Received messages on their way to the writer: a pending chunk, counted in messages and bytes."""

    def __init__(self, handoff: Callable[[list[Message | Oversized], int], bool], max_message_bytes: int,
                 max_messages: int | None) -> None:
        self._handoff = handoff
        self.pending: list[Message | Oversized] = []
        self.pending_bytes = 0
        self.limit = max_message_bytes
        self.quick_limit = max_message_bytes // 4  # a str this long may be over the limit in UTF-8
        self.max_messages = max_messages  # None: no message limit
        self.received = 0
        self.first_message_at: float | None = None

    @property
    def limit_reached(self) -> bool:
        return self.max_messages is not None and self.received >= self.max_messages

    def put(self, message: Message | Oversized) -> bool:
        """Take one message; False when a full chunk could not be handed over (await wait_for_room)."""
        if self.first_message_at is None:  # rates count from the first message received
            self.first_message_at = time.monotonic()
        size = len(message)
        if size > self.quick_limit:
            message = cut_oversized(message, self.limit)
            size = len(message)
        pending = self.pending
        pending.append(message)
        self.pending_bytes += size
        self.received += 1
        if len(pending) >= CHUNK_ROWS or self.pending_bytes >= CHUNK_BYTES:
            return self.flush()
        return True

    def take(self, message: Message | Oversized) -> bool:
        """put() for a source that pushes messages: False also once the message limit is reached."""
        return self.put(message) and not self.limit_reached

    def flush(self) -> bool:
        """Hand the pending chunk to the writer; False when its queue is full (the chunk stays pending)."""
        pending = self.pending
        if not pending:
            return True
        if not self._handoff(pending, self.pending_bytes):
            return False
        self.pending = []
        self.pending_bytes = 0
        return True

    async def wait_for_room(self) -> None:
        while not self.flush():
            await asyncio.sleep(ROOM_POLL_S)


class Source(Protocol):
    status: SourceStatus

    async def run(self, inbox: Inbox) -> None: ...
    def stop(self) -> None: ...


def committed_hook(source: object) -> Callable[[int], None] | None:
    """The source's optional `committed(messages)` acknowledgement hook, or None (WebSocket, file)."""
    hook = getattr(source, "committed", None)
    return hook if callable(hook) else None
