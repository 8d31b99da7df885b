"""A WebSocket client connection whose frames are read by the ingest's own streaming reader (frames.py).

websockets' generic client parses each frame with a generator-based reader, queues it in an assembler and wakes
an awaiting `recv()`: per message that cost more CPU than JSON parsing and the SQLite insert together, and it
waits for a whole message before it can bound it. Here websockets does the handshake, TLS, proxies, keepalive
and the closing handshake; every byte after the handshake goes through `FrameReader`, which delivers data
messages straight to the inbox (bounded, oversized ones cut down as they arrive) and hands each control frame,
in its place in the stream, to websockets (which answers pings and closes).

Flow control: when the inbox is full parsing halts and the transport stops reading, so the sender is pushed back
and at most one read waits. A peer that does not read what we send (pongs to a ping flood) is dropped once
MAX_UNSENT_BYTES wait. The connection is made by `websockets.asyncio.client.connect(...,
create_connection=StreamConnection)` and read only through `attach` / `wait_halted` / `resume` / `detach`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ProtocolError
from websockets.protocol import State

from desktop_app.core.ingest.frames import FrameReader, Inflater
from desktop_app.core.ingest.mapping import Message, Oversized

HEADER_END = b"\r\n\r\n"
MAX_HANDSHAKE_BYTES = 1 << 16  # beyond this websockets parses (and refuses) the response itself
MAX_EARLY_BYTES = 1 << 20  # read before delivery starts: past this, stop reading until it does
MAX_UNSENT_BYTES = 1 << 20  # our replies the peer has not read: past this it is a dead peer
CONTROL_MAX_SIZE = 125  # all websockets still parses after the handshake is control frames

Deliver = Callable[[Message | Oversized], bool]  # False: stop delivering until resume()


def _ignore(_message: Message | Oversized) -> bool:
    return True


def negotiated_inflater(protocol: object) -> Inflater | None:
    """The server's permessage-deflate parameters, when compression was negotiated."""
    for extension in getattr(protocol, "extensions", None) or ():
        if getattr(extension, "name", "") == "permessage-deflate":
            return Inflater(extension.remote_max_window_bits, extension.remote_no_context_takeover)
    return None


class StreamConnection(ClientConnection):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._early = bytearray()  # after the handshake, before attach()
        self._framing = False  # the handshake response has been split off: frames follow
        self._passthrough = False  # every byte goes to websockets (a refused handshake)
        self._reader: FrameReader | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._eof_pending = False  # the server's EOF, held back until the frames before it are read
        self.failure: str | None = None  # why this side ended the connection, in words

    # -- the reader's side ------------------------------------------------------------------------------------

    def attach(self, deliver: Deliver, limit: int) -> None:
        """Start delivering messages of at most `limit` bytes (those already read first, in order)."""
        self._reader = FrameReader(limit, deliver, self._forward_control, self._fail,
                                   negotiated_inflater(self.protocol))
        early, self._early = bytes(self._early), bytearray()
        self._reader.feed(early)
        self._after_parse()

    async def wait_halted(self) -> None:
        """Return when delivery halted (deliver returned False) or the connection is gone."""
        while not self.halted and not self.connection_lost_waiter.done():
            self._wakeup = self.loop.create_future()
            await asyncio.wait({self._wakeup, self.connection_lost_waiter}, return_when=asyncio.FIRST_COMPLETED)
            self._wakeup = None

    def deliver_to(self, deliver: Deliver) -> None:
        """Deliver to `deliver` from the next read on."""
        if self._reader is not None:
            self._reader.deliver_to(deliver)

    @property
    def halted(self) -> bool:
        return self._reader is not None and self._reader.halted and not self._reader.closed

    def resume(self) -> None:
        """Deliver again: parse what waited, then read from the network again."""
        if self._reader is not None:
            self._reader.resume()
            self._after_parse()

    def detach(self) -> None:
        """Stop delivering: later messages are read and dropped, control frames still answered, so closing is
        never held up by a halt."""
        if self._reader is not None:
            self._reader.deliver_to(_ignore)
            self._reader.resume()
            self._after_parse()

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._passthrough:
            super().data_received(data)
            return
        if not self._framing:
            self._early += data
            if not self._split_handshake():
                return
            data = b""
        reader = self._reader
        if reader is None:
            self._early += data
            if len(self._early) > MAX_EARLY_BYTES and self.transport is not None:
                self.transport.pause_reading()
            return
        reader.feed(data)
        self._after_parse()

    def eof_received(self) -> bool | None:  # type: ignore[override]  # True keeps the transport open
        """The server's EOF reaches websockets only after every frame read before it (a burst and its close
        frame can all arrive before delivery starts, or while the inbox is full)."""
        reader = self._reader
        if self._framing and (reader is None or (reader.halted and not reader.closed)):
            self._eof_pending = True
            return True  # keep the transport until then (a TLS transport closes anyway: see _forward_control)
        return super().eof_received()

    # -- internals --------------------------------------------------------------------------------------------

    def _after_parse(self) -> None:
        reader = self._reader
        transport = self.transport
        if reader is None or transport is None or transport.is_closing():
            return
        if self._eof_pending and not (reader.halted and not reader.closed):
            self._eof_pending = False
            if not super().eof_received():
                transport.close()
            return
        if reader.halted and not reader.closed:
            transport.pause_reading()
            if self._wakeup is not None and not self._wakeup.done():
                self._wakeup.set_result(None)
        else:
            transport.resume_reading()

    def _split_handshake(self) -> bool:
        """Give websockets exactly the HTTP response; True when frames follow in `_early`."""
        buffer = self._early
        end = buffer.find(HEADER_END)
        if end < 0:
            if len(buffer) > MAX_HANDSHAKE_BYTES:
                self._passthrough, self._early = True, bytearray()
                super().data_received(bytes(buffer))
            return False
        end += len(HEADER_END)
        response, rest = bytes(buffer[:end]), buffer[end:]
        self._early = bytearray()
        super().data_received(response)
        if self.protocol.state is not State.OPEN:  # refused: a body may follow, websockets reads it
            self._passthrough = True
            if rest:
                super().data_received(bytes(rest))
            return False
        self._framing = True
        self._early = rest
        return True

    def _forward_control(self, frame: bytes) -> bool:
        """A whole control frame to websockets; False once it is closing (a close frame, or a failure)."""
        if self.protocol.state is State.CLOSED:
            return False  # the connection is gone: the frames still buffered are data, delivered; nothing to answer
        super().data_received(frame)
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            self.failure = (f"the server does not read what is sent to it ({transport.get_write_buffer_size():,} "
                            f"bytes of replies unsent): dropped as a dead peer")
            transport.abort()
            return False
        return self.protocol.state is State.OPEN

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection as websockets' own parser would (RFC 6455 7.1.7): send a close frame with `code`,
        read nothing more, wait for the server to close (within websockets' close timeout)."""
        self.failure = f"the server broke the WebSocket protocol ({reason}): closed with code {code}"
        protocol = self.protocol
        if protocol.state is State.OPEN:
            protocol.fail(code, reason)
            protocol.parser_exc = ProtocolError(reason)
            super().data_received(b"")  # websockets sends the close frame and sets its close deadline
