"""The ingest's frame reader against websockets' own Sans-I/O parser, byte for byte.

Seeded random server streams (every opcode, fragmentation with pings inside, non-minimal 16- and 64-bit
lengths, masks and RSV bits where they are forbidden, invalid UTF-8, close codes and reasons, bytes after the
close, permessage-deflate with and without context takeover, corrupt deflate data) are split at random points
and fed to `FrameReader` (with control frames handed to a websockets `Protocol`, as the connection does) and
to websockets' `Protocol` alone. Both must deliver the same messages in the same order, answer with the same
pongs and close with the same code. Within the limits, so no message is over the reader's limit.

SQLITE_PULSE_FUZZ_SECONDS=600 runs the same comparison for that long instead of the suite's fixed cases.
"""

from __future__ import annotations

import os
import random
import struct
import time
import zlib
from dataclasses import dataclass, field

import pytest
import websockets
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from desktop_app.core.ingest.frames import FrameReader, Inflater, decoded

SUITE_CASES = 3000
LIMIT = 1 << 20


def test_websockets_is_the_version_this_reader_was_proven_against() -> None:
    """The connection relies on these websockets internals; a release that moves them must fail here first."""
    major = int(websockets.__version__.split(".")[0])
    assert major == 17, websockets.__version__  # the range pyproject.toml pins
    protocol = Protocol(Side.CLIENT, state=State.OPEN, max_size=125)
    for attribute in ("fail", "parser_exc", "close_rcvd", "close_sent", "extensions", "state", "receive_data",
                      "data_to_send", "events_received"):
        assert hasattr(protocol, attribute), attribute
    extension = PerMessageDeflate(False, False, 15, 15)
    assert hasattr(extension, "remote_no_context_takeover") and hasattr(extension, "remote_max_window_bits")


# -- building server streams ----------------------------------------------------------------------------------


def header(first: int, length: int, rng: random.Random, *, masked: bool = False) -> bytes:
    mask_bit = 0x80 if masked else 0
    form = rng.choice((0, 0, 0, 1, 2)) if length < 126 else (1 if length < 1 << 16 else 2)
    if length >= 126 and length < 1 << 16 and rng.random() < 0.2:
        form = 2  # a non-minimal 64-bit length
    if form == 0:
        return bytes((first, mask_bit | length))
    if form == 1:
        return bytes((first, mask_bit | 126)) + struct.pack("!H", length)
    return bytes((first, mask_bit | 127)) + struct.pack("!Q", length)


def encoded(first: int, payload: bytes, rng: random.Random, *, masked: bool = False) -> bytes:
    if masked:
        key = rng.randbytes(4)
        payload = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
        return header(first, len(payload), rng, masked=True) + key + payload
    return header(first, len(payload), rng) + payload


