"""A WebSocket server that sends exact bytes: the handshake by hand, then whatever a scenario writes.

For tests of the ingest against servers that break the rules: it runs on its own thread on 127.0.0.1, each
connection runs `script(reader, writer, request)`, and `close()` ends every connection and the server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
from collections.abc import Awaitable, Callable

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


def switching_protocols(request: bytes, extensions: str | None = None) -> bytes:
    """The 101 response to a client's handshake `request` (with a Sec-WebSocket-Extensions line if given)."""
    key = re.search(rb"sec-websocket-key:\s*(\S+)", request, re.IGNORECASE).group(1)  # type: ignore[union-attr]
    token = base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())
    extra = f"Sec-WebSocket-Extensions: {extensions}\r\n".encode() if extensions else b""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + token + b"\r\n" + extra + b"\r\n"
    )


class RawServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.url = ""
        self.connections = 0
        self.bytes_sent = 0  # scripts add what they wrote, for tests that wait on progress
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            await self.script(reader, writer, request)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: the script ends with it
        finally:
            writer.transport.abort()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        async with server:
            self.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            self._ready.set()
            await self._stop.wait()
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

    def __enter__(self) -> RawServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test server did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
