"""A recorded stream: `FileSource` replays an NDJSON file through the same inbox, mapping, batches and counters
as a live stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from desktop_app.core.errors import IngestError, PulseError
from desktop_app.core.ingest.inbox import Inbox, SourceStatus
from desktop_app.core.ingest.mapping import (
    DEFAULT_MAX_MESSAGE_BYTES,
    KEEP_OVERSIZED_BYTES,
    Message,
    Oversized,
)

READ_BYTES = 1 << 20  # one read of the file: what a line costs in memory, however long it is


def read_ndjson(path: Path, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Iterator[Message | Oversized]:
    """One message per line; a line that is not UTF-8 stays bytes (and becomes a dead letter). The file is read
    READ_BYTES at a time and a line is never held whole past `max_message_bytes`: a longer one becomes an
    Oversized (its first bytes and real size), the same dead letter as a WebSocket message over the limit."""
    keep = min(max_message_bytes, KEEP_OVERSIZED_BYTES)
    with path.open("rb") as handle:
        for line, size in _lines(handle, max_message_bytes):
            if size > max_message_bytes:
                yield Oversized(line[:keep], size)
            elif line.strip():
                try:
                    yield line.decode()
                except UnicodeDecodeError:
                    yield line


def _lines(handle: BinaryIO, limit: int) -> Iterator[tuple[bytes, int]]:
    """(line, size) for each line, without its line ending: the whole line when size <= limit, else its first
    `limit` bytes or more (the rest is counted as it is read, never kept)."""
    head, size, last = b"", 0, b""  # the line a read left unfinished: first bytes, size so far, last byte
    while block := handle.read(READ_BYTES):
        *ended, rest = block.split(b"\n")
        for piece in ended:
            if size:  # the first piece ends the unfinished line
                piece, piece_size, last = head + piece, size + len(piece), piece[-1:] or last
                head, size = b"", 0
            else:
                piece_size, last = len(piece), piece[-1:]
            if last == b"\r":
                piece, piece_size = piece.removesuffix(b"\r"), piece_size - 1
            yield piece, piece_size
        if len(head) <= limit:
            head += rest[: limit + 1 - len(head)]
        size += len(rest)
        last = rest[-1:] or last
    if size:
        if last == b"\r":
            head, size = head.removesuffix(b"\r"), size - 1
        yield head, size


class FileSource:
    """Replays a recorded NDJSON file: the same inbox, mapping, batches and counters as a live stream."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.status = SourceStatus()
        self._stop_requested = False

    def stop(self) -> None:
        self._stop_requested = True

    async def run(self, inbox: Inbox) -> None:
        if not self.path.is_file():
            raise IngestError(f"{self.path} does not exist or is not a file.")
        self.status.state = "connected"
        self.status.connections = 1
        put = inbox.put
        try:
            for message in read_ndjson(self.path, inbox.limit):
                if self._stop_requested or inbox.limit_reached:
                    break
                if not put(message):
                    await inbox.wait_for_room()
                elif not inbox.pending:
                    await asyncio.sleep(0)  # a chunk went to the writer: let stop() and the reporter run
        except OSError as exc:
            raise PulseError(f"Cannot read {self.path}: {exc.strerror or exc}") from exc
        self.status.state = "done"