def payload(rng: random.Random) -> bytes:
    kind = rng.random()
    size = rng.choice((0, 1, 5, 40, 125, 126, 300, 2043, 2044, 5000, 70000))
    if kind < 0.5:
        text = "".join(rng.choice("abcdé€😀{}\":, 0123") for _ in range(max(0, size // 2)))
        return text.encode()
    if kind < 0.6:
        return b'{"bad": "\xff\xfe"}'  # not UTF-8
    return rng.randbytes(size)


@dataclass
class Deflater:
    no_context_takeover: bool
    window_bits: int
    _shared: object = field(default=None)

    def compress(self, data: bytes) -> bytes:
        if self.no_context_takeover or self._shared is None:
            compressor = zlib.compressobj(wbits=-self.window_bits)
            if not self.no_context_takeover:
                self._shared = compressor
        else:
            compressor = self._shared
        body = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert body.endswith(b"\x00\x00\xff\xff")
        return body[:-4]


def control(opcode: int, rng: random.Random) -> bytes:
    data = rng.randbytes(rng.choice((0, 3, 125)))
    return encoded(0x80 | opcode, data, rng)


def chunks(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(set(rng.sample(range(1, len(data)), min(len(data) - 1, rng.choice((1, 3, 20, 200)))))) \
        if len(data) > 1 else []
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def server_stream(rng: random.Random, deflater: Deflater | None) -> bytes:
    """A random sequence of frames a server might send, sometimes breaking the protocol or closing midway."""
    out = bytearray()
    for _ in range(rng.randint(1, 12)):
        choice = rng.random()
        if choice < 0.35:  # a whole message
            data = payload(rng)
            opcode = rng.choice((0x1, 0x2))
            if deflater and rng.random() < 0.5:
                out += encoded(0x80 | 0x40 | opcode, deflater.compress(data), rng)
            else:
                out += encoded(0x80 | opcode, data, rng)
        elif choice < 0.55:  # a fragmented message, perhaps compressed, with control frames inside
            data = payload(rng)
            opcode = rng.choice((0x1, 0x2))
            compress = bool(deflater) and rng.random() < 0.5
            body = deflater.compress(data) if compress else data
            pieces = chunks(body, rng)[: rng.randint(1, 5)]
            pieces[-1:] = [body[sum(len(p) for p in pieces[:-1]):]]
            for index, piece in enumerate(pieces):
                first = (0x80 if index == len(pieces) - 1 else 0) | (opcode if index == 0 else 0)
                if compress and index == 0:
                    first |= 0x40
                out += encoded(first, piece, rng)
                if rng.random() < 0.3:
                    out += control(rng.choice((0x9, 0xA)), rng)
        elif choice < 0.7:
            out += control(rng.choice((0x9, 0xA)), rng)
        elif choice < 0.8:  # a close frame, then perhaps more bytes that must be ignored
            code = rng.choice((1000, 1001, 1003, 1011, 3000, 4999, 999, 1005, 1016))
            reason = rng.choice((b"", b"bye", "\u00e9t\u00e9".encode(), b"\xff\xfe"))
            body = b"" if rng.random() < 0.1 else struct.pack("!H", code) + reason
            if rng.random() < 0.05:
                body = b"\x03"  # too short
            out += encoded(0x88, body, rng)
            if rng.random() < 0.5:
                out += encoded(0x81, b'{"after": "close"}', rng)
            break
        else:  # something RFC 6455 forbids
            breakage = rng.randrange(10)
            if breakage == 0:
                out += encoded(0x80 | rng.choice((3, 4, 5, 6, 7, 11, 12, 15)), b"x", rng)
            elif breakage == 1:
                out += encoded(0x81, b"masked", rng, masked=True)
            elif breakage == 2:
                out += encoded(0x81 | rng.choice((0x20, 0x10)), b"rsv", rng)
            elif breakage == 3:
                out += encoded(0xC1, b"rsv1" if deflater is None else b"\xff\xff\xff corrupt deflate", rng)
            elif breakage == 4:
                out += encoded(0x80, b"unexpected continuation", rng)
            elif breakage == 5:
                out += encoded(0x01, b"start", rng) + encoded(0x81, b"not a continuation", rng)
            elif breakage == 6:
                out += encoded(0x89, rng.randbytes(126), rng)  # control frame too long
            elif breakage == 7:
                out += encoded(0x09, b"fragmented ping", rng)
            elif breakage == 8:
                out += encoded(0x01, b"start", rng) + encoded(0x88, struct.pack("!H", 1000), rng)
            else:
                out += encoded(0x80 | 0x40 | 0x9, b"ping with rsv1", rng)
    return bytes(out)


# -- the two readers ------------------------------------------------------------------------------------------


def unmasked_frames(writes: list[bytes]) -> list[tuple[int, bytes]]:
    """The client's frames (masked), as (opcode, payload)."""
    data = b"".join(writes)
    frames, position = [], 0
    while position < len(data):
        first, second = data[position], data[position + 1]
        length, position = second & 0x7F, position + 2
        if length == 126:
            length, position = struct.unpack("!H", data[position:position + 2])[0], position + 2
        elif length == 127:
            length, position = struct.unpack("!Q", data[position:position + 8])[0], position + 8
        key, position = data[position:position + 4], position + 4
        body = bytes(b ^ key[i % 4] for i, b in enumerate(data[position:position + length]))
        position += length
        frames.append((first & 0x0F, body))
    return frames


def extension(deflater: Deflater | None) -> list:
    if deflater is None:
        return []
    return [PerMessageDeflate(deflater.no_context_takeover, False, deflater.window_bits, 15)]


def outcome(protocol: Protocol) -> tuple[object, ...]:
    sent = protocol.close_sent.code if protocol.close_sent is not None else None
    return (sent, protocol.state is State.OPEN)


def reference(pieces: list[bytes], deflater: Deflater | None) -> tuple[list[object], list, tuple]:
    protocol = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    protocol.extensions = extension(deflater)
    messages: list[object] = []
    writes: list[bytes] = []
    parts: list[Frame] = []
    for piece in pieces:
        protocol.receive_data(piece)
        for event in protocol.events_received():
            if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                parts.append(event)
                if event.fin:
                    messages.append(decoded(b"".join(p.data for p in parts), parts[0].opcode is Opcode.TEXT))
                    parts = []
        writes += protocol.data_to_send()
    return messages, unmasked_frames(writes), outcome(protocol)


def ours(pieces: list[bytes], deflater: Deflater | None) -> tuple[list[object], list, tuple]:
    protocol = Protocol(Side.CLIENT, state=State.OPEN, max_size=125)  # as the connection configures it
    protocol.extensions = extension(deflater)
    messages: list[object] = []

    def forward(frame: bytes) -> bool:
        protocol.receive_data(frame)
        protocol.events_received()
        return protocol.state is State.OPEN

    def fail(code: int, reason: str) -> None:
        protocol.fail(code, reason)

    inflater = Inflater(deflater.window_bits, deflater.no_context_takeover) if deflater else None
    reader = FrameReader(LIMIT, lambda message: messages.append(message) or True, forward, fail, inflater)
    for piece in pieces:
        reader.feed(piece)
    return messages, unmasked_frames(protocol.data_to_send()), outcome(protocol)


def compare(seed: int) -> None:
    rng = random.Random(seed)
    deflater = rng.choice((None, Deflater(True, rng.choice((9, 12, 15))), Deflater(False, 15)))
    stream = server_stream(rng, deflater)
    pieces = chunks(stream, rng)
    expected = reference(pieces, deflater)
    got = ours(pieces, deflater)
    assert got[0] == expected[0], f"seed {seed}: messages differ"
    assert got[1] == expected[1], f"seed {seed}: replies differ: {got[1]} vs {expected[1]}"
    assert got[2] == expected[2], f"seed {seed}: close differs: {got[2]} vs {expected[2]}"


def test_the_reader_agrees_with_websockets_on_thousands_of_seeded_streams() -> None:
    fuzz_seconds = float(os.environ.get("SQLITE_PULSE_FUZZ_SECONDS", "0"))
    if fuzz_seconds:
        deadline, seed = time.monotonic() + fuzz_seconds, random.randrange(1 << 30)
        while time.monotonic() < deadline:
            compare(seed)
            seed += 1
        return
    for seed in range(SUITE_CASES):
        compare(seed)


@pytest.mark.parametrize("code", [1000, 1002, 1007])
def test_the_fixed_breakages_close_with_websockets_codes(code: int) -> None:
    """A sanity check on the generator itself: the three close outcomes all occur in the suite's cases."""
    seen = set()
    for seed in range(SUITE_CASES // 3):
        rng = random.Random(seed)
        deflater = rng.choice((None, Deflater(True, rng.choice((9, 12, 15))), Deflater(False, 15)))
        seen.add(reference(chunks(server_stream(rng, deflater), rng), deflater)[2][0])
        if code in seen:
            return
    pytest.fail(f"no generated stream closes with {code}: {seen}")


@pytest.mark.parametrize("shape", ["one frame", "fragments", "compressed"])
@pytest.mark.parametrize("limit", [1000, 1 << 20])
def test_an_oversized_message_keeps_its_head_and_the_stream_goes_on(shape: str, limit: int) -> None:
    """Over the limit: the first min(limit, 64 KiB) bytes and the real size (the inflated size where inflating
    stopped, limit + 1, for a compressed one), then the next message as usual; fed a few bytes at a time."""
    from desktop_app.core.ingest.mapping import KEEP_OVERSIZED_BYTES, Oversized

    rng = random.Random(7)
    big = bytes(range(256)) * (3 * limit // 256 + 1)
    deflater = Deflater(True, 15) if shape == "compressed" else None
    if shape == "one frame":
        stream = encoded(0x82, big, rng)
    elif shape == "fragments":
        stream = encoded(0x02, big[:limit], rng) + encoded(0x89, b"ping", rng) + encoded(0x80, big[limit:], rng)
    else:
        stream = encoded(0xC2, deflater.compress(big), rng)  # type: ignore[union-attr]
    stream += encoded(0x81, b'{"next": 1}', rng)
    pieces = [stream[i:i + 4093] for i in range(0, len(stream), 4093)]
    messages: list[object] = []
    inflater = Inflater(15, True) if deflater else None
    reader = FrameReader(limit, lambda m: messages.append(m) or True, lambda _f: True,
                         lambda code, reason: pytest.fail(f"{code} {reason}"), inflater)
    for piece in pieces:
        reader.feed(piece)
        assert reader.buffered <= 4093 + 14  # never more than one read and a split header
    oversized, following = messages
    assert isinstance(oversized, Oversized) and following == '{"next": 1}'
    assert oversized.head == big[:min(limit, KEEP_OVERSIZED_BYTES)]
    assert oversized.size == (limit + 1 if shape == "compressed" else len(big))
