"""Which text encoding a file to import is in: a byte order mark says so; else UTF-8 if its first bytes decode
as UTF-8; else Windows-1252, else Latin-1 (which decodes anything). What was chosen is reported, never silent."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.errors import ImportFailed

SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Encoding:
    codec: str  # for open(): utf-8-sig skips a BOM
    label: str  # what the user is told

    @property
    def is_utf8(self) -> bool:
        return self.codec in ("utf-8", "utf-8-sig")


def read_sample(path: Path, size: int = SAMPLE_BYTES) -> bytes:
    """The first `size` bytes of a file to import (never a database: those are SQLite's to open)."""
    try:
        with path.open("rb") as source:
            return source.read(size)
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def detect_encoding(sample: bytes) -> Encoding:
    if sample.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "UTF-8 with BOM")
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", "UTF-16")
    bomless = _utf16_without_bom(sample)
    if bomless:
        return Encoding(bomless, f"UTF-16 {bomless[-2:].upper()} (no byte order mark)")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)  # a character cut at the end is fine
        return Encoding("utf-8", "UTF-8")
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return Encoding("cp1252", "Windows-1252 (the file is not UTF-8)")
    except UnicodeDecodeError:
        return Encoding("latin-1", "Latin-1 (the file is not UTF-8)")


def _utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the sample reads as mostly-Latin UTF-16 written without a byte order
    mark (every other byte NUL, the others not), as some exporters write it; else None."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    for codec, nuls, text in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if nuls.count(0) >= 0.9 * len(nuls) and text.count(0) <= 0.1 * len(text):
            try:
                codecs.getincrementaldecoder(codec)().decode(sample, final=False)
            except UnicodeDecodeError:
                return None
            return codec
    return None


def chosen_encoding(name: str, sample: bytes) -> Encoding:
    """The encoding the user named, checked; UTF-8 skips a BOM when the file has one."""
    try:
        codec = codecs.lookup(name).name
    except LookupError as exc:
        raise ImportFailed(f"Unknown text encoding {name!r} (try utf-8, utf-16, cp1252 or latin-1).") from exc
    if codec == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    return Encoding(codec, f"{name} (as asked)")
