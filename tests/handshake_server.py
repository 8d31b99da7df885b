"""A feed that needs a handshake, for tests: it refuses a wrong Authorization header (401) and a missing
subprotocol (400), sends nothing until the exact subscribe message arrives (closing with 1008 on any other),
then streams `count` JSON messages numbered by `seq`, cutting the first connection once after `drop_after`
(a TCP close without a close frame, after everything sent so far has been flushed). A reconnect carries on
where the last connection stopped. Runs on its own thread and loop on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import threading
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

SUBSCRIBE_WAIT_S = 10.0


class HandshakeServer:
    def __init__(self, *, authorization: str, subscribe: str, count: int, drop_after: int | None = None,
                 subprotocol: str | None = None, hold: bool = False) -> None:
        self.authorization = authorization
        self.subscribe = subscribe
        self.subprotocol = subprotocol
        self.count = count
        self.drop_after = drop_after
        self.go = threading.Event()  # streaming starts once set (set at once unless hold=True)
        if not hold:
            self.go.set()
        self.url = ""
        self.sent = 0
        self.refused: list[int] = []  # HTTP statuses of refused handshakes
        self.subscribes: list[str] = []  # the first message of each accepted connection, in order
        self.header_names: list[list[str]] = []  # request header names of each accepted handshake
        self._dropped = False
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Authorization") != self.authorization:
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "a valid Authorization header is required\n")
        offered = [name.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol")
                   for name in value.split(",")]
        if self.subprotocol is not None and self.subprotocol not in offered:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, f"subprotocol {self.subprotocol} is required\n")
        self.header_names.append([name for name, _value in request.headers.raw_items()])
        return None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, text: str) -> Response:
        self.refused.append(int(status))
        return connection.respond(status, text)

    async def _serve(self, connection: ServerConnection) -> None:
        try:
            first = await asyncio.wait_for(connection.recv(), SUBSCRIBE_WAIT_S)
        except (TimeoutError, ConnectionClosed):
            return
        self.subscribes.append(first if isinstance(first, str) else first.decode("utf-8", "replace"))
        if first != self.subscribe:
            await connection.close(1008, "unknown subscription")
            return
        while not self.go.is_set():  # a test looks at the subscribed client meanwhile
            await asyncio.sleep(0.01)
        while self.sent < self.count:
            await connection.send(json.dumps({"seq": self.sent, "value": self.sent * 0.5}))
            self.sent += 1
            if self.drop_after is not None and self.sent == self.drop_after and not self._dropped:
                self._dropped = True
                connection.transport.close()  # flushes what was sent, then FIN: no close frame
                return
        await connection.wait_closed()  # the client decides when it has enough

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        subprotocols = [self.subprotocol] if self.subprotocol else None
        async with serve(self._serve, "127.0.0.1", 0, process_request=self._check,
                         subprotocols=subprotocols) as server:  # type: ignore[arg-type]
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/feed"
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> HandshakeServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the handshake test server did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

