"""Values as people look at them and copy them: the cell viewer's description, and TSV / CSV / JSON text.

Copying follows the export's encoding (core/export.py) so a pasted cell and an exported one agree: NULL is
an empty field (JSON `null`), a BLOB is base64 text, a NaN or infinity is JSON `null`. TSV is what
spreadsheets paste: tab-separated, a field with a tab, newline or quote is quoted as in CSV.
"""

from __future__ import annotations

import binascii
import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

HEX_DUMP_BYTES = 64 * 1024  # a hex dump of more is unreadable anyway; the viewer says how much is shown
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
GIF_MAGIC = (b"GIF87a", b"GIF89a")


def blob_text(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def short_float(value: float) -> str:
    """A REAL as a grid shows it: at most 15 significant digits, all a double holds exactly, so a sum's
    binary noise goes (1261.3999999999999 shows as 1261.4); a whole number keeps its `.0` (it is not an
    INTEGER). The cell viewer, copies and exports keep `repr`, the exact value."""
    text = f"{value:.15g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


def json_keys(columns: Sequence[str]) -> list[str]:
    """Column names as JSON object keys: a repeated name gets `:2`, `:3` … so no value overwrites another."""
    seen: dict[str, int] = {}
    keys = []
    for name in columns:
        count = seen.get(name, 0) + 1
        seen[name] = count
        keys.append(name if count == 1 else f"{name}:{count}")
    return keys


@dataclass(frozen=True)
class ValueView:
    """What the cell viewer shows for one value."""

    kind: str  # "null", "integer", "real", "text", "json", "blob", "image"
    summary: str  # "TEXT · 12,345 characters", "BLOB · 2,048 bytes · PNG image"
    text: str  # the text to show (pretty JSON, the full text, the number; "" for a BLOB)
    hex: str = ""  # a BLOB's hex dump (the first HEX_DUMP_BYTES)
    image_format: str = ""  # "PNG" / "JPEG" / "GIF" when the BLOB starts like one


def describe(value: object) -> ValueView:
    if value is None:
        return ValueView("null", "NULL", "")
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return ValueView("integer", "INTEGER", str(value))
    if isinstance(value, float):
        return ValueView("real", "REAL", repr(value))
    if isinstance(value, bytes):
        image = image_format(value)
        summary = f"BLOB · {len(value):,} bytes" + (f" · {image} image" if image else "")
        if len(value) > HEX_DUMP_BYTES:
            summary += f" · hex of the first {HEX_DUMP_BYTES:,} bytes"
        return ValueView("image" if image else "blob", summary, "", hex_dump(value[:HEX_DUMP_BYTES]), image)
    text = str(value)
    pretty = pretty_json(text)
    lines = text.count("\n") + 1
    size = f"{len(text):,} characters" + (f" · {lines:,} lines" if lines > 1 else "")
    if pretty is not None:
        return ValueView("json", f"TEXT · JSON · {size}", pretty)
    return ValueView("text", f"TEXT · {size}", text)


def pretty_json(text: str) -> str | None:
    """`text` indented when it is a JSON object or array (a bare number or string is not worth it)."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return json.dumps(parsed, indent=2, ensure_ascii=False)


def image_format(data: bytes) -> str:
    if data.startswith(PNG_MAGIC):
        return "PNG"
    if data.startswith(JPEG_MAGIC):
        return "JPEG"
    if data.startswith(GIF_MAGIC):
        return "GIF"
    return ""


def hex_dump(data: bytes) -> str:
    """16 bytes a line: offset, hex, printable ASCII."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{byte:02x}" for byte in chunk)
        text = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {text}")
    return "\n".join(lines)


# Copying ------------------------------------------------------------------------------------------------
def _field(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return blob_text(value)
    if isinstance(value, float):
        return repr(value)
    return value


def to_tsv(columns: Sequence[str], rows: Sequence[Sequence[object]], *, header: bool = False) -> str:
    return _delimited(columns, rows, "\t", header)


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[object]], *, header: bool = True) -> str:
    return _delimited(columns, rows, ",", header)


def _delimited(columns: Sequence[str], rows: Sequence[Sequence[object]], delimiter: str, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([_field(value) for value in row])
    text = out.getvalue()
    return text[:-1] if text.endswith("\n") else text  # one cell pastes as a value, not a line


def to_json(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An array of objects, one per row (repeated column names get a suffix, as in the export)."""
    keys = json_keys(columns)
    records = [dict(zip(keys, (_json_value(v) for v in row), strict=False)) for row in rows]
    return orjson.dumps(records, option=orjson.OPT_INDENT_2).decode("utf-8")


def _json_value(value: object) -> object:
    if isinstance(value, bytes):
        return blob_text(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
