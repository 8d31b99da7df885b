"""Sample what is happening inside a database, cheaply: header pragmas, file sizes, the WAL and -shm headers.

One `MetricsSampler` keeps one read-only connection open for its lifetime (so watching a WAL database
does not checkpoint or delete its WAL when we would otherwise close the last connection) and never
leaves a read transaction open between samples (that would pin a snapshot and starve checkpoints).
No sample scans a table: the cost is the same for a 10 MB and a 10 GB file.

SQLite's files are only read through SQLite: the database and WAL headers with `Connection.read`, and
the -shm counters through the descriptor SQLite itself holds (see `ShmCounters`). Opening and closing
any of them from Python would drop every POSIX lock this process holds on the file.

Other processes' read transactions are seen in every WAL sample, from the first: their read locks on the
-shm (/proc/locks) and their read marks (the -shm header), as `Sample.read_snapshots`, each timed from the
first sample that saw it.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apsw

from desktop_app.core import errors
from desktop_app.core.database import check_file, connect_read, pragma, pragma_int
from desktop_app.core.locks import SHM_READ_SLOTS, process_name, read_lock_holders

WAL_HEADER_SIZE = 32
WAL_FRAME_HEADER_SIZE = 24
WAL_MAGIC = (0x377F0682, 0x377F0683)
SHM_MX_FRAME_OFFSET = 16  # wal-index header: mxFrame, native byte order
SHM_BACKFILL_OFFSET = 96  # checkpoint info: nBackfill, native byte order
SHM_READ_MARKS_OFFSET = 100  # checkpoint info: aReadMark[0..4], the WAL frame each reader slot sees up to
SHM_HEADER_BYTES = SHM_READ_MARKS_OFFSET + 4 * SHM_READ_SLOTS

FREELIST_FLAG_PERCENT = 20.0
FREELIST_FLAG_MIN_PAGES = 16
WAL_FLAG_FRAMES = 4000  # 4x the default auto-checkpoint: frames beyond this mean checkpoints are starved
WAL_GROWTH_SAMPLES = 5
# The rollback-journal flag needs writes from others seen within this many seconds; it clears after.
WRITE_QUIET_SECONDS = 30.0
# After the app's own maintenance, a data_version change seen this soon is still the job's commit.
OWN_CHANGE_GRACE_SECONDS = 5.0
# A reader's snapshot that stops checkpoints is a red flag of its own once held this long (below the WAL
# flag's size); a short read transaction is normal and ends before then.
SNAPSHOT_FLAG_SECONDS = 5.0
HEADER_SIZE = 100
CHANGE_COUNTER_OFFSET = 24
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
    # Added fields keep defaults so older constructors still work.
    wal_pending_frames: int = 0  # mxFrame - nBackfill: frames a checkpoint has still to copy
    data_bytes: int = 0  # page_count * page_size: the database's size including what still sits in the WAL
    change_counter: int | None = None  # file change counter from the on-disk header (+1 per rollback commit)
    own_change: bool = False  # data_version moved, and the app said the change was its own maintenance
    read_snapshots: list[ReadSnapshot] = field(default_factory=list)  # open read transactions (WAL mode)
    red_flags: list[RedFlag] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_wal_header(raw: bytes) -> WalHeader | None:
    if len(raw) < WAL_HEADER_SIZE:
        return None
    magic, _version, page_size, sequence, salt1, salt2 = struct.unpack(">6I", raw[:24])
    if magic not in WAL_MAGIC:
        return None
    return WalHeader(page_size=page_size, checkpoint_sequence=sequence, salt=(salt1, salt2))


def read_wal_header(connection: apsw.Connection) -> WalHeader | None:
    """The WAL header, read through SQLite's own WAL handle; None when the WAL is empty or not open."""
    try:
        complete, raw = connection.read("main", 1, 0, WAL_HEADER_SIZE)
    except apsw.SQLError:  # no WAL open on this connection (not WAL mode, or nothing read yet)
        return None
    return parse_wal_header(raw) if complete else None


