"""Just enough ELF reading (64-bit little-endian) for the bundle tools: section headers, DT_NEEDED, symbols."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SHT_DYNAMIC = 6
SHT_DYNSYM = 11
DT_NEEDED = 1
DT_SONAME = 14


@dataclass(frozen=True)
class Section:
    name_index: int
    kind: int
    address: int
    offset: int
    size: int
    link: int
    entry_size: int


def is_elf64_le(data: bytes) -> bool:
    return data[:4] == b"\x7fELF" and len(data) > 0x40 and data[4] == 2 and data[5] == 1


def sections(elf: bytes) -> list[Section]:
    if not is_elf64_le(elf):
        raise ValueError("not a 64-bit little-endian ELF file")
    (table_offset,) = struct.unpack_from("<Q", elf, 0x28)
    entry_size, count = struct.unpack_from("<HH", elf, 0x3A)
    found = []
    for index in range(count):
        name, kind, _flags, address, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", elf, table_offset + index * entry_size
        )
        found.append(Section(name, kind, address, offset, size, link, entsize))
    return found


def section_names(elf: bytes) -> list[str]:
    (names_index,) = struct.unpack_from("<H", elf, 0x3E)
    table = sections(elf)
    if not table or names_index >= len(table):
        return []
    return [_string(elf, table[names_index], section.name_index) for section in table]


def has_debug_info(path: Path) -> bool:
    """True when the file carries DWARF debug sections (a Python built from source keeps them)."""
    elf = path.read_bytes()
    return is_elf64_le(elf) and any(name.startswith(".debug_") for name in section_names(elf))


def _string(elf: bytes, table: Section, index: int) -> str:
    start = table.offset + index
    return elf[start : elf.index(b"\0", start)].decode("utf-8", "replace")


def _dynamic_strings(elf: bytes, wanted_tag: int) -> list[str]:
    table = sections(elf)
    found = []
    for section in table:
        if section.kind != SHT_DYNAMIC:
            continue
        strings = table[section.link]
        for position in range(section.offset, section.offset + section.size, 16):
            tag, value = struct.unpack_from("<qQ", elf, position)
            if tag == wanted_tag:
                found.append(_string(elf, strings, value))
    return found


def needed_libraries(path: Path) -> list[str]:
    """The DT_NEEDED names of a shared library or executable; [] for anything that is not 64-bit LE ELF."""
    elf = path.read_bytes()
    return _dynamic_strings(elf, DT_NEEDED) if is_elf64_le(elf) else []


def soname(path: Path) -> str | None:
    elf = path.read_bytes()
    names = _dynamic_strings(elf, DT_SONAME) if is_elf64_le(elf) else []
    return names[0] if names else None


@dataclass(frozen=True)
class Symbol:
    name: str
    file_offset: int
    size: int


def dynamic_symbols(elf: bytes) -> Iterator[Symbol]:
    """Defined symbols of the dynamic symbol table, with the file offset of their data."""
    table = sections(elf)
    for section in table:
        if section.kind != SHT_DYNSYM:
            continue
        strings = table[section.link]
        for position in range(section.offset, section.offset + section.size, section.entry_size):
            name_index, _info, _other, section_index, value, size = struct.unpack_from("<IBBHQQ", elf, position)
            if section_index == 0 or section_index >= len(table):
                continue  # undefined or special (absolute, common)
            holder = table[section_index]
            yield Symbol(_string(elf, strings, name_index), holder.offset + (value - holder.address), size)
