"""Write activity between two metric samples: WAL frames per second, or commits per second.

In WAL mode every commit appends frames, and `mxFrame` in the -shm header counts the frames of the current
WAL generation; in rollback-journal modes the header's file change counter goes up by one per commit.
Both come from any writer, ours or another process's, which is how external writes are seen.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from desktop_app.core.metrics import Sample

CHANGE_COUNTER_OFFSET = 24


@dataclass(frozen=True)
class Activity:
    unit: str  # "WAL frames/s" or "commits/s"
    per_second: float


def read_change_counter(path: Path) -> int | None:
    """The file change counter from the database header (bumped by every commit in rollback mode)."""
    try:
        with path.open("rb") as handle:
            handle.seek(CHANGE_COUNTER_OFFSET)
            raw = handle.read(4)
    except OSError:
        return None
    return struct.unpack(">I", raw)[0] if len(raw) == 4 else None


class ActivityMeter:
    """Feed it samples in order; it returns the write rate since the previous one."""

    def __init__(self) -> None:
        self._previous: Sample | None = None
        self._previous_counter: int | None = None

    def update(self, sample: Sample, change_counter: int | None) -> Activity:
        previous, previous_counter = self._previous, self._previous_counter
        self._previous, self._previous_counter = sample, change_counter
        wal = sample.journal_mode == "wal"
        unit = "WAL frames/s" if wal else "commits/s"
        if previous is None:
            return Activity(unit, 0.0)
        elapsed = sample.monotonic - previous.monotonic
        if elapsed <= 0:
            return Activity(unit, 0.0)
        if wal:
            frames = sample.wal_live_frames
            restarted = sample.wal_restarted or frames < previous.wal_live_frames
            delta = frames if restarted else frames - previous.wal_live_frames
        elif change_counter is not None and previous_counter is not None:
            delta = (change_counter - previous_counter) % 2**32
        else:
            delta = 1 if sample.external_write else 0
        return Activity(unit, delta / elapsed)