def read_change_counter(connection: apsw.Connection) -> int | None:
    """The file change counter from the database header, read through SQLite's own file handle."""
    try:
        complete, raw = connection.read("main", 0, 0, HEADER_SIZE)
    except apsw.SQLError:
        return None
    if not complete:
        return None
    return struct.unpack_from(">I", raw, CHANGE_COUNTER_OFFSET)[0]


@dataclass(frozen=True)
class ShmHeader:
    mx_frame: int = 0  # frames in the current WAL generation
    backfilled: int = 0  # nBackfill: frames checkpoints have copied into the database
    read_marks: tuple[int, ...] = (0,) * SHM_READ_SLOTS  # aReadMark[slot]; slot 0 reads the database alone


def parse_shm_header(raw: bytes) -> ShmHeader:
    """mxFrame, nBackfill and the read marks from the first bytes of a wal-index; zeros if too short."""
    if len(raw) < SHM_HEADER_BYTES:
        return ShmHeader()
    order = "<" if sys.byteorder == "little" else ">"
    (mx_frame,) = struct.unpack_from(order + "I", raw, SHM_MX_FRAME_OFFSET)
    (backfill,) = struct.unpack_from(order + "I", raw, SHM_BACKFILL_OFFSET)
    marks = struct.unpack_from(f"{order}{SHM_READ_SLOTS}I", raw, SHM_READ_MARKS_OFFSET)
    return ShmHeader(mx_frame, backfill, marks)


FD_DIRECTORIES = ("/proc/self/fd", "/dev/fd")


class ShmCounters:
    """Reads mxFrame, nBackfill and the read marks from a -shm, never opening or closing it (Linux, macOS).

    SQLite offers no call for these counters, and a Python `open()`/`close()` of the -shm would drop the
    POSIX locks SQLite holds on it. So this reads with `os.pread` through the descriptor SQLite itself
    keeps open for the -shm (found in /proc/self/fd by inode, re-checked with `fstat` before every read):
    no descriptor of ours exists, so there is nothing to close and no lifetime to get wrong. The owner
    must hold a WAL-mode SQLite connection to the file while it reads (the sampler does).

    Where descriptors cannot be listed (Windows, whose locks belong to a handle and are not dropped by
    closing another), it falls back to one read-only descriptor of its own, opened lazily, re-opened
    only when the -shm's inode changes, and closed by `close()`.
    """

    def __init__(self, shm_path: Path, *, borrow: bool | None = None) -> None:
        self.shm_path = shm_path
        directory = next((d for d in FD_DIRECTORIES if os.path.isdir(d)), None)
        self._fd_directory = directory if borrow is not False else None
        if borrow and directory is None:
            raise RuntimeError("this system cannot list open descriptors")
        self._fd: int | None = None  # borrowed (SQLite's) or owned, see _owned
        self._owned = False

    @property
    def borrowing(self) -> bool:
        return self._fd_directory is not None

    def read(self) -> tuple[int, int]:
        """(mxFrame, nBackfill)."""
        header = self.read_header()
        return header.mx_frame, header.backfilled

    def read_header(self) -> ShmHeader:
        try:
            target = os.stat(self.shm_path)
        except OSError:
            return ShmHeader()
        fd = self._descriptor(target)
        if fd is None:
            return ShmHeader()
        try:
            raw = os.pread(fd, SHM_HEADER_BYTES, 0)
        except OSError:
            return ShmHeader()
        return parse_shm_header(raw)

    def close(self) -> None:
        """Closes an owned descriptor (fallback only); call after the SQLite connection is closed."""
        if self._owned and self._fd is not None:
            os.close(self._fd)
        self._fd, self._owned = None, False

    def _descriptor(self, target: os.stat_result) -> int | None:
        if self._fd is not None and _same_file(self._fd, target):
            return self._fd
        if self._owned:
            self.close()  # the -shm was replaced: re-open below
        self._fd = None
        if self._fd_directory is not None:
            self._fd = self._find_sqlite_descriptor(target)
        else:
            self._fd, self._owned = os.open(self.shm_path, os.O_RDONLY), True
        return self._fd

    def _find_sqlite_descriptor(self, target: os.stat_result) -> int | None:
        assert self._fd_directory is not None
        try:
            names = os.listdir(self._fd_directory)
        except OSError:
            return None
        for name in names:
            if name.isdigit() and _same_file(int(name), target):
                return int(name)
        return None


