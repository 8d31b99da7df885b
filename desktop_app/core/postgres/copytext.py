"""Values -> PostgreSQL COPY text format, per column type, in plain Python (no C extension needed).

psycopg's own `Copy.write_row` adapts each value through its dumpers; without psycopg's C speedups (which
we leave out of the bundle) that costs several microseconds per value. Building COPY's text ourselves is a
few string operations per value, and the server still checks every value against the column's type.

Conversions follow what a STRICT SQLite column of the same ingest type would accept, so a stream lands
with the same rows in either sink: a bool is 1/0, a float with no fraction fits an integer column, an
object or array in a text column is compact JSON; anything else is left for the server to refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Ingest column types (mapping.COLUMN_TYPES) -> PostgreSQL types. ANY keeps a value's text: PostgreSQL has no
# per-row typed column, and text is what a dashboard or psql shows anyway.
PG_TYPES = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text", "BLOB": "bytea", "ANY": "text"}


class Unencodable(ValueError):
    """A value this column type cannot hold (an object in a numeric column): the row is a dead letter."""


def _text(value: object) -> str:
    cls = value.__class__
    if cls is str:
        return value.translate(_ESCAPES)  # type: ignore[union-attr]
    if cls is bool:
        return "1" if value else "0"
    if cls is int:
        return str(value)
    if cls is float:
        return repr(value)
    if cls is dict or cls is list:
        return json.dumps(value, separators=(",", ":")).translate(_ESCAPES)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    raise Unencodable(f"a {cls.__name__} cannot be stored")


def _integer(value: object) -> str:
    cls = value.__class__
    if cls is int:
        return str(value)
    if cls is bool:
        return "1" if value else "0"
    if cls is float and value.is_integer():  # type: ignore[union-attr]
        return str(int(value))  # type: ignore[arg-type]
    if cls is str and value.strip().lstrip("+-").isdigit():  # type: ignore[union-attr]
        return value.strip()  # type: ignore[union-attr]
    raise Unencodable(f"{_show(value)} is not an integer")


def _real(value: object) -> str:
    cls = value.__class__
    if cls is float:
        return repr(value)
    if cls is int:
        return str(value)
    if cls is bool:
        return "1" if value else "0"
    if cls is str:
        try:
            float(value)  # type: ignore[arg-type]
        except ValueError:
            raise Unencodable(f"{_show(value)} is not a number") from None
        return value.strip()  # type: ignore[union-attr]  # odd spellings ('1_0') are still the server's to refuse
    raise Unencodable(f"{_show(value)} is not a number")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _blob(value: object) -> str:
    if value.__class__ is str:
        return "\\\\x" + value.encode("utf-8").hex()  # type: ignore[union-attr]
    return _text(value)


ENCODERS: dict[str, Callable[[object], str]] = {
    "INTEGER": _integer, "REAL": _real, "TEXT": _text, "BLOB": _blob, "ANY": _text,
}


def _none_or(encode: Callable[[object], str]) -> Callable[[object], str]:
    return lambda value: NULL if value is None else encode(value)


# Per type: the expression for a value `v` of the common Python type, inlined into the generated loop, and
# the function that handles everything else (None, other types, refusals). See RowEncoder.
_FAST = {
    "INTEGER": ("{v} if {v}.__class__ is int else I({v})", _none_or(_integer)),
    "REAL": ("repr({v}) if {v}.__class__ is float else R({v})", _none_or(_real)),
    # str.translate costs ~5x four `in` tests; most text has nothing to escape.
    "TEXT": ("(({v}.translate(E) if BS in {v} or TAB in {v} or LF in {v} or CR in {v} else {v}) "
             "if {v}.__class__ is str else T({v}))", _none_or(_text)),
    "BLOB": ("B({v})", _none_or(_blob)),
}
_FAST["ANY"] = _FAST["TEXT"]


class RowEncoder:
    """Encodes rows for one table's columns into COPY text lines.

    `lines(rows)` runs a loop generated for the table's column types (one f-string per row, the common
    type of each column inlined), which encodes ~4x faster than a call per value; a batch holding a value
    it cannot take falls back to `line()` per row, which says which value and why."""

    def __init__(self, types: Sequence[str], names: Sequence[str]) -> None:
        self.types = [kind.upper() if kind.upper() in _FAST else "TEXT" for kind in types]
        self.encoders = [ENCODERS[kind] for kind in self.types]
        self.names = list(names)
        values = [f"v{index}" for index in range(len(self.types))]
        fields = "\\t".join("{" + _FAST[kind][0].format(v=value) + "}" for kind, value in zip(self.types, values, strict=True))
        unpack = ", ".join(values) + ("," if len(values) == 1 else "")
        source = (
            "def encode_all(rows):\n"
            "    out = []\n"
            "    append = out.append\n"
            f"    for {unpack} in rows:\n"
            f'        append(f"{fields}\\n")\n'
            "    return out\n"
        )
        namespace = {"E": _ESCAPES, "BS": "\\", "TAB": "\t", "LF": "\n", "CR": "\r", "I": _FAST["INTEGER"][1], "R": _FAST["REAL"][1], "T": _FAST["TEXT"][1],
                     "B": _FAST["BLOB"][1]}
        exec(compile(source, f"<copy encoder {', '.join(self.types)}>", "exec"), namespace)  # noqa: S102
        self._encode_all = namespace["encode_all"]

    def line(self, row: Sequence[object]) -> str:
        out = []
        for index, (encode, value) in enumerate(zip(self.encoders, row, strict=True)):
            if value is None:
                out.append(NULL)
                continue
            try:
                out.append(encode(value))
            except Unencodable as exc:
                raise Unencodable(f"{exc} (column {self.names[index]})") from None
        return "\t".join(out) + "\n"

    def lines(self, rows: Sequence[Sequence[object]]) -> tuple[list[str | None], dict[int, str]]:
        """(one COPY line per row, None where the row cannot be encoded; {row index: why not})."""
        try:
            return self._encode_all(rows), {}
        except Unencodable:
            pass
        out: list[str | None] = []
        refused: dict[int, str] = {}
        line = self.line
        for index, row in enumerate(rows):
            try:
                out.append(line(row))
            except Unencodable as exc:
                out.append(None)
                refused[index] = str(exc)
        return out, refused
