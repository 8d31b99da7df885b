"""Reading a recorded NDJSON file in bounded pieces gives the same messages as reading it whole, line by line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from desktop_app.core.ingest import file_source
from desktop_app.core.ingest.mapping import Oversized


def whole_lines(data: bytes, limit: int, keep: int) -> list:
    """The reference: every line held whole, then judged."""
    expected = []
    for line in data.split(b"\n"):
        line = line.removesuffix(b"\r")
        if len(line) > limit:
            expected.append(("oversized", line[:keep], len(line)))
        elif line.strip():
            try:
                expected.append(line.decode())
            except UnicodeDecodeError:
                expected.append(line)
    return expected


def as_comparable(messages: list) -> list:
    return [("oversized", m.head, m.size) if isinstance(m, Oversized) else m for m in messages]


@pytest.mark.parametrize("seed", range(30))
def test_bounded_reads_match_whole_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(file_source, "READ_BYTES", rng.choice([1, 2, 3, 7, 16, 64]))
    monkeypatch.setattr(file_source, "KEEP_OVERSIZED_BYTES", rng.choice([2, 5, 40]))
    limit = rng.choice([3, 10, 25, 100])
    alphabet = [b"a", b"{", b'"', b" ", b"\r", b"\n", b"\r\n", b"\xff", "é".encode()]
    data = b"".join(rng.choice(alphabet) * rng.choice([1, 1, 1, 5, 40]) for _ in range(rng.randint(0, 120)))
    path = tmp_path / "rec.ndjson"
    path.write_bytes(data)
    keep = min(limit, file_source.KEEP_OVERSIZED_BYTES)
    assert as_comparable(list(file_source.read_ndjson(path, limit))) == whole_lines(data, limit, keep)