def _same_file(fd: int, target: os.stat_result) -> bool:
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino)


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


@dataclass(frozen=True)
class ReadSnapshot:
    """A read transaction open in some process: it holds WAL read-mark `slot` (its lock in the -shm) and sees
    the WAL up to `frame` (slot 0: none of it, the database file alone). Checkpoints cannot copy past it."""

    pid: int
    name: str
    slot: int
    frame: int
    pinned_frames: int  # frames a checkpoint cannot copy while it lasts
    seconds: float  # since the first sample that saw it (it may be older than that)

    def describe(self) -> str:
        who = "this process" if self.pid == os.getpid() else "process"
        held = f"has held a read snapshot for {_seconds(self.seconds)}" if self.seconds >= 1 else "holds a read snapshot"
        return f"{who} {self.pid} {self.name}".rstrip() + " " + held


def _pinned_frames(slot: int, mark: int, shm: ShmHeader) -> int:
    """Frames a checkpoint cannot copy because of a reader on `slot`. A slot-0 reader reads the database file
    itself, so no checkpoint may write it (SQLite's checkpoint needs WAL_READ_LOCK(0) exclusively); a reader
    on another slot stops the copy at its mark. A mark of 0xFFFFFFFF (unused) is a slot being claimed."""
    pending = max(0, shm.mx_frame - shm.backfilled)
    if slot == 0:
        return pending
    return min(pending, max(0, shm.mx_frame - mark))


