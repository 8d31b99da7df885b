"""NDJSON (one object a line) and JSON array files as records: keys are columns, nested values JSON text.

NDJSON streams line by line. A JSON array has to be parsed whole (orjson), so arrays up to
MAX_ARRAY_BYTES are read and larger ones are refused with the way out (NDJSON, `jq -c '.[]'`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from desktop_app.core.errors import ImportFailed

MAX_ARRAY_BYTES = 128 * 1024 * 1024


def first_char(sample: bytes) -> str:
    """The first character that is not white space or a byte order mark ('' for an empty file)."""
    text = sample.removeprefix(b"\xef\xbb\xbf").lstrip()
    return chr(text[0]) if text else ""


def ndjson_records(source: BinaryIO) -> Iterator[tuple[int, dict, int]]:
    """(line number, object, bytes read) for each non-blank line of an NDJSON file (UTF-8, as JSON is)."""
    done = 0
    for line_number, line in enumerate(source, start=1):
        done += len(line)
        if line_number == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ImportFailed(f"Line {line_number} is not valid JSON: {exc.msg}.") from exc
        if not isinstance(record, dict):
            raise ImportFailed(f"Line {line_number} is a JSON {_kind(record)}, not an object: each line must be one object.")
        yield line_number, record, done


def array_records(path: Path, size: int) -> Iterator[tuple[int, dict, int]]:
    """(record number, object, bytes as far as its share) for each element of a JSON array file, parsed whole."""
    if size > MAX_ARRAY_BYTES:
        raise ImportFailed(
            f"{path.name} is a JSON array of {size / 2**20:,.0f} MiB; arrays are read whole, up to "
            f"{MAX_ARRAY_BYTES >> 20} MiB. Convert it to NDJSON, one object a line (jq -c '.[]' {path.name}), "
            "which is imported as it is read."
        )
    try:
        data = orjson.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise ImportFailed(f"{path.name} is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if not isinstance(data, list):
        raise ImportFailed(f"{path.name} holds one JSON {_kind(data)}: an array of objects or one object a line is imported.")
    for number, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise ImportFailed(f"Record {number} of the array is a JSON {_kind(record)}, not an object.")
        yield number, record, size * number // len(data)


def cell(value: object) -> object:
    """A JSON value as SQLite stores it: objects and arrays as JSON text, booleans as 1/0."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return int(value)
    return value


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
