"""Write activity between two metric samples: WAL frames per second, or commits per second.

In WAL mode every commit appends frames, and `mxFrame` in the -shm header counts the frames of the current
WAL generation; in rollback-journal modes the header's file change counter goes up by one per commit.
Both come from any writer, ours or another process's, which is how external writes are seen. The sampler
reads both through SQLite: this module opens no file.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_app.core.metrics import Sample


@dataclass(frozen=True)
class Activity:
    unit: str  # "WAL frames/s" or "commits/s"
    per_second: float


class ActivityMeter:
    """Feed it samples in order; it returns the write rate since the previous one."""

    def __init__(self) -> None:
        self._previous: Sample | None = None
        self._previous_counter: int | None = None

    def update(self, sample: Sample, change_counter: int | None = None) -> Activity:
        """`change_counter` defaults to the one the sampler read through SQLite (`Sample.change_counter`)."""
        if change_counter is None:
            change_counter = sample.change_counter
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