class MetricsSampler:
    """Samples one database. Use from a single thread; call `close()` when done.

    The sampler owns one read-only connection for its lifetime and reads SQLite's files only through
    SQLite (see the module docstring). With the descriptor fallback of `ShmCounters` (systems where open
    descriptors cannot be listed), closing the sampler closes one -shm descriptor: whoever owns other
    connections to the same file in this process must close them first (the session closes the sampler
    last). `own_changes()` (or `begin_own_change()`/`end_own_change()`, or `note_own_maintenance()`) tell
    it which data_version moves are the app's own maintenance, so they never raise a flag; any thread.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        wal_flag_frames: int = WAL_FLAG_FRAMES,
        write_quiet_seconds: float = WRITE_QUIET_SECONDS,
        borrow_shm_descriptor: bool | None = None,
    ) -> None:
        given = Path(path).expanduser().absolute()
        check_file(given)  # a FIFO or device is refused before anything tries to read it
        self.path = given.resolve()  # SQLite puts -wal and -shm beside the real file, not the symlink
        self.wal_flag_frames = wal_flag_frames
        self.write_quiet_seconds = write_quiet_seconds
        self.wal_path = Path(f"{self.path}-wal")
        self.shm_path = Path(f"{self.path}-shm")
        self._connection: apsw.Connection | None = connect_read(self.path, busy_timeout_ms=200)
        self._shm = ShmCounters(self.shm_path, borrow=borrow_shm_descriptor)
        self._previous: Sample | None = None
        self._previous_salt: tuple[int, int] | None = None
        self._pending_history: deque[int] = deque(maxlen=WAL_GROWTH_SAMPLES)
        self._last_write_at: float | None = None  # monotonic time of the last change not made by us
        # (pid, slot, read mark) -> monotonic time of the first sample that saw that snapshot
        self._snapshots_since: dict[tuple[int, int, int], float] = {}
        self._own_lock = threading.Lock()
        self._own_active = 0
        self._own_until: float | None = None  # monotonic deadline of a "the next change is ours" note
        self._network_fs = filesystem_type(self.path) in NETWORK_FILESYSTEMS

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._shm.close()  # after the connection: see the class docstring

    def __enter__(self) -> MetricsSampler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the app's own changes ---------------------------------------------------------------------

    def begin_own_change(self) -> None:
        """A maintenance job of this app starts writing (VACUUM, optimize, checkpoint ...). Any thread."""
        with self._own_lock:
            self._own_active += 1

    def end_own_change(self) -> None:
        """The job finished: a data_version change seen within the next few seconds is still the job's."""
        with self._own_lock:
            self._own_active = max(0, self._own_active - 1)
            self._own_until = time.monotonic() + OWN_CHANGE_GRACE_SECONDS

    @contextlib.contextmanager
    def own_changes(self) -> Iterator[None]:
        """`with sampler.own_changes(): vacuum(path)`: the job's commits never count as outside writes."""
        self.begin_own_change()
        try:
            yield
        finally:
            self.end_own_change()

    def note_own_maintenance(self) -> None:
        """The next data_version change (seen within a few seconds) is the app's own. Any thread."""
        with self._own_lock:
            self._own_until = time.monotonic() + OWN_CHANGE_GRACE_SECONDS

    def note_own_writes(self) -> None:
        """Our ingest is about to write here. Nothing to record: it commits through a connection of its own,
        so its commits move data_version like anyone's, when (and only if) they happen. Counting the start
        as a write raised the journal flag for an ingest that never connected."""

    def _is_own_change(self, changed: bool, now: float) -> bool:
        with self._own_lock:
            marked = self._own_until is not None and now <= self._own_until
            own = self._own_active > 0 or marked
            if (changed and marked) or (self._own_until is not None and now > self._own_until):
                self._own_until = None  # used up by this change, or expired
            return own

    # -- sampling --------------------------------------------------------------------------------

    def sample(self) -> Sample:
        if self._connection is None:
            raise RuntimeError("sampler is closed")
        started = time.perf_counter()
        connection = self._connection
        try:
            # Each pragma runs in its own autocommit statement: no read transaction outlives this call.
            page_size = pragma_int(connection, "page_size")
            page_count = pragma_int(connection, "page_count")
            freelist_count = pragma_int(connection, "freelist_count")
            data_version = pragma_int(connection, "data_version")
            journal_mode = str(pragma(connection, "journal_mode")).lower()
            synchronous = pragma_int(connection, "synchronous")
            auto_vacuum = pragma_int(connection, "auto_vacuum")
            wal_autocheckpoint = pragma_int(connection, "wal_autocheckpoint")
        except apsw.Error as exc:
            raise errors.translate(exc, self.path) from exc
        wal_mode = journal_mode == "wal"
        db_bytes = _size(self.path)
        wal_bytes = _size(self.wal_path)
        header = read_wal_header(connection) if wal_bytes and wal_mode else None
        wal_frames = (
            max(0, (wal_bytes - WAL_HEADER_SIZE) // (page_size + WAL_FRAME_HEADER_SIZE)) if wal_bytes else 0
        )
        # Read locks first: while a reader holds its slot's lock nobody may change that slot's mark, so the
        # marks read next are the holders' own.
        holders = read_lock_holders(self.shm_path) if wal_mode else []
        shm = self._shm.read_header() if wal_mode else ShmHeader()
        live_frames, backfilled = shm.mx_frame, shm.backfilled
        pending = max(0, live_frames - backfilled)
        salt = header.salt if header else None
        restarted = salt is not None and self._previous_salt is not None and salt != self._previous_salt
        previous = self._previous
        changed = previous is not None and data_version != previous.data_version
        now = time.monotonic()
        own = self._is_own_change(changed, now)
        if changed and not own:
            self._last_write_at = now
        self._pending_history.append(pending)
        snapshots = self._read_snapshots(holders, shm, now)

        sample = Sample(
            taken_at=time.time(),
            monotonic=now,
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
            external_write=changed and not own,
            journal_mode=journal_mode,
            synchronous=synchronous,
            auto_vacuum=auto_vacuum,
            wal_autocheckpoint=wal_autocheckpoint,
            wal_pending_frames=pending,
            data_bytes=page_count * page_size,
            change_counter=None if wal_mode else read_change_counter(connection),
            own_change=changed and own,
            read_snapshots=snapshots,
        )
        sample.red_flags.extend(self._red_flags(sample))
        if salt is not None:
            self._previous_salt = salt
        self._previous = sample
        cost_ms = (time.perf_counter() - started) * 1000.0
        object.__setattr__(sample, "cost_ms", round(cost_ms, 3))
        return sample

    def _read_snapshots(self, holders: list[tuple[int, int]], shm: ShmHeader, now: float) -> list[ReadSnapshot]:
        """Every read transaction open now ((pid, slot) from /proc/locks, its mark from the -shm), timed from
        the first sample that saw it. Keyed by (pid, slot, mark): the same snapshot keeps its time while
        checkpoints copy what they can; a new transaction (a new mark) or a gap starts a new time."""
        since: dict[tuple[int, int, int], float] = {}
        snapshots = []
        for pid, slot in holders:
            mark = shm.read_marks[slot] if slot else 0
            key = (pid, slot, mark)
            since[key] = self._snapshots_since.get(key, now)
            pinned = _pinned_frames(slot, mark, shm)
            snapshots.append(ReadSnapshot(pid, process_name(pid), slot, mark, pinned, now - since[key]))
        self._snapshots_since = since
        return snapshots

    def _red_flags(self, sample: Sample) -> list[RedFlag]:
        flags: list[RedFlag] = []
        history = list(self._pending_history)
        growing = (
            len(history) >= 2
            and all(b >= a for a, b in zip(history, history[1:], strict=False))
            and history[-1] > history[0]
        )
        wal_flag = sample.journal_mode == "wal" and sample.wal_pending_frames > self.wal_flag_frames
        if wal_flag:
            flags.append(self._wal_flag(sample, growing))
        held = [s for s in sample.read_snapshots if s.pinned_frames and s.seconds >= SNAPSHOT_FLAG_SECONDS]
        if held and not wal_flag:  # the WAL flag names them itself
            flags.append(
                RedFlag(
                    "snapshot_held",
                    "; ".join(f"{s.describe()} ({s.pinned_frames:,} WAL frames behind it)" for s in held)
                    + ": checkpoints cannot copy past it, so the WAL grows until that read transaction ends.",
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
        recent_writes = (
            self._last_write_at is not None and sample.monotonic - self._last_write_at <= self.write_quiet_seconds
        )
        if sample.journal_mode in ROLLBACK_JOURNAL_MODES and recent_writes:
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

    def _wal_flag(self, sample: Sample, growing: bool) -> RedFlag:
        pending = sample.wal_pending_frames
        megabytes = pending * (sample.page_size + WAL_FRAME_HEADER_SIZE) / 1e6
        trend = " and still growing" if growing else ""
        text = f"The WAL holds {pending:,} frames ({megabytes:,.1f} MB) not yet copied into the database{trend}."
        pinning = [s for s in sample.read_snapshots if s.pinned_frames]
        if pinning:
            held = "; ".join(s.describe() for s in pinning)
            text += (
                f" Checkpoints cannot copy past a reader's snapshot: {held}. End that read transaction, "
                "then run a checkpoint."
            )
        elif sample.read_snapshots:
            text += " Run a checkpoint to copy them (the open read snapshots are up to date: none stops it)."
        else:
            text += " Run a checkpoint to copy them (no reader is holding a snapshot)."
        return RedFlag("wal_unbounded", text)


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
