"""Where the space goes: pages, bytes and payload per table and index, through SQLite's `dbstat` table.

One statement per b-tree, in autocommit: each sums `dbstat`'s per-page rows for one object (its overflow
pages and leaf cells need the per-page form; `aggregate=TRUE` cannot tell them apart, and it computes a
whole object inside one step, where an interrupt cannot reach it). So no read transaction is held between
objects (a WAL checkpoint is never starved by a scan) and `connection.interrupt()` stops a big object
mid-walk. The parts add up exactly to `page_count * page_size`: every b-tree page, the freelist, page 1's
100-byte header, the auto-vacuum pointer-map pages, the page holding the lock byte at 1 GiB, and whatever is
left (`other_pages`, 0 unless another connection committed during the scan, which `changed_during_scan`
then says). The numbers are those `sqlite3_analyzer` prints (it reads `dbstat` too); a test compares them.

The database file itself is only `os.stat`ed; its header is read through SQLite (`Connection.read`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import apsw

from desktop_app.core.errors import PulseError, QueryInterrupted, translate

HEADER_BYTES = 100  # the database header at the start of page 1, which sqlite_schema's root shares
PENDING_BYTE = 0x40000000  # SQLite's lock byte: the page holding it is never used
SCHEMA_TABLE = "sqlite_schema"

# Sums over one b-tree's pages. `temp.pulse_dbstat` rather than the eponymous `dbstat`: a user table named
# dbstat would shadow it (sqlite3_analyzer does the same). A read-only connection may create temp objects.
_DBSTAT = "temp.pulse_dbstat"
_PER_OBJECT = f"""
    SELECT count(*), coalesce(sum(pagetype = 'overflow'), 0), coalesce(sum(pagetype = 'internal'), 0),
           coalesce(sum(ncell * (pagetype = 'leaf')), 0), coalesce(sum(ncell), 0), coalesce(sum(payload), 0),
           coalesce(sum(unused), 0), coalesce(max(mx_payload), 0)
    FROM {_DBSTAT} WHERE name = ?
"""
_COUNTS = """
    SELECT (SELECT page_size FROM pragma_page_size), (SELECT page_count FROM pragma_page_count),
           (SELECT freelist_count FROM pragma_freelist_count), (SELECT auto_vacuum FROM pragma_auto_vacuum),
           (SELECT data_version FROM pragma_data_version)
