"""Write a result grid to CSV or JSON (runs on the task pool, never on the GUI thread)."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Sequence
from pathlib import Path


def export_csv(path: Path, columns: Sequence[str], rows: Sequence[tuple]) -> int:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if value is None else _blob_text(value) for value in row])
    return len(rows)


def export_json(path: Path, columns: Sequence[str], rows: Sequence[tuple]) -> int:
    """An array of objects, one per row; BLOBs become base64 strings."""
    records = [{name: _json_value(value) for name, value in zip(columns, row, strict=False)} for row in rows]
    with path.open("w", encoding="utf-8") as handle:
        json.dump(records, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    return len(rows)


def _blob_text(value: object) -> object:
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


def _json_value(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None  # JSON has no NaN or infinity
    return value
