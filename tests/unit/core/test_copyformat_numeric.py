"""The binary numeric of copyformat against psycopg's own Decimal dumper (a differential test), and booleans."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from psycopg.types.numeric import DecimalBinaryDumper

from desktop_app.core.postgres.copyformat import RowEncoder, Unencodable

DUMPER = DecimalBinaryDumper(Decimal)


def field(value: object) -> bytes:
    row = RowEncoder(["NUMERIC"], ["n"]).row([value])
    return row[2 + 4:]  # after the field count and the field length


@pytest.mark.parametrize("text", ["0", "12", "-12.5", "12.34", "10000", "0.0001", "1E-7", "1.5E+20", "-0.00",
                                  "123456789.123456789", "0.30000000000000004", "99999999.99", "1.50", "100"])
def test_numeric_text_is_packed_as_psycopg_packs_it(text: str) -> None:
    assert field(text) == bytes(DUMPER.dump(Decimal(text)))


def test_numbers_of_any_size_and_sign_match_psycopg() -> None:
    rng = random.Random(20)
    for _ in range(2000):
        number = rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-12, 20),
                             rng.randint(-(1 << 63), (1 << 63) - 1)])
        assert field(number) == bytes(DUMPER.dump(Decimal(repr(number)))), number


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", "1.2.3", "", b"1"])
def test_what_is_not_a_number_is_refused(value: object) -> None:
    with pytest.raises(Unencodable):
        field(value)


def test_booleans_are_zero_and_one_only() -> None:
    encoder = RowEncoder(["BOOLEAN"], ["b"])
    assert encoder.row([1])[2:] == b"\x00\x00\x00\x01\x01" and encoder.row([False])[2:] == b"\x00\x00\x00\x01\x00"
    lines, refused = encoder.lines([(1,), (2,), (None,)])
    assert lines[0] is not None and lines[1] is None and lines[2] is not None
    assert refused == {1: "2 is not 0 or 1 (column b)"}


def test_the_fast_loop_packs_numeric_and_boolean_rows_as_the_row_by_row_path_does() -> None:
    encoder = RowEncoder(["INTEGER", "NUMERIC", "TEXT", "BOOLEAN", "NUMERIC", "REAL"], list("abcdef"))
    rows = [(1, 12.34, "x", 1, 7, 0.5), (2, -3, "y", 0, 1e-9, 1.5), (3, None, "z", None, 2.5, None),
            (4, float("nan"), "w", 1, 1, 2.0), (5, 1, "v", 2, 1, 2.0)]
    lines, refused = encoder.lines(rows)
    assert refused == {3: "nan is not a finite number (column b)", 4: "2 is not 0 or 1 (column d)"}
    assert lines[:3] == [encoder.row(row) for row in rows[:3]] and lines[3:] == [None, None]
    fast, _ = encoder.lines(rows[:2])  # all of the usual classes: the generated loop
    assert fast == [encoder.row(row) for row in rows[:2]]
