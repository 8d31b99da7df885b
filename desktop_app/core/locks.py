"""Who holds a lock on a file: read from /proc/locks (Linux), so 'database is locked' can name the culprit."""

from __future__ import annotations

import os
from pathlib import Path


def lock_holders(path: Path | str) -> list[tuple[int, str]]:
    """(pid, command name) of other processes holding POSIX/OFD locks on `path` or its -shm/-wal files."""
    inodes = set()
    for candidate in (Path(path), Path(f"{path}-shm"), Path(f"{path}-wal")):
        try:
            st = candidate.stat()
        except OSError:
            continue
        inodes.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    holders: dict[int, str] = {}
    for line in lines:
        parsed = _parse_lock_line(line)
        if parsed is None:
            continue
        pid, inode_key = parsed
        if inode_key in inodes and pid != os.getpid() and pid > 0:
            holders[pid] = _process_name(pid)
    return sorted(holders.items())


def _parse_lock_line(line: str) -> tuple[int, tuple[int, int, int]] | None:
    # "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 1073741824 1073741824"
    fields = line.replace("->", "").split()
    try:
        pid = int(fields[4])
        major, minor, inode = fields[5].split(":")
        return pid, (int(major, 16), int(minor, 16), int(inode))
    except (IndexError, ValueError):
        return None


def _process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
