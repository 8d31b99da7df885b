"""A recorded stream: `FileSource` replays an NDJSON file through the same inbox, mapping, batches and counters
as a live stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.config import IngestError
from desktop_app.core.ingest.mapping import Message
from desktop_app.core.ingest.sources import Inbox, SourceStatus


def read_ndjson(path: Path) -> Iterator[Message]:
    """One message per line; a line that is not UTF-8 stays bytes (and becomes a dead letter)."""
    with path.open("rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                yield line.decode()
            except UnicodeDecodeError:
                yield line


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
        put = inbox.put
        try:
            for message in read_ndjson(self.path):
                if self._stop_requested or inbox.limit_reached:
                    break
                if not put(message):
                    await inbox.wait_for_room()
                elif not inbox.pending:
                    await asyncio.sleep(0)  # a chunk went to the writer: let stop() and the reporter run
        except OSError as exc:
            raise PulseError(f"Cannot read {self.path}: {exc.strerror or exc}") from exc
        self.status.state = "done"

