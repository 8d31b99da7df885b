"""The generated COPY encoder packs rows holding NULLs inline: the same bytes as value-by-value `row()`, for
every column type, with every mix of NULLs and values (a differential test of the two paths)."""

from __future__ import annotations

import random

from desktop_app.core.postgres.copyformat import ENCODERS, RowEncoder

SAMPLES: dict[str, list[object]] = {
    "INTEGER": [0, -5, 2**62], "REAL": [0.5, -1e300, 3.0], "TEXT": ["", "héllo", "a" * 300], "ANY": ["x", "ü"],
    "BLOB": [b"", b"\x00\xff"], "NUMERIC": [12, 12.34, -0.5], "BOOLEAN": [0, 1],
    "DATE": ["2024-02-29"], "TIMESTAMP": ["2024-01-02 10:11:12.5", "2024-01-02"], "TIMESTAMPTZ": ["2024-01-02T10:00Z"],
}


def test_rows_with_nulls_are_packed_as_row_by_row_packs_them() -> None:
    assert set(SAMPLES) == set(ENCODERS)
    rng = random.Random(5)
    kinds = list(SAMPLES)
    for _ in range(200):
        types = [rng.choice(kinds) for _ in range(rng.randint(1, 8))]
        encoder = RowEncoder(types, [f"c{i}" for i in range(len(types))])
        rows = [tuple(None if rng.random() < 0.3 else rng.choice(SAMPLES[kind]) for kind in types) for _ in range(20)]
        lines, refused = encoder.lines(rows)
        assert refused == {}
        assert lines == [encoder.row(row) for row in rows], types


def test_a_null_row_among_fast_ones_still_names_a_bad_value() -> None:
    encoder = RowEncoder(["INTEGER", "TEXT"], ["n", "t"])
    lines, refused = encoder.lines([(1, None), (None, "a"), ("x", None)])
    assert lines[:2] == [encoder.row((1, None)), encoder.row((None, "a"))] and lines[2] is None
    assert refused == {2: "'x' is not an integer (column n)"}
