"""CSV and TSV files: the delimiter and the header guessed from a sample, rows streamed with their line numbers.

Rows come from Python's csv module (RFC 4180 quoting, fields over several lines) over the file opened as text
in the detected encoding, read as needed: memory stays flat whatever the file's size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from desktop_app.core.errors import ImportFailed
from desktop_app.core.importer.columns import INTEGER_TEXT, REAL_TEXT, text_type
from desktop_app.core.importer.encoding import Encoding

DELIMITERS = ",;\t|"
SNIFF_CHARS = 64 * 1024
SNIFF_LINES = 50
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
csv.field_size_limit(256 * 1024 * 1024)  # a long text cell is data, not an error (the default is 128 KiB)


def open_text(path: Path, encoding: Encoding) -> io.TextIOWrapper:
    """The file as text for the csv module (newline='' as it requires)."""
    try:
        return io.TextIOWrapper(path.open("rb"), encoding=encoding.codec, newline="")
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def detect_delimiter(sample: str) -> str:
    """Among , ; tab |: the one found the same number of times on the most lines (the most fields on a tie),
    csv.Sniffer's choice when it is as steady (it knows quoting), else comma."""
    lines = [line for line in sample.splitlines()[:SNIFF_LINES] if line.strip()]
    complete = "\n".join(lines) + "\n"  # csv.Sniffer's cost grows with every line it is given

    def steadiness(delimiter: str) -> tuple[int, int]:
        """(lines with its usual count, that count); (0, 0) when it is absent."""
        counts = [line.count(delimiter) for line in lines]
        usual = max(set(counts), key=lambda count: (counts.count(count), count)) if counts else 0
        return (counts.count(usual), usual) if usual else (0, 0)

    best = max(DELIMITERS, key=steadiness)
    try:
        sniffed = csv.Sniffer().sniff(complete, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed in DELIMITERS and steadiness(sniffed) >= steadiness(best):
        return sniffed
    return best if steadiness(best)[1] else ","


def looks_like_header(rows: list[list[str]]) -> bool:
    """A first row of distinct, non-empty names, none a number. Most CSV files have one, so a file whose
    columns are all text is taken to have one too (the dialog and --no-header say otherwise)."""
    if not rows:
        return False
    first = [value.strip() for value in rows[0]]
    if any(not value for value in first) or len({value.lower() for value in first}) < len(first):
        return False
    return not any(INTEGER_TEXT.fullmatch(value) or REAL_TEXT.fullmatch(value) for value in first)


def sample_rows(text: io.TextIOWrapper, delimiter: str, limit: int) -> list[list[str]]:
    """Up to `limit` non-blank records from the start of the file."""
    rows: list[list[str]] = []
    reader = csv.reader(text, delimiter=delimiter, strict=True)  # as the import reads it
    try:
        for row in reader:
            if row:
                rows.append(row)
                if len(rows) >= limit:
                    break
    except csv.Error as exc:
        if not rows:
            raise ImportFailed(f"Line {max(reader.line_num, 1)} cannot be read: {exc}.") from exc
    except UnicodeDecodeError as exc:
        if not rows:
            raise undecodable(text, exc) from exc
    return rows


def undecodable(text: io.TextIOWrapper, error: UnicodeDecodeError) -> ImportFailed:
    """The error naming the line of the first byte that is not text in the file's encoding. The decoder
    works ahead of the csv reader (a chunk at a time), so the line is counted from the byte's offset."""
    source = cast(BinaryIO, text.buffer)
    offset = source.tell() - len(error.object) + error.start
    source.seek(0)
    line, read = 1, 0
    while read < offset and (chunk := source.read(min(1 << 20, offset - read))):
        line += chunk.count(b"\n")
        read += len(chunk)
    return ImportFailed(
        f"Line {line}: these bytes are not {text.encoding} text ({error.reason}); choose the file's encoding."
    )


def column_types(rows: list[list[str]], width: int) -> list[str]:
    return [text_type(row[index] for row in rows if index < len(row)) for index in range(width)]


class DelimitedRows:
    """The records after the header, each checked to have `width` fields; blank lines skipped. `line` is the
    line the last record read ended on, for errors raised while it is being inserted."""

    def __init__(self, text: io.TextIOWrapper, *, delimiter: str, header: bool, width: int) -> None:
        self._text = text
        self._reader = csv.reader(text, delimiter=delimiter, strict=True)
        self._header = header
        self._width = width

    @property
    def line(self) -> int:
        return self._reader.line_num

    def read(self, *, every: int, tick: Callable[[int], None]) -> Iterator[list[str]]:
        """The rows; `tick(rows)` after each `every` rows and at the end (it may raise to stop)."""
        reader, width, rows = self._reader, self._width, 0
        ended = 0  # the line the last record ended on: the next one starts after it
        try:
            if self._header:
                next((row for row in reader if row), None)
                ended = reader.line_num
            for row in reader:
                if len(row) != width:
                    if not row:
                        ended = reader.line_num
                        continue
                    raise ImportFailed(f"Line {reader.line_num}: expected {width} fields, got {len(row)}.")
                yield row
                ended = reader.line_num
                rows += 1
                if rows % every == 0:
                    tick(rows)
        except csv.Error as exc:
            if reader.dialect.strict and "unexpected end of data" in str(exc):  # a quote never closed
                raise ImportFailed(
                    f'Line {ended + 1}: the row starting here opens a quote (") that is never closed, so the rest '
                    f"of the file (to line {reader.line_num}) would be one field."
                ) from exc
            raise ImportFailed(f"Line {reader.line_num}: {exc}.") from exc
        except UnicodeDecodeError as exc:
            raise undecodable(self._text, exc) from exc
        tick(rows)
