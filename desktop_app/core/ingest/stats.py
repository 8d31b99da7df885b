"""The counters of one ingest, as the session reports them (and as the worker sends them as JSON)."""

from __future__ import annotations

import resource
from dataclasses import asdict, dataclass, fields
from typing import Any

from desktop_app.core.ingest.mapping import BAD_FIELD_NAME, DEAD_LETTER_TABLE, UNKNOWN_FIELD


@dataclass(frozen=True)
class IngestStats:
    received: int
    written: int
    dead_letters: int
    reconnects: int  # connections re-established after the first
    gaps: int  # sequence-number gaps seen (each may span several numbers: see `missing`)
    queue_depth: int  # received, not yet committed
    batches: int
    rows_per_s: float  # written / seconds since the first message (to the final commit once stopped)
    state: str  # "connecting" | "connected" | "backoff" | "paused" | "stopped"
    next_retry_in: float | None  # seconds until the next connection attempt, in "backoff"
    pause_reason: str | None  # why the writer is paused (locked database, full disk)
    last_error: str | None  # the current problem; cleared when the source or the writer recovers
    seconds: float  # since run() started
    missing: int = 0  # sequence numbers never seen (a dead letter whose number can be read is not missing)
    seq_resets: int = 0  # times the sequence numbering went backwards (the source restarted)
    unwritten: int = 0  # given up on: fatal database error, flush deadline, second interrupt
    retry_attempts: int = 0  # failed connection attempts since the last connection (shown while retrying)
    recent_rows_per_s: float = 0.0  # over the last two seconds
    last_commit_ms: float = 0.0
    mean_commit_ms: float = 0.0
    max_commit_ms: float = 0.0
    journal_mode: str | None = None
    compression: str | None = None  # as negotiated with the server on the current/last connection
    queue_bytes: int = 0  # bytes of messages received and not yet committed
    peak_rss_mb: float = 0.0  # of this process
    duplicates: int = 0  # skipped for a key already in the table (--dedupe-key): neither written nor dead
    redelivered: int = 0  # messages the broker flagged as sent again (MQTT): without a key, possible duplicates
    trimmed: int = 0  # rows retention deleted from the table (written - trimmed = rows this run left in it)
    trimmed_dead_letters: int = 0  # dead letters retention deleted
    sink_reconnects: int = 0  # connections to the target's server made again after a loss (PostgreSQL)
    last_dead_letter_reason: str | None = None  # the reason of the latest committed dead letter

    def describe_state(self) -> str:
        """The run's state in words, as the window's Ingest panel and `ingest`'s progress line show it.

        While retrying, the attempt named is the next one: after two failed attempts, "attempt 3"."""
        state = self.state
        if state == "backoff" and self.next_retry_in is not None:
            attempt = f" (attempt {self.retry_attempts + 1})" if self.retry_attempts else ""
            return f"backoff — reconnecting in {self.next_retry_in:.1f} s{attempt}"
        if state == "connected" and self.compression:
            return f"connected ({self.compression} compression)"
        if state == "paused" and self.pause_reason:
            return f"paused — {self.pause_reason}"
        return state

    def all_dead_letters_warning(self) -> str | None:
        """Once a batch has committed, when every message so far became a dead letter (the stream does not
        fit the table, most often): the words `ingest` prints once and the Ingest panel shows."""
        if self.written or self.duplicates or not self.dead_letters or not self.batches:
            return None
        reason = self.last_dead_letter_reason or "no reason recorded"
        why = f"the latest: {reason}"
        if reason.startswith((UNKNOWN_FIELD, BAD_FIELD_NAME)):
            why = f"the messages' keys do not fit the table's columns ({reason})"
        return (f"every message so far went to dead letters ({self.dead_letters:,}): {why} — see the dead "
                f"letters ({DEAD_LETTER_TABLE}) for each one's reason.")

    def progress_line(self) -> str:
        """One line of counters and the state (`ingest` prints it while running)."""
        return (
            f"received {self.received:,}  written {self.written:,}  dead {self.dead_letters:,}  "
            f"gaps {self.gaps}  reconnects {self.reconnects}  {self.recent_rows_per_s:,.0f} rows/s  "
            f"{self.describe_state()}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestStats:
        """Tolerant of fields added or removed between versions (a worker of another build)."""
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def initial(cls, state: str = "connecting") -> IngestStats:
        return cls(
            received=0, written=0, dead_letters=0, reconnects=0, gaps=0, queue_depth=0, batches=0, rows_per_s=0.0,
            state=state, next_retry_in=None, pause_reason=None, last_error=None, seconds=0.0,
        )


def peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a
    child started by a big parent would report the parent's peak. ru_maxrss (KiB) where /proc is absent."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)  # "VmHWM:  123456 kB"
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
