"""Shrink Qt's ICU data library (libicudata, ~31 MiB) to the parts a Qt Widgets app uses (~10 MiB).

Qt Core links ICU for collation, case mapping, normalisation and locale data. The data library also carries
legacy character-set converters, localised names of units, currencies, languages, regions and time zones,
transliteration rules and word-break dictionaries for CJK/Thai/Khmer/Lao/Burmese; Qt keeps its own tables for
locales, text layout and encodings, so those items are dead weight in the bundle. ICU reports a missing item as
a missing resource and falls back (e.g. to root data), so trimming cannot crash the app.

The library is one exported symbol (icudtNN_dat) holding an ICU "common data" package: a header, a table of
contents sorted by item name, then 16-byte aligned items. This module rewrites that package without the
dropped items and links a new library with the same soname using binutils (`as`, `ld`), which PyInstaller
needs on Linux anyway.

    python packaging/icu_trim.py <libicudata.so.NN> <output.so>
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from elf_info import Symbol, dynamic_symbols, soname  # noqa: E402

# Item name patterns (after the "icudtNNl/" prefix) that a Qt Widgets app never reads.
DROPPED_ITEMS = (
    re.compile(r"^[^/]+\.cnv$"),  # legacy converters: Qt decodes UTF-8/16 itself
    re.compile(r"^(unit|curr|lang|region|zone|translit|rbnf)/"),  # localised display names, spell-out rules
    re.compile(r"^brkitr/.+\.dict$"),  # dictionary word breaking for scripts without spaces
)
ALIGNMENT = 16


@dataclass(frozen=True)
class Package:
    header: bytes  # MappedData + UDataInfo + copyright, copied verbatim
    items: dict[str, bytes]  # full item name ("icudt73l/coll/root.res") -> bytes including trailing padding


def find_data_symbol(elf: bytes) -> Symbol:
    """Locate icudtNN_dat, the one exported symbol of an ICU data library."""
    for symbol in dynamic_symbols(elf):
        if re.fullmatch(r"icudt\d+_dat", symbol.name):
            return symbol
    raise ValueError("no icudtNN_dat symbol: not an ICU data library")


def parse_package(blob: bytes) -> Package:
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD":
        raise ValueError("not an ICU common data package")
    toc = blob[header_size:]
    count, = struct.unpack_from("<I", toc, 0)
    entries = [struct.unpack_from("<II", toc, 4 + 8 * index) for index in range(count)]
    # Items are not stored in table order: each one ends where the next one in file order starts.
    starts = sorted(data_offset for _name_offset, data_offset in entries)
    end_of = dict(zip(starts, starts[1:] + [len(toc)], strict=True))
    items: dict[str, bytes] = {}
    for name_offset, data_offset in entries:
        name = toc[name_offset : toc.index(b"\0", name_offset)].decode("ascii")
        items[name] = toc[data_offset : end_of[data_offset]]
    return Package(blob[:header_size], items)


def build_package(package: Package) -> bytes:
    """Serialise a package: ICU binary-searches the table of contents, so names go in byte order."""
    names = sorted(package.items, key=lambda name: name.encode("ascii"))
    count = len(names)
    names_start = 4 + 8 * count
    name_blob = b"".join(name.encode("ascii") + b"\0" for name in names)
    data_start = names_start + len(name_blob)
    data_start += -data_start % ALIGNMENT
    entries, data = [], bytearray()
    name_offset = names_start
    for name in names:
        item = package.items[name]
        entries.append(struct.pack("<II", name_offset, data_start + len(data)))
        name_offset += len(name) + 1
        data += item + b"\0" * (-len(item) % ALIGNMENT)
    toc = struct.pack("<I", count) + b"".join(entries) + name_blob
    toc += b"\0" * (data_start - len(toc))
    return package.header + toc + bytes(data)


# Within the dropped name categories, the English and root tables stay (with the shared string pool and the
# locale index): display names then fall back to English or a generic form like "GMT+01:00", never to nothing.
KEPT_FALLBACKS = re.compile(r"/(root|en|pool|res_index)\.res$")


def is_dropped(item_name: str) -> bool:
    relative = item_name.split("/", 1)[1] if "/" in item_name else item_name
    if KEPT_FALLBACKS.search(relative):
        return False
    return any(pattern.search(relative) for pattern in DROPPED_ITEMS)


def trim(package: Package) -> Package:
    return Package(package.header, {n: data for n, data in package.items.items() if not is_dropped(n)})


def link_data_library(package_bytes: bytes, symbol: str, soname: str, output: Path) -> None:
    """A shared library exporting `symbol` = the package bytes (16-byte aligned, read-only), with `soname`."""
    for tool in ("as", "ld"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} (binutils) is needed to rebuild the ICU data library")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "icu.dat").write_bytes(package_bytes)
        (work / "icu.s").write_text(
            "\n".join(
                [
                    '.section .rodata,"a"',
                    f".globl {symbol}",
                    f".type {symbol}, @object",
                    f".balign {ALIGNMENT}",
                    f"{symbol}:",
                    f'.incbin "{work / "icu.dat"}"',
                    f".size {symbol}, . - {symbol}",
                    '.section .note.GNU-stack,"",@progbits',
                    "",
                ]
            )
        )
        subprocess.run(["as", "-o", str(work / "icu.o"), str(work / "icu.s")], check=True)
        subprocess.run(
            ["ld", "-shared", "-soname", soname, "-z", "noexecstack", "-o", str(output), str(work / "icu.o")],
            check=True,
        )


def trim_library(source: Path, output: Path) -> tuple[int, int]:
    """Write a trimmed copy of an ICU data library; returns (bytes before, bytes after)."""
    elf = source.read_bytes()
    symbol = find_data_symbol(elf)
    package = parse_package(elf[symbol.file_offset : symbol.file_offset + symbol.size])
    link_data_library(build_package(trim(package)), symbol.name, soname(source) or source.name, output)
    return len(elf), output.stat().st_size


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: icu_trim.py <libicudata.so.NN> <output.so>", file=sys.stderr)
        return 2
    before, after = trim_library(Path(args[0]), Path(args[1]))
    print(f"icu_trim: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
