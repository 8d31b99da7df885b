"""Who holds a lock on a file: read from /proc/locks (Linux), so 'database is locked' can name the culprit
and a pinned WAL snapshot can be traced to the process that holds it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# wal-index lock bytes in the -shm (unix VFS: 120 + SQLite's lock index): WAL_WRITE_LOCK at 120, CKPT 121,
# RECOVER 122, WAL_READ_LOCK(i) at 123 + i for read-mark slot i (0..4; held SHARED for the whole of a read
# transaction), DMS at 128 (held SHARED by every open connection, idle or not).
SHM_WRITE_LOCK_BYTE = 120
SHM_READ_LOCK_FIRST_BYTE = 123
SHM_READ_SLOTS = 5
SHM_DMS_BYTE = 128
# Rollback mode locks bytes of the database file from PENDING_BYTE (2**30): PENDING, RESERVED, then SHARED.
PENDING_BYTE = 0x40000000
RESERVED_BYTE = PENDING_BYTE + 1
SHARED_FIRST_BYTE = PENDING_BYTE + 2


@dataclass(frozen=True)
class FileLock:
    pid: int
    kind: str  # POSIX, OFDLCK, FLOCK
    access: str  # READ or WRITE
    start: int
    end: int | None  # None: to the end of the file ("EOF")

    def covers(self, byte: int) -> bool:
        return self.start <= byte and (self.end is None or byte <= self.end)


def file_locks(path: Path | str) -> list[FileLock]:
    """Every lock /proc/locks lists on the file at `path` (any process); [] when unknown."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    key = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parsed = _parse_lock_line(line)
        if parsed is not None and parsed[0] == key:
            found.append(parsed[1])
    return found


def read_lock_holders(shm_path: Path | str) -> list[tuple[int, int]]:
    """(pid, slot) of every process in a read transaction on this -shm, hence holding a snapshot: it holds
    WAL_READ_LOCK(slot) SHARED until the transaction ends. /proc/locks merges a process's adjacent ranges,
    so one line may cover several slots and the DMS byte. A WRITE lock there is a writer or checkpointer
    updating the read mark for a moment, not a snapshot."""
    held: set[tuple[int, int]] = set()
    for lock in file_locks(shm_path):
        if lock.access != "READ" or lock.pid <= 0:
            continue
        held.update((lock.pid, slot) for slot in range(SHM_READ_SLOTS) if lock.covers(SHM_READ_LOCK_FIRST_BYTE + slot))
    return sorted(held)


def lock_holders(path: Path | str) -> list[tuple[int, str]]:
    """(pid, command name) of other processes holding POSIX/OFD locks on `path` or its -shm/-wal files."""
    real = Path(path).resolve()
    holders: dict[int, str] = {}
    for candidate in (real, Path(f"{real}-shm"), Path(f"{real}-wal")):
        for lock in file_locks(candidate):
            if lock.pid != os.getpid() and lock.pid > 0:
                holders[lock.pid] = process_name(lock.pid)
    return sorted(holders.items())


def lock_holders_by_role(path: Path | str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(writers, readers): other processes holding locks on `path` or its -shm, each as (pid, command name).
    A writer holds the WAL write lock (or, in rollback mode, RESERVED/PENDING/EXCLUSIVE); the rest read."""
    real = Path(path).resolve()
    roles: dict[int, str] = {}
    for candidate, is_shm in ((real, False), (Path(f"{real}-shm"), True)):
        for lock in file_locks(candidate):
            if lock.pid <= 0 or lock.pid == os.getpid():
                continue
            if is_shm:
                writes = lock.access == "WRITE" and lock.covers(SHM_WRITE_LOCK_BYTE)
            else:
                writes = lock.covers(RESERVED_BYTE) or (lock.access == "WRITE" and lock.covers(SHARED_FIRST_BYTE))
            if writes:
                roles[lock.pid] = "writer"
            else:
                roles.setdefault(lock.pid, "reader")
    writers = sorted((pid, process_name(pid)) for pid, role in roles.items() if role == "writer")
    readers = sorted((pid, process_name(pid)) for pid, role in roles.items() if role == "reader")
    return writers, readers


def describe_writers(path: Path | str) -> str:
    """' (writing: process 1234 python3; also open in 2 reading processes)' or ''."""
    writers, readers = lock_holders_by_role(path)
    parts = []
    if writers:
        parts.append("writing: " + ", ".join(f"process {pid} {name}".strip() for pid, name in writers))
    if readers:
        parts.append(f"also open in {len(readers)} reading process{'es' if len(readers) != 1 else ''}")
    return f" ({'; '.join(parts)})" if parts else ""


def _parse_lock_line(line: str) -> tuple[tuple[int, int, int], FileLock] | None:
    # "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 1073741824 1073741824"  ("-> " marks a blocked waiter)
    if "->" in line:
        return None
    fields = line.split()
    try:
        kind, access, pid = fields[1], fields[3], int(fields[4])
        major, minor, inode = fields[5].split(":")
        start = int(fields[6])
        end = None if fields[7] == "EOF" else int(fields[7])
    except (IndexError, ValueError):
        return None
    return (int(major, 16), int(minor, 16), int(inode)), FileLock(pid, kind, access, start, end)


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
