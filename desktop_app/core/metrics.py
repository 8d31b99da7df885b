"""Sample what is happening inside a database, cheaply: header pragmas, file sizes, the WAL and -shm headers.

One `MetricsSampler` keeps one read-only connection open for its lifetime (so watching a WAL database
does not checkpoint or delete its WAL when we would otherwise close the last connection) and never
leaves a read transaction open between samples (that would pin a snapshot and starve checkpoints).
No sample scans a table: the cost is the same for a 10 MB and a 10 GB file.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw

from desktop_app.core import errors
from desktop_app.core.database import connect_read, pragma

WAL_HEADER_SIZE = 32
WAL_FRAME_HEADER_SIZE = 24
WAL_MAGIC = (0x377F0682, 0x377F0683)
SHM_MX_FRAME_OFFSET = 16  # wal-index header: mxFrame, native byte order
SHM_BACKFILL_OFFSET = 96  # checkpoint info: nBackfill, native byte order

FREELIST_FLAG_PERCENT = 20.0
FREELIST_FLAG_MIN_PAGES = 16
WAL_FLAG_FRAMES = 4000  # 4x the default auto-checkpoint: frames beyond this mean checkpoints are starved
WAL_GROWTH_SAMPLES = 5
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "davfs",
        "fuse.davfs2",
        "fuse.gcsfuse",
    }
)
ROLLBACK_JOURNAL_MODES = frozenset({"delete", "truncate", "persist"})


@dataclass(frozen=True)
class RedFlag:
    code: str
    message: str


@dataclass(frozen=True)
class WalHeader:
    page_size: int
    checkpoint_sequence: int
    salt: tuple[int, int]


@dataclass(frozen=True)
class Sample:
    taken_at: float  # time.time()
    monotonic: float  # time.monotonic(), for rates
    cost_ms: float  # how long this sample took
    page_size: int
    page_count: int
    freelist_count: int
    freelist_percent: float
    db_bytes: int
    wal_bytes: int
    wal_frames: (
        int  # frames the WAL file has room for: (wal_bytes - 32) / (page_size + 24), stale ones included
    )
    wal_live_frames: int  # mxFrame from the -shm index: frames in the current WAL generation
    wal_backfilled_frames: int  # nBackfill: frames already copied into the database by checkpoints
    wal_restarted: bool  # the WAL salt changed since the previous sample: the WAL was reset and reused
    checkpoint_sequence: int | None
    data_version: int
    external_write: bool  # another connection committed since the previous sample
    journal_mode: str
    synchronous: int
    auto_vacuum: int
    wal_autocheckpoint: int
    red_flags: list[RedFlag] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def read_wal_header(wal_path: Path) -> WalHeader | None:
    try:
        with wal_path.open("rb") as handle:
            raw = handle.read(WAL_HEADER_SIZE)
    except OSError:
        return None
    if len(raw) < WAL_HEADER_SIZE:
        return None
    magic, _version, page_size, sequence, salt1, salt2 = struct.unpack(">6I", raw[:24])
    if magic not in WAL_MAGIC:
        return None
    return WalHeader(page_size=page_size, checkpoint_sequence=sequence, salt=(salt1, salt2))


def read_shm_counters(shm_path: Path) -> tuple[int, int]:
    """(mxFrame, nBackfill) from the wal-index; (0, 0) when there is no -shm yet."""
    try:
        with shm_path.open("rb") as handle:
            raw = handle.read(SHM_BACKFILL_OFFSET + 4)
    except OSError:
        return 0, 0
    if len(raw) < SHM_BACKFILL_OFFSET + 4:
        return 0, 0
    order = "<" if sys.byteorder == "little" else ">"
    (mx_frame,) = struct.unpack_from(order + "I", raw, SHM_MX_FRAME_OFFSET)
    (backfill,) = struct.unpack_from(order + "I", raw, SHM_BACKFILL_OFFSET)
    return mx_frame, backfill


def filesystem_type(path: Path, mounts_table: str | None = None) -> str | None:
    """The type of the filesystem holding `path`, from /proc/mounts (longest matching mount point)."""
    if mounts_table is None:
        try:
            mounts_table = Path("/proc/mounts").read_text()
        except OSError:
            return None
    mounts = mounts_table.splitlines()
    resolved = str(path.resolve())
    best, best_type = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace("\\040", " ")
        inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > len(best):
            best, best_type = mount_point, parts[2]
    return best_type


class MetricsSampler:
    """Samples one database. Use from a single thread; call `close()` when done."""

    def __init__(self, path: Path | str, *, wal_flag_frames: int = WAL_FLAG_FRAMES) -> None:
        self.path = Path(path)
        self.wal_flag_frames = wal_flag_frames
        self.wal_path = Path(f"{self.path}-wal")
        self.shm_path = Path(f"{self.path}-shm")
        self._connection: apsw.Connection | None = connect_read(self.path, busy_timeout_ms=200)
        self._previous: Sample | None = None
        self._previous_salt: tuple[int, int] | None = None
        self._live_frames_history: deque[int] = deque(maxlen=WAL_GROWTH_SAMPLES)
        self._writes_seen = False
        self._network_fs = filesystem_type(self.path) in NETWORK_FILESYSTEMS

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> MetricsSampler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def sample(self) -> Sample:
        if self._connection is None:
            raise RuntimeError("sampler is closed")
        started = time.perf_counter()
        connection = self._connection
        try:
            # Each pragma runs in its own autocommit statement: no read transaction outlives this call.
            page_size = int(pragma(connection, "page_size"))
            page_count = int(pragma(connection, "page_count"))
            freelist_count = int(pragma(connection, "freelist_count"))
            data_version = int(pragma(connection, "data_version"))
            journal_mode = str(pragma(connection, "journal_mode")).lower()
            synchronous = int(pragma(connection, "synchronous"))
            auto_vacuum = int(pragma(connection, "auto_vacuum"))
            wal_autocheckpoint = int(pragma(connection, "wal_autocheckpoint"))
        except apsw.Error as exc:
            raise errors.translate(exc, self.path) from exc
        db_bytes = _size(self.path)
        wal_bytes = _size(self.wal_path)
        header = read_wal_header(self.wal_path) if wal_bytes else None
        wal_frames = (
            max(0, (wal_bytes - WAL_HEADER_SIZE) // (page_size + WAL_FRAME_HEADER_SIZE)) if wal_bytes else 0
        )
        live_frames, backfilled = read_shm_counters(self.shm_path) if journal_mode == "wal" else (0, 0)
        salt = header.salt if header else None
        restarted = salt is not None and self._previous_salt is not None and salt != self._previous_salt
        previous = self._previous
        external_write = previous is not None and data_version != previous.data_version
        self._writes_seen = self._writes_seen or external_write
        self._live_frames_history.append(live_frames)

        sample = Sample(
            taken_at=time.time(),
            monotonic=time.monotonic(),
            cost_ms=0.0,
            page_size=page_size,
            page_count=page_count,
            freelist_count=freelist_count,
            freelist_percent=round(100.0 * freelist_count / page_count, 2) if page_count else 0.0,
            db_bytes=db_bytes,
            wal_bytes=wal_bytes,
            wal_frames=wal_frames,
            wal_live_frames=live_frames,
            wal_backfilled_frames=backfilled,
            wal_restarted=restarted,
            checkpoint_sequence=header.checkpoint_sequence if header else None,
            data_version=data_version,
            external_write=external_write,
            journal_mode=journal_mode,
            synchronous=synchronous,
            auto_vacuum=auto_vacuum,
            wal_autocheckpoint=wal_autocheckpoint,
        )
        sample.red_flags.extend(self._red_flags(sample))
        if salt is not None:
            self._previous_salt = salt
        self._previous = sample
        cost_ms = (time.perf_counter() - started) * 1000.0
        object.__setattr__(sample, "cost_ms", round(cost_ms, 3))
        return sample

    def note_own_writes(self) -> None:
        """Tell the sampler that this app wrote to the database (our writer's commits do change data_version)."""
        self._writes_seen = True

    def _red_flags(self, sample: Sample) -> list[RedFlag]:
        flags: list[RedFlag] = []
        limit = self.wal_flag_frames
        history = list(self._live_frames_history)
        growing = (
            len(history) >= 2
            and all(b >= a for a, b in zip(history, history[1:], strict=False))
            and history[-1] > history[0]
        )
        if sample.journal_mode == "wal" and sample.wal_live_frames > limit:
            megabytes = sample.wal_live_frames * (sample.page_size + WAL_FRAME_HEADER_SIZE) / 1e6
            trend = " and still growing" if growing else ""
            flags.append(
                RedFlag(
                    "wal_unbounded",
                    f"The WAL holds {sample.wal_live_frames:,} frames ({megabytes:,.1f} MB){trend}: checkpoints are not "
                    "keeping up, usually because a long-running reader pins an old snapshot. Close idle readers, "
                    "then run a checkpoint.",
                )
            )
        if sample.page_count >= FREELIST_FLAG_MIN_PAGES and sample.freelist_percent > FREELIST_FLAG_PERCENT:
            flags.append(
                RedFlag(
                    "freelist_high",
                    f"{sample.freelist_percent:.0f}% of pages are free ({sample.freelist_count:,} of {sample.page_count:,}):"
                    " the file is larger than its data. VACUUM reclaims the space.",
                )
            )
        if sample.journal_mode in ROLLBACK_JOURNAL_MODES and self._writes_seen:
            flags.append(
                RedFlag(
                    "rollback_journal_writes",
                    f"journal_mode={sample.journal_mode.upper()} on a database that is being written: readers and the "
                    "writer block each other. WAL mode (PRAGMA journal_mode=WAL) lets them run together.",
                )
            )
        if self._network_fs:
            flags.append(
                RedFlag(
                    "network_filesystem",
                    "The database is on a network filesystem: file locking there is unreliable and can corrupt a "
                    "database with concurrent writers. Keep it on a local disk.",
                )
            )
        return flags


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
