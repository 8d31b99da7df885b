"""The space report on real files: its parts add up to page_count * page_size to the byte, and its page
counts per table and index agree with sqlite3_analyzer's (Debian's sqlite3-tools, a system package the
Makefile installs: these tests fail, not skip, without it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_read, connect_write, create_database
from desktop_app.core.errors import QueryInterrupted
from desktop_app.core.space import SpaceReport, analyze


def build(path: Path, sql: str, *, page_size: int = 4096, rows: Callable[[apsw.Connection], None] | None = None) -> Path:
    connection = apsw.Connection(str(path))
    connection.execute(f"PRAGMA page_size = {page_size}")
    connection.execute(sql)
    if rows is not None:
        with connection:
            rows(connection)
    connection.close()
    return path


def overflow_blobs(path: Path) -> Path:
    def rows(c: apsw.Connection) -> None:
        c.executemany("INSERT INTO blobs(name, data) VALUES (?, randomblob(?))", [(f"b{i}", i * 97 % 20_000) for i in range(600)])

    return build(
        path,
        "CREATE TABLE blobs(id INTEGER PRIMARY KEY, name TEXT UNIQUE, data BLOB); CREATE INDEX blobs_len ON blobs(length(data))",
        page_size=1024,
        rows=rows,
    )


def without_rowid(path: Path) -> Path:
    def rows(c: apsw.Connection) -> None:
        c.executemany("INSERT INTO kv VALUES (?, ?, ?)", [(f"key-{i:06}", i, "v" * (i % 700)) for i in range(4000)])

    return build(
        path,
        "CREATE TABLE kv(k TEXT PRIMARY KEY, n INTEGER UNIQUE, v TEXT) WITHOUT ROWID; CREATE INDEX kv_v ON kv(v)",
        rows=rows,
    )


def freelist_after_deletes(path: Path) -> Path:
    def rows(c: apsw.Connection) -> None:
        c.executemany("INSERT INTO log(line) VALUES (?)", [("x" * (i % 400),) for i in range(8000)])

    build(path, "CREATE TABLE log(id INTEGER PRIMARY KEY, line TEXT); CREATE INDEX log_line ON log(line)", rows=rows)
    connection = apsw.Connection(str(path))
    connection.execute("DELETE FROM log WHERE id > 2000; DROP INDEX log_line")
    connection.close()
    return path


def auto_vacuum_full(path: Path) -> Path:
    def rows(c: apsw.Connection) -> None:  # 512-byte pages: a pointer-map page every 103 pages, several of them
        c.executemany("INSERT INTO t(a, b) VALUES (?, randomblob(?))", [(i, i % 900) for i in range(3000)])

    build(path, "PRAGMA auto_vacuum = FULL; CREATE TABLE t(a, b); CREATE INDEX t_a ON t(a)", page_size=512, rows=rows)
    connection = apsw.Connection(str(path))
    connection.execute("DELETE FROM t WHERE a % 2 = 0")
    connection.close()
    return path


def auto_vacuum_incremental(path: Path) -> Path:
    """Pointer-map pages and a freelist at once: incremental auto-vacuum keeps freed pages until asked."""

    def rows(c: apsw.Connection) -> None:
        c.executemany("INSERT INTO t(a, b) VALUES (?, randomblob(?))", [(i, i % 3000) for i in range(2000)])

    build(path, "PRAGMA auto_vacuum = INCREMENTAL; CREATE TABLE t(a, b); CREATE TABLE u(x)", page_size=1024, rows=rows)
    connection = apsw.Connection(str(path))
    connection.execute("DELETE FROM t WHERE a < 1500")
    connection.close()
    return path


def only_a_header(path: Path) -> Path:
    return build(path, "PRAGMA user_version = 7")


BUILDERS = {
    "overflow blobs": overflow_blobs,
    "without rowid": without_rowid,
    "freelist after deletes": freelist_after_deletes,
    "auto_vacuum full": auto_vacuum_full,
    "auto_vacuum incremental": auto_vacuum_incremental,
    "only a header": only_a_header,
}


def scan(
    path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SpaceReport:
    connection = connect_read(path)
    try:
        return analyze(connection, progress=progress, cancelled=cancelled)
    finally:
        connection.close()


def assert_adds_up(report: SpaceReport) -> None:
    parts = sum(o.bytes for o in report.objects) + report.freelist_bytes + report.overhead_bytes
    assert parts == report.total_bytes == report.page_count * report.page_size
    assert report.other_pages == 0, "every page is a b-tree's, the freelist's, a pointer map's or the lock byte's"
    assert not report.changed_during_scan


@pytest.mark.parametrize("make", BUILDERS.values(), ids=BUILDERS.keys())
def test_the_parts_add_up_to_the_file(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path / "made.db")
    report = scan(path)
    assert_adds_up(report)
    assert report.file_bytes == report.database_bytes == path.stat().st_size


def analyzer_report(path: Path, *, check: bool = True) -> str:
    binary = shutil.which("sqlite3_analyzer")
    if binary is None:
        pytest.fail("sqlite3_analyzer is missing: install Debian's sqlite3-tools (make system-deps)")
    result = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=120, check=check)
    return result.stdout + result.stderr


def analyzer_numbers(report: str) -> tuple[dict[str, int], dict[str, int]]:
    """From sqlite3_analyzer's text report: the whole-file counts it prints at the top, and the section
    "Page counts for all tables and indices separately" (names upper-cased, as it prints them)."""
    totals = {}
    for label, key in (
        ("Page size in bytes", "page_size"),
        ("Pages in the whole file (measured)", "page_count"),
        ("Pages on the freelist (per header)", "freelist"),
        ("Pages of auto-vacuum overhead", "pointer_map"),
    ):
        match = re.search(rf"^{re.escape(label)}\.+ (\d+)", report, re.MULTILINE)
        assert match, f"no {label!r} line in sqlite3_analyzer's report"
        totals[key] = int(match.group(1))
    after_title = report.split("*** Page counts for all tables and indices separately", 1)[1].split("\n", 1)[1]
    section = after_title.split("***", 1)[0]
    pages = {}
    for line in section.splitlines():
        match = re.match(r"^(\S.*?)\.{2,} (\d+)\s", line)
        if match:
            pages[match.group(1)] = int(match.group(2))
    return totals, pages


@pytest.mark.parametrize("make", [b for n, b in BUILDERS.items() if n != "only a header"], ids=[n for n in BUILDERS if n != "only a header"])
def test_page_counts_agree_with_sqlite3_analyzer(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path / "made.db")
    report = scan(path)
    totals, pages = analyzer_numbers(analyzer_report(path))
    assert totals == {
        "page_size": report.page_size,
        "page_count": report.page_count,
        "freelist": report.freelist_pages,
        "pointer_map": report.pointer_map_pages,
    }
    assert {o.name.upper(): o.pages for o in report.objects} == pages
    assert len(pages) >= 2


def test_sqlite3_analyzer_and_we_agree_on_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    report = scan(path)
    assert (report.page_count, report.total_bytes, report.file_bytes, report.header_bytes) == (0, 0, 0, 0)
    assert [(o.name, o.pages, o.bytes) for o in report.objects] == [("sqlite_schema", 0, 0)]
    assert "Empty" in analyzer_report(path, check=False)  # it exits 1 here


def test_details_of_each_object(tmp_path: Path) -> None:
    report = scan(without_rowid(tmp_path / "kv.db"))
    objects = {o.name: o for o in report.objects}
    kv = objects["kv"]
    assert (kv.kind, kv.without_rowid, kv.rows) == ("table", True, 4000)
    autoindex = objects["sqlite_autoindex_kv_2"]  # n UNIQUE (the PRIMARY KEY is the table itself)
    assert (autoindex.kind, autoindex.table, autoindex.rows) == ("index", "kv", 4000)
    assert (objects["kv_v"].kind, objects["kv_v"].table) == ("index", "kv")
    assert objects["sqlite_schema"].bytes == report.page_size - 100  # the file header is overhead
    assert [o.bytes for o in report.objects] == sorted((o.bytes for o in report.objects), reverse=True)
    assert kv.bytes == kv.pages * report.page_size
    assert kv.share == pytest.approx(100 * kv.bytes / report.database_bytes)
    assert kv.payload_bytes + kv.unused_bytes < kv.bytes
    assert kv.avg_row_bytes == pytest.approx(kv.payload_bytes / 4000)


def test_rows_and_overflow_of_a_rowid_table(tmp_path: Path) -> None:
    report = scan(overflow_blobs(tmp_path / "blobs.db"))
    blobs = next(o for o in report.objects if o.name == "blobs")
    assert blobs.rows == 600  # leaf cells only: the interior cells of a rowid table are keys, not rows
    assert blobs.internal_pages > 0 and blobs.overflow_pages > 0
    payload = apsw.Connection(str(tmp_path / "blobs.db")).execute("SELECT sum(length(data)) FROM blobs").fetchall()[0][0]
    assert blobs.payload_bytes > payload  # the records also hold headers and names
    assert blobs.max_payload > 19_000


def test_a_wal_database_counts_pages_still_in_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    create_database(path)
    writer = connect_write(path)
    writer.execute("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(x)").fetchall()
    with writer:
        writer.executemany("INSERT INTO t VALUES (randomblob(3000))", [()] * 200)
    try:
        report = scan(path)
        assert_adds_up(report)
        assert report.journal_mode == "wal"
        assert report.wal_bytes == Path(f"{path}-wal").stat().st_size > 0
        assert report.file_bytes == path.stat().st_size < report.database_bytes
    finally:
        writer.close()


def test_progress_after_each_object_and_cancel_between_objects(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    build(path, "".join(f"CREATE TABLE t{i}(x); CREATE INDEX t{i}_x ON t{i}(x);" for i in range(10)))
    seen: list[tuple[int, int]] = []
    report = scan(path, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 21) for n in range(22)]
    assert len(report.objects) == 21

    seen.clear()
    with pytest.raises(QueryInterrupted):
        scan(path, progress=lambda done, total: seen.append((done, total)), cancelled=lambda: len(seen) > 3)
    assert seen[-1] == (3, 21)


def test_an_interrupt_stops_a_big_table_mid_walk(tmp_path: Path) -> None:
    """`connection.interrupt()` while the statement walks one b-tree (the progress handler runs inside it)."""
    path = build(
        tmp_path / "big.db",
        "CREATE TABLE big(x)",
        rows=lambda c: c.executemany("INSERT INTO big VALUES (randomblob(1500))", [()] * 3000),
    )
    connection = connect_read(path)
    steps = 0
    walking = threading.Event()

    def during_statement() -> bool:
        nonlocal steps
        steps += 1
        if steps == 50:  # well inside the walk of `big`'s ~1,500 pages
            walking.set()
            connection.interrupt()
        return False

    connection.set_progress_handler(during_statement, 100)
    try:
        with pytest.raises(QueryInterrupted):
            analyze(connection)
    finally:
        connection.close()
    assert walking.is_set()


def test_the_scan_leaves_no_transaction_open_and_the_file_unchanged(tmp_path: Path) -> None:
    path = freelist_after_deletes(tmp_path / "log.db")
    before = os.stat(path)
    connection = connect_read(path)
    try:
        analyze(connection)
        assert not connection.in_transaction
        analyze(connection)  # the connection can scan again (its temp dbstat table is reused)
    finally:
        connection.close()
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.db"]


def test_a_user_table_named_dbstat_does_not_confuse_it(tmp_path: Path) -> None:
    path = build(tmp_path / "odd.db", "CREATE TABLE dbstat(name, pageno); INSERT INTO dbstat VALUES ('t', 999)")
    report = scan(path)
    assert_adds_up(report)
    assert {o.name: o.pages for o in report.objects} == {"sqlite_schema": 1, "dbstat": 1}


def test_the_session_scans_on_a_thread_of_its_own_and_a_cancel_stops_it(db_path: Path) -> None:
    from desktop_app.core.session import Session
    from tests.scenarios import run_bounded

    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        try:
            seen: list[tuple[int, int]] = []
            report = await session.analyze_space(progress=lambda done, total: seen.append((done, total)))
            assert_adds_up(report)
            assert {o.name for o in report.objects} == {"sqlite_schema", "readings", "readings_device"}
            assert seen[-1] == (3, 3)  # on the loop thread, before the result

            job = session.analyze_space()
            job.cancel()  # before or during the scan: either way it ends as cancelled
            with pytest.raises(QueryInterrupted):
                await job
        finally:
            await session.close()

    run_bounded(scenario(), 60)
