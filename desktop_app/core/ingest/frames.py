"""The ingest's WebSocket frame reader: Sans-I/O, streaming, bounded, client side (frames from a server).

Bytes go in with `feed()` as they arrive; headers are parsed at once and payloads consumed as they come, so
nothing waits for a whole frame before deciding:

- a data message (text or binary, one frame or fragments, plain or permessage-deflate) is delivered whole
  when it is within `limit` bytes (inflated size for a compressed one);
- a message over `limit` keeps its first KEEP_OVERSIZED_BYTES (at most `limit`), discards the rest as it arrives, and is
  delivered as one `Oversized` (its real size; for a compressed one the size when inflating stopped, which
  is `limit + 1`): the connection stays up;
- a control frame (at most 125 bytes by RFC 6455) is handed whole, in its place in the stream, to
  `control`, which gives it to websockets (pong, closing handshake, keepalive);
- anything RFC 6455 forbids fails the connection through `fail(code, reason)` with the code websockets' own
  parser would use; after that, or after a close frame, nothing more is read.

Memory per connection: at most one read waiting while delivery is halted, `limit` bytes of the message being
assembled and 139 bytes of a split header or control frame. `tests/unit/core/test_frames_differential.py`
feeds random streams to this reader and to websockets' `Protocol` and requires the same messages and close.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from desktop_app.core.ingest.mapping import KEEP_OVERSIZED_BYTES, Message, Oversized

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CONTROL_OPCODES = (CLOSE, PING, PONG)
MAX_CONTROL_PAYLOAD = 125
PROTOCOL_ERROR, INVALID_DATA, MESSAGE_TOO_BIG = 1002, 1007, 1009
TEXT_FIN, BINARY_FIN = 0x81, 0x82  # FIN set, no RSV bits: a whole, uncompressed message in one frame
EMPTY_DEFLATE_BLOCK = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: removed by the sender, put back to inflate
DISCARD_STEP = 1 << 16  # inflating an oversized message to keep the shared window: this much output a step

Deliver = Callable[[Message | Oversized], bool]  # False: halt until resume()
Control = Callable[[bytes], bool]  # a whole control frame; False: the connection is closing, read no more
Fail = Callable[[int, str], None]


def decoded(payload: bytes | bytearray, text: bool) -> Message:
    """Text becomes str; invalid UTF-8 stays bytes (a dead letter, and the connection stays up)."""
    if text:
        try:
            return payload.decode()
        except UnicodeDecodeError:
            pass
    return bytes(payload)


class Inflater:
    """permessage-deflate as negotiated (RFC 7692): the server's window bits and whether each message starts
    from an empty window (no context takeover), else one window shared by the whole connection."""

    def __init__(self, window_bits: int, no_context_takeover: bool) -> None:
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self._shared = None if no_context_takeover else zlib.decompressobj(wbits=-window_bits)

    def start(self) -> zlib._Decompress:
        return self._shared or zlib.decompressobj(wbits=-self.window_bits)


class FrameReader:
    def __init__(self, limit: int, deliver: Deliver, control: Control, fail: Fail,
                 inflater: Inflater | None = None) -> None:
        self.limit = limit
        self._keep = min(limit, KEEP_OVERSIZED_BYTES)  # of an oversized message, as mapping.cut_oversized keeps
        self._deliver = deliver
        self._control = control
        self._fail = fail
        self._inflater = inflater
        self._buffer = bytearray()  # received, not yet parsed
        self.halted = False  # deliver returned False: parsing waits for resume()
        self.closed = False  # a close frame went to `control`, or the connection failed: read no more
        # The frame whose payload is arriving: its opcode and FIN bit and how many payload bytes are still due.
        self._frame_opcode = 0
        self._frame_fin = False
        self._due = 0
        # The data message being assembled (its opcode is None between messages).
        self._message_opcode: int | None = None
        self._parts = bytearray()  # within the limit: all of it; over the limit: its first bytes
        self._size = 0  # real size so far (inflated size for a compressed message)
        self._over = False
        self._decompressor: zlib._Decompress | None = None  # a compressed message being inflated

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes | bytearray) -> None:
        if self.closed:
            return
        self._buffer += data
        if not self.halted:
            self._parse()

    def deliver_to(self, deliver: Deliver) -> None:
        """Deliver to `deliver` from the next read on (the read being parsed keeps its target)."""
        self._deliver = deliver

    def resume(self) -> None:
        self.halted = False
        if not self.closed:
            self._parse()

    # -- parsing ----------------------------------------------------------------------------------------------

    def _parse(self) -> None:
        buffer = self._buffer
        end = len(buffer)
        position = 0
        deliver = self._deliver
        limit = self.limit
        while not self.halted and not self.closed:
            if self._due:  # the rest of a data frame's payload, as much as has arrived
                take = min(self._due, end - position)
                if take == 0:
                    break
                self._payload(buffer[position:position + take])
                position += take
                self._due -= take
                if self._due == 0:
                    self._frame_done()
                continue
            if end - position < 2:
                break
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            start = position + 2
            if length == 126:
                start += 2
                if start > end:
                    break
                length = int.from_bytes(buffer[position + 2:start], "big")
            elif length == 127:
                start += 8
                if start > end:
                    break
                length = int.from_bytes(buffer[position + 2:start], "big")
            stop = start + length
            # The common case, inline: a whole, unmasked, uncompressed message in one frame, all arrived.
            if first in (TEXT_FIN, BINARY_FIN) and second < 0x80 and stop <= end \
                    and length <= limit and self._message_opcode is None:
                position = stop
                if not deliver(decoded(buffer[start:stop], first == TEXT_FIN)):
                    self.halted = True
                continue
            error = self._check_header(first, second)
            if error:
                self._failed(PROTOCOL_ERROR, error)
                break
            opcode = first & 0x0F
            if opcode in CONTROL_OPCODES:
                if length > MAX_CONTROL_PAYLOAD:
                    self._failed(PROTOCOL_ERROR, "control frame too long")
                    break
                if stop > end:
                    break  # at most 139 bytes wait for the rest
                raw = bytes(buffer[position:stop])
                payload = raw[start - position:]
                position = stop
                self._control_frame(opcode, raw, payload)
                continue
            position = start
            self._frame_start(first, length)
            if length == 0:
                self._frame_done()
        del buffer[:position]

    def _check_header(self, first: int, second: int) -> str | None:
        """What RFC 6455 (and RFC 7692) forbid in a frame from a server, as websockets words it."""
        opcode = first & 0x0F
        if opcode not in (CONT, TEXT, BINARY, CLOSE, PING, PONG):
            return "invalid opcode"
        if second & 0x80:
            return "incorrect masking"
        if first & 0x30:
            return "reserved bits must be 0"
        if opcode in CONTROL_OPCODES:
            if first & 0x40:
                return "reserved bits must be 0"
            if not first & 0x80:
                return "fragmented control frame"
            return None
        if opcode == CONT:
            if self._message_opcode is None:
                return "unexpected continuation frame"
            if first & 0x40:
                return "RSV1 bit set in continuation frame" if self._compressed else "reserved bits must be 0"
            return None
        if self._message_opcode is not None:
            return "expected a continuation frame"
        if first & 0x40 and self._inflater is None:
            return "reserved bits must be 0"
        return None

    def _control_frame(self, opcode: int, raw: bytes, payload: bytes) -> None:
        if opcode == CLOSE and self._message_opcode is not None:
            # websockets parses the close frame first: a malformed one fails for that reason.
            self._failed(self._close_payload_error(payload) or PROTOCOL_ERROR, "incomplete fragmented message")
            return
        if opcode == CLOSE:
            self.closed = True  # RFC 6455 1.4: what follows a close frame is discarded
        if not self._control(raw):
            self.closed = True

    @staticmethod
    def _close_payload_error(payload: bytes) -> int | None:
        from websockets.exceptions import ProtocolError
        from websockets.frames import Close

        try:
            Close.parse(payload)
        except UnicodeDecodeError:
            return INVALID_DATA
        except ProtocolError:
            return PROTOCOL_ERROR
        return None

    def _failed(self, code: int, reason: str) -> None:
        self.closed = True
        self._buffer.clear()
        self._fail(code, reason)

    # -- data frames ------------------------------------------------------------------------------------------

    _compressed = False

    def _frame_start(self, first: int, length: int) -> None:
        opcode = first & 0x0F
        self._frame_fin = bool(first & 0x80)
        self._due = length
        if opcode != CONT:
            self._message_opcode = opcode
            self._parts = bytearray()
            self._size = 0
            self._over = False
            self._compressed = bool(first & 0x40)
            self._decompressor = self._inflater.start() if self._compressed else None  # type: ignore[union-attr]

    def _payload(self, piece: bytes | bytearray) -> None:
        if self._compressed:
            self._inflate(piece)
            return
        self._size += len(piece)
        if not self._over:
            self._parts += piece
            if len(self._parts) > self.limit:
                self._go_over()
        elif len(self._parts) < self._keep:
            self._parts += piece[:self._keep - len(self._parts)]

    def _inflate(self, piece: bytes | bytearray) -> None:
        decompressor = self._decompressor
        if decompressor is None:
            return  # over the limit, and each message has its own window: the rest is not needed
        try:
            if not self._over:
                output = decompressor.decompress(piece, self.limit + 1 - len(self._parts))
                self._parts += output
                self._size += len(output)
                if len(self._parts) > self.limit or decompressor.unconsumed_tail:
                    self._go_over()
                    piece = decompressor.unconsumed_tail
                    if self._decompressor is None:
                        return
                else:
                    return
            # Over the limit with a window shared across messages: inflate to keep it, a step at a time.
            while piece:
                self._size += len(decompressor.decompress(piece, DISCARD_STEP))
                piece = decompressor.unconsumed_tail
        except zlib.error:
            self._failed(PROTOCOL_ERROR, "decompression failed")

    def _go_over(self) -> None:
        self._over = True
        del self._parts[self._keep:]
        if self._compressed and self._inflater is not None and self._inflater.no_context_takeover:
            self._decompressor = None

    def _frame_done(self) -> None:
        if not self._frame_fin or self.closed:
            return
        if self._decompressor is not None:
            self._inflate(EMPTY_DEFLATE_BLOCK)
            if self.closed:
                return
        opcode, parts = self._message_opcode, self._parts
        self._message_opcode = None
        self._parts = bytearray()
        self._decompressor = None
        if self._over:
            message: Message | Oversized = Oversized(bytes(parts), self._size)
        else:
            message = decoded(parts, opcode == TEXT)
        if not self._deliver(message):
            self.halted = True