"""


@dataclass(frozen=True)
class ObjectSpace:
    """One table or index b-tree."""

    name: str
    kind: str  # "table" or "index" (sqlite_schema and internal sqlite_* objects included)
    table: str  # the owning table of an index; a table's own name
    without_rowid: bool
    pages: int
    bytes: int  # pages * page_size, less the 100-byte file header for sqlite_schema (it is counted as overhead)
    share: float  # percent of page_count * page_size
    payload_bytes: int  # the rows' own bytes (keys and values), overflow included
    unused_bytes: int  # free space inside the object's pages
    overflow_pages: int
    internal_pages: int
    rows: int  # entries: leaf cells of a rowid table, every cell of an index or WITHOUT ROWID table
    max_payload: int

    @property
    def avg_row_bytes(self) -> float | None:
        """Average payload per row (entry), None for an empty object."""
        return self.payload_bytes / self.rows if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "avg_row_bytes": self.avg_row_bytes}


@dataclass(frozen=True)
class SpaceReport:
    path: str
    journal_mode: str
    page_size: int
    page_count: int
    freelist_pages: int
    pointer_map_pages: int  # auto_vacuum's back-pointer pages
    lock_byte_pages: int  # 1 when the file reaches the page that holds the lock byte at 1 GiB
    other_pages: int  # pages nothing above accounts for: 0 unless the file changed during the scan
    file_bytes: int  # the database file on disk
    wal_bytes: int  # its -wal file (0 when there is none): pages there count in page_count
    changed_during_scan: bool  # another connection committed meanwhile: the parts may not add up
    objects: list[ObjectSpace] = field(default_factory=list)  # largest first

    @property
    def database_bytes(self) -> int:
        """page_count * page_size: the file size once every WAL page is checkpointed."""
        return self.page_count * self.page_size

    @property
    def freelist_bytes(self) -> int:
        return self.freelist_pages * self.page_size

    @property
    def header_bytes(self) -> int:
        return HEADER_BYTES if self.page_count else 0

    @property
    def overhead_bytes(self) -> int:
        """The file header, pointer-map pages, the lock-byte page and anything unaccounted for."""
        pages = self.pointer_map_pages + self.lock_byte_pages + self.other_pages
        return self.header_bytes + pages * self.page_size

    @property
    def table_bytes(self) -> int:
        return sum(o.bytes for o in self.objects if o.kind == "table")

    @property
    def index_bytes(self) -> int:
        return sum(o.bytes for o in self.objects if o.kind == "index")

    @property
    def total_bytes(self) -> int:
        """The parts summed: equal to `database_bytes` by construction (`other_pages` takes the rest)."""
        return self.table_bytes + self.index_bytes + self.freelist_bytes + self.overhead_bytes

    @property
    def tables(self) -> int:
        return sum(1 for o in self.objects if o.kind == "table")

    @property
    def indexes(self) -> int:
        return sum(1 for o in self.objects if o.kind == "index")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "journal_mode": self.journal_mode,
            "page_size": self.page_size,
            "page_count": self.page_count,
            "database_bytes": self.database_bytes,
            "file_bytes": self.file_bytes,
            "wal_bytes": self.wal_bytes,
            "table_bytes": self.table_bytes,
            "index_bytes": self.index_bytes,
            "freelist_pages": self.freelist_pages,
            "freelist_bytes": self.freelist_bytes,
            "overhead": {
                "bytes": self.overhead_bytes,
                "header_bytes": self.header_bytes,
                "pointer_map_pages": self.pointer_map_pages,
                "lock_byte_pages": self.lock_byte_pages,
                "other_pages": self.other_pages,
            },
            "total_bytes": self.total_bytes,
            "changed_during_scan": self.changed_during_scan,
            "objects": [o.to_dict() for o in self.objects],
        }


@dataclass(frozen=True)
class _Counts:
    page_size: int
    page_count: int
    freelist: int
    auto_vacuum: int
    data_version: int


@dataclass(frozen=True)
class _Object:
    name: str
    kind: str
    table: str
    without_rowid: bool


def analyze(
    connection: apsw.Connection,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SpaceReport:
    """Scan every table and index of `connection`'s main database. `progress(done, total)` (objects) runs
    after each one; `cancelled()` is asked between objects, and `connection.interrupt()` (another thread)
    stops the object being read: both end in `QueryInterrupted`. Other problems are typed `PulseError`s."""
    path = Path(connection.filename or connection.db_filename("main"))
    try:
        return _analyze(connection, path, progress, cancelled)
    except apsw.Error as exc:
        raise translate(exc, path) from exc


def _analyze(
    connection: apsw.Connection,
    path: Path,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> SpaceReport:
    if connection.in_transaction:
        # A scan inside someone's transaction would pin its snapshot for as long as the scan runs.
        raise PulseError("The space report needs a connection outside any transaction.")
    if not connection.execute("SELECT 1 FROM temp.sqlite_schema WHERE name = 'pulse_dbstat'").fetchall():
        connection.execute(f"CREATE VIRTUAL TABLE {_DBSTAT} USING dbstat(main)")
    before = _counts(connection)
    objects = _objects(connection)
    total = len(objects)
    if progress is not None:
        progress(0, total)
    scanned: list[tuple[_Object, tuple[int, ...]]] = []
    for done, item in enumerate(objects, 1):
        if cancelled is not None and cancelled():
            raise QueryInterrupted("Cancelled.")
        row = connection.execute(_PER_OBJECT, (item.name,)).fetchall()[0]
        scanned.append((item, tuple(_int(value) for value in row)))
        if progress is not None:
            progress(done, total)
    after = _counts(connection)
    return _report(connection, path, before, after, scanned)


def _counts(connection: apsw.Connection) -> _Counts:
    row = connection.execute(_COUNTS).fetchall()[0]
    return _Counts(*(_int(value) for value in row))


def _int(value: object) -> int:
    if not isinstance(value, int):  # sums and counts of dbstat's integer columns, pragmas' integers
        raise TypeError(f"expected an integer from SQLite, got {value!r}")
    return value


def _objects(connection: apsw.Connection) -> list[_Object]:
    """Every b-tree: sqlite_schema itself, then each table and index with a root page (not views, triggers
    or virtual tables; a virtual table's shadow tables are ordinary tables and are listed)."""
    without_rowid = {
        name for name, wr in connection.execute("SELECT name, wr FROM pragma_table_list WHERE schema = 'main'") if wr
    }
    found = [_Object(SCHEMA_TABLE, "table", SCHEMA_TABLE, False)]
    for kind, name, table in connection.execute(
        "SELECT type, name, tbl_name FROM main.sqlite_schema WHERE type IN ('table', 'index') AND rootpage > 0"
    ):
        found.append(_Object(name, kind, table, kind == "table" and name in without_rowid))
    return found


def _report(
    connection: apsw.Connection,
    path: Path,
    before: _Counts,
    after: _Counts,
    scanned: list[tuple[_Object, tuple[int, ...]]],
) -> SpaceReport:
    page_size, page_count = after.page_size, after.page_count
    database_bytes = page_count * page_size
    spaces = []
    used_pages = 0
    for item, (pages, overflow, internal, leaf_cells, cells, payload, unused, max_payload) in scanned:
        used_pages += pages
        size = pages * page_size - (HEADER_BYTES if item.name == SCHEMA_TABLE and pages else 0)
        spaces.append(
            ObjectSpace(
                name=item.name,
                kind=item.kind,
                table=item.table,
                without_rowid=item.without_rowid,
                pages=pages,
                bytes=size,
                share=100.0 * size / database_bytes if database_bytes else 0.0,
                payload_bytes=payload,
                unused_bytes=unused,
                overflow_pages=overflow,
                internal_pages=internal,
                # A rowid table's interior cells are only keys; an index's (or WITHOUT ROWID's) are entries.
                rows=leaf_cells if item.kind == "table" and not item.without_rowid else cells,
                max_payload=max_payload,
            )
        )
    spaces.sort(key=lambda o: (-o.bytes, o.name))
    lock_page = PENDING_BYTE // page_size + 1
    lock_pages = int(page_count >= lock_page)
    pointer_maps = 0
    if after.auto_vacuum and page_count > 1:
        pointer_maps = pointer_map_pages(page_count, page_size - _reserved_bytes(connection), lock_page)
    other = page_count - used_pages - after.freelist - pointer_maps - lock_pages
    stable = before == after
    return SpaceReport(
        path=str(path),
        journal_mode=str(connection.execute("PRAGMA main.journal_mode").fetchall()[0][0]),
        page_size=page_size,
        page_count=page_count,
        freelist_pages=after.freelist,
        pointer_map_pages=pointer_maps,
        lock_byte_pages=lock_pages,
        other_pages=other,
        file_bytes=_size(path),
        wal_bytes=_size(Path(f"{path}-wal")),
        changed_during_scan=not stable,
        objects=spaces,
    )


def pointer_map_pages(page_count: int, usable_size: int, lock_page: int) -> int:
    """How many of pages 2..page_count are pointer-map pages (btree.c `ptrmapPageno`): one every
    usable_size/5 + 1 pages from page 2, moved one page on when it would fall on the lock-byte page."""
    stride = usable_size // 5 + 1
    count = 0
    base = 2
    while base <= page_count:
        page = base + 1 if base == lock_page else base
        count += page <= page_count
        base += stride
    return count


def _reserved_bytes(connection: apsw.Connection) -> int:
    """Bytes reserved at the end of each page (header offset 20), read through SQLite's own file handle."""
    complete, header = connection.read("main", 0, 0, HEADER_BYTES)
    return header[20] if complete and len(header) > 20 else 0


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
