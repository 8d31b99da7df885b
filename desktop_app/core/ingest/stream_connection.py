"""A WebSocket client connection that hands each received message straight to the inbox.

The receive loop was the pipeline's bottleneck: per message, websockets' generic client parses the frame with
its generator-based reader, queues it in an assembler and wakes an awaiting `recv()`, which costs more CPU than
JSON parsing and the SQLite insert together. Streams are almost all small, complete, uncompressed text or
binary frames, so `StreamConnection` reads those itself, in `data_received`, straight into the inbox (about a
fifth of the CPU). Every other frame (control frames, fragments, compressed or masked frames, anything after a
close frame) is handed, whole and in order, to websockets, which answers pings, runs the closing handshake,
decompresses and reassembles, and reports the data messages back through `process_event`. The handshake,
TLS, proxies and keepalive pings are websockets' own.

Flow control: when the inbox is full (or its message limit is reached) parsing halts and the transport stops
reading, so the sender is pushed back; what was already read waits in `_buffer` (at most one read) until
`resume()`. The connection is made by `websockets.asyncio.client.connect(..., create_connection=...)` and
read only through `attach` / `wait_halted` / `resume` / `detach`, never `recv()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from desktop_app.core.ingest.mapping import Message

HEADER_END = b"\r\n\r\n"
MAX_HANDSHAKE_BYTES = 1 << 16  # beyond this websockets parses (and refuses) the response itself
TEXT_FIN, BINARY_FIN = 0x81, 0x82  # FIN set, no RSV bits: a whole, uncompressed message in one frame
DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)

Deliver = Callable[[Message], bool]  # False: stop delivering until resume()


def _decoded(payload: bytes | bytearray, text: bool) -> Message:
    """Text frames become str; invalid UTF-8 stays bytes (a dead letter, and the connection stays up)."""
    if text:
        try:
            return payload.decode()
        except UnicodeDecodeError:
            pass
    return bytes(payload)


def _delivering(protocol: object) -> bool:
    """Frames may still be delivered: no close frame received, and websockets has not failed the connection
    (after a protocol error it sends 1002 and must ignore what follows; end of stream is not such an error,
    and frames read before it are still delivered)."""
    failure = getattr(protocol, "parser_exc", None)
    return protocol.close_rcvd is None and (failure is None or isinstance(failure, EOFError))  # type: ignore[attr-defined]


class StreamConnection(ClientConnection):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._buffer = bytearray()  # received, not yet parsed
        self._framing = False  # the handshake response has been split off: frames follow
        self._passthrough = False  # every byte goes to websockets (a refused handshake, or detached)
        self._deliver: Deliver | None = None
        self._halted = False
        self._wakeup: asyncio.Future[None] | None = None
        self._fragments: list[Frame] = []  # a fragmented message being reassembled by websockets' frames

    # -- the reader's side ------------------------------------------------------------------------------------

    def attach(self, deliver: Deliver) -> None:
        """Start delivering messages (those already buffered first)."""
        self._deliver = deliver
        self._parse()

    async def wait_halted(self) -> None:
        """Return when delivery halted (deliver returned False) or the connection is gone."""
        while not self._halted and not self.connection_lost_waiter.done():
            self._wakeup = self.loop.create_future()
            await asyncio.wait({self._wakeup, self.connection_lost_waiter}, return_when=asyncio.FIRST_COMPLETED)
            self._wakeup = None

    @property
    def halted(self) -> bool:
        return self._halted

    def resume(self) -> None:
        """Deliver again: parse what waited, then read from the network again."""
        self._halted = False
        self._parse()
        if not self._halted and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def detach(self) -> None:
        """Stop delivering; from now on websockets reads everything (so closing is not held up by a halt)."""
        self._deliver = None
        self._passthrough = True
        self._halted = False
        pending, self._buffer = bytes(self._buffer), bytearray()
        if pending and self.protocol.state is not State.CLOSED:
            super().data_received(pending)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._passthrough:
            super().data_received(data)
            return
        self._buffer += data
        if not self._framing and not self._split_handshake():
            return
        if self._deliver is not None and not self._halted:
            self._parse()

    def process_event(self, event: object) -> None:
        if isinstance(event, Frame) and event.opcode in DATA_OPCODES:
            self._assemble(event)
        else:
            super().process_event(event)  # type: ignore[arg-type]

    # -- internals --------------------------------------------------------------------------------------------

    def _split_handshake(self) -> bool:
        """Give websockets exactly the HTTP response; True when frames follow in `_buffer`."""
        buffer = self._buffer
        end = buffer.find(HEADER_END)
        if end < 0:
            if len(buffer) > MAX_HANDSHAKE_BYTES:
                self._passthrough, self._buffer = True, bytearray()
                super().data_received(bytes(buffer))
            return False
        end += len(HEADER_END)
        response, rest = bytes(buffer[:end]), buffer[end:]
        self._buffer = bytearray()
        super().data_received(response)
        if self.protocol.state is not State.OPEN:  # refused: a body may follow, websockets reads it
            self._passthrough = True
            if rest:
                super().data_received(bytes(rest))
            return False
        self._framing = True
        self._buffer = rest
        return True

    def _parse(self) -> None:
        """Deliver every complete frame in `_buffer` until delivery halts."""
        buffer = self._buffer
        deliver = self._deliver
        if deliver is None:
            return
        end = len(buffer)
        position = 0
        protocol = self.protocol
        while end - position >= 2:
            first, length = buffer[position], buffer[position + 1]
            start = position + 2
            masked = length & 0x80
            length &= 0x7F
            if length == 126:
                start += 2
                if start > end:
                    break
                length = int.from_bytes(buffer[position + 2 : start], "big")
            elif length == 127:
                start += 8
                if start > end:
                    break
                length = int.from_bytes(buffer[position + 2 : start], "big")
            if masked:
                start += 4  # a server must not mask: websockets will fail the connection
            stop = start + length
            if stop > end:
                break
            whole = first in (TEXT_FIN, BINARY_FIN) and not masked
            if whole and not self._fragments and _delivering(protocol):
                message = _decoded(buffer[start:stop], first == TEXT_FIN)
                position = stop
                if not deliver(message):
                    self._halt()
                    break
            else:
                frame = bytes(buffer[position:stop])
                position = stop
                if protocol.state is not State.CLOSED:
                    super().data_received(frame)  # may deliver through process_event, and may halt
                if self._halted:
                    break
        del buffer[:position]

    def _assemble(self, frame: Frame) -> None:
        """A data frame parsed by websockets (compressed, fragmented or otherwise unusual)."""
        if frame.opcode is not Opcode.CONT:
            self._fragments = []
        self._fragments.append(frame)
        if not frame.fin:
            return
        frames, self._fragments = self._fragments, []
        if self._deliver is None:
            return  # detached: past the last message wanted
        message = _decoded(b"".join(part.data for part in frames), frames[0].opcode is Opcode.TEXT)
        if not self._deliver(message):
            self._halt()

    def _halt(self) -> None:
        self._halted = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
