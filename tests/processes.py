"""Child processes as /proc shows them: for tests that check nothing is left running."""

from __future__ import annotations

import os


def _state_and_parent(pid: int | str) -> tuple[str, int]:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return fields[0], int(fields[1])


def children_of(pid: int) -> list[int]:
    """Live (not zombie) child processes of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            state, parent = _state_and_parent(entry)
        except OSError:
            continue
        if parent == pid and state != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        return _state_and_parent(pid)[0] != "Z"
    except OSError:
        return False
