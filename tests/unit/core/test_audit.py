"""The health audit on real files: each checklist item broken on purpose gives its finding, File ▸ New gives
none at warning or above, each one-click fix works (and its finding goes away), and no fix is offered
where it is not safe."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
from pathlib import Path

import apsw
import pytest

from desktop_app.core import audit as health
from desktop_app.core.audit import AuditReport, Finding, apply_fix
from desktop_app.core.database import connect_read, connect_write, create_database
from desktop_app.core.errors import DatabaseLocked, QueryInterrupted
from tests.odd_files import bloat, make_damaged_index

MB = 1_000_000


def run_audit(path: Path, **options: object) -> AuditReport:
    connection = connect_read(path)
    try:
        return health.audit(connection, path, **options)  # type: ignore[arg-type]
    finally:
        connection.close()


def only(report: AuditReport, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def checks(*names: str) -> tuple[health.Check, ...]:
    return tuple(check for check in health.CHECKS if check.name in names)


def plain(path: Path, sql: str, *, page_size: int | None = None) -> Path:
    """A database as many programs leave them: rollback journal, non-STRICT tables."""
    connection = apsw.Connection(str(path))
    if page_size is not None:
        connection.execute(f"PRAGMA page_size = {page_size}")
    connection.execute(sql)
    connection.close()
    return path


def read(path: Path, sql: str) -> list[tuple]:
    connection = connect_read(path)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def numbers(count: int, expression: str) -> str:
    """`SELECT expression FROM 1..count` (as `value`)."""
    return (f"WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < {count}) "
            f"SELECT {expression} FROM n")


def fix(path: Path, finding: Finding) -> str:
    connection = connect_write(path)
    try:
        return apply_fix(connection, finding)
    finally:
        connection.close()


@pytest.fixture
def new_db(tmp_path: Path) -> Path:
    return create_database(tmp_path / "new.db").path


@pytest.fixture
def fk_db(tmp_path: Path) -> Path:
    """A DELETE-journal database with a foreign key and no index on it."""
    return plain(
        tmp_path / "shop.db",
        "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT) STRICT;"
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL) STRICT;"
        "INSERT INTO customers(name) VALUES ('a'), ('b');"
        "INSERT INTO orders(customer_id, total) VALUES (1, 10), (2, 20);",
    )


# File ▸ New and the checklist order ---------------------------------------------------------------------
def test_a_file_new_database_has_nothing_at_warning_or_above(new_db: Path) -> None:
    report = run_audit(new_db)
    assert not report.has_problems, report.findings
    assert report.codes() == {"user-version"}
    assert report.checks == [check.name for check in health.CHECKS]
    assert "no problems at warning or above" in report.summary()


def test_a_production_shaped_database_has_nothing_at_warning_or_above(db_path: Path) -> None:
    report = run_audit(db_path)
    assert not report.has_problems, report.findings
    assert report.codes() == {"user-version", "statistics"}  # an index, never analysed: a note


def test_findings_are_worst_first_and_grouped(fk_db: Path) -> None:
    report = run_audit(fk_db)
    ranks = [health.RANK[f.severity] for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)
    assert [f.code for f in report.by_severity()["warning"]] == ["journal-mode", "fk-index"]
    assert report.counts()["warning"] == 2


def test_the_audit_reads_only(fk_db: Path) -> None:
    before, mtime = hashlib.sha256(fk_db.read_bytes()).hexdigest(), fk_db.stat().st_mtime_ns
    run_audit(fk_db)
    assert (hashlib.sha256(fk_db.read_bytes()).hexdigest(), fk_db.stat().st_mtime_ns) == (before, mtime)
    assert sorted(p.name for p in fk_db.parent.iterdir()) == ["shop.db"]
    writer = connect_write(fk_db)
    try:
        with pytest.raises(ValueError, match="read-only connection"):
            health.audit(writer, fk_db)
    finally:
        writer.close()


# Each checklist item, broken on purpose ------------------------------------------------------------------
def test_journal_mode_delete_is_a_warning_with_the_wal_fix(fk_db: Path) -> None:
    finding = only(run_audit(fk_db), "journal-mode")
    assert (finding.severity, finding.fix, finding.fix_sql) == ("warning", "wal", "PRAGMA journal_mode=WAL;")
    assert "delete" in finding.evidence


def test_small_pages_are_a_note(tmp_path: Path) -> None:
    path = plain(tmp_path / "small.db", "CREATE TABLE t(x)", page_size=1024)
    finding = only(run_audit(path), "page-size")
    assert finding.severity == "info" and "1,024" in finding.title
    assert "PRAGMA page_size=4096;" in (finding.fix_sql or "")


def test_auto_vacuum_full_is_a_note(tmp_path: Path) -> None:
    path = plain(tmp_path / "av.db", "PRAGMA auto_vacuum = FULL; CREATE TABLE t(x)")
    assert only(run_audit(path), "auto-vacuum").severity == "info"


def test_auto_vacuum_incremental_with_free_pages_suggests_incremental_vacuum(tmp_path: Path) -> None:
    path = plain(
        tmp_path / "inc.db",
        "PRAGMA auto_vacuum = INCREMENTAL; CREATE TABLE t(x);"
        f"INSERT INTO t {numbers(100, 'zeroblob(5000)')}; DELETE FROM t;",
    )
    finding = only(run_audit(path), "auto-vacuum")
    assert finding.fix_sql == "PRAGMA incremental_vacuum;"


def test_a_large_free_share_is_a_warning(db_path: Path) -> None:
    bloat(db_path)
    finding = only(run_audit(db_path), "freelist")
    assert finding.severity == "warning" and finding.fix_sql == "VACUUM;" and finding.fix is None
    assert "%" in finding.title


def test_user_version_is_shown(tmp_path: Path) -> None:
    path = plain(tmp_path / "v.db", "PRAGMA user_version = 7; CREATE TABLE t(x)")
    report = run_audit(path)
    assert report.user_version == 7
    finding = only(report, "user-version")
    assert finding.severity == "info" and "7" in finding.title
    assert "schema version 7" in report.summary()


def test_tables_that_are_not_strict_are_one_note(tmp_path: Path) -> None:
    path = plain(tmp_path / "loose.db", "CREATE TABLE a(x); CREATE TABLE b(y); CREATE TABLE c(z INTEGER) STRICT")
    finding = only(run_audit(path), "strict")
    assert finding.severity == "info" and finding.title == "2 of 3 tables are not STRICT"
    assert "a, b" in finding.evidence


def test_reusable_ids_are_noted_only_where_foreign_keys_refer_to_them(tmp_path: Path) -> None:
    path = plain(
        tmp_path / "ids.db",
        "CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE kept(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
        "CREATE TABLE lonely(id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent, kept_id REFERENCES kept(id));"
        "CREATE INDEX child_parent ON child(parent_id); CREATE INDEX child_kept ON child(kept_id);",
    )
    finding = only(run_audit(path), "autoincrement")
    assert finding.severity == "info" and finding.object_name == "parent"
    assert "AUTOINCREMENT" in finding.advice and "sqlite_sequence" in finding.advice  # the trade-off


def test_an_unindexed_foreign_key_is_a_warning_with_an_index_fix(fk_db: Path) -> None:
    finding = only(run_audit(fk_db), "fk-index")
    assert (finding.severity, finding.fix, finding.object_name, finding.columns) == (
        "warning", "fk-index", "orders", ("customer_id",))
    assert finding.fix_sql == 'CREATE INDEX IF NOT EXISTS orders_customer_id_fk ON orders(customer_id);'


def test_foreign_keys_covered_by_an_index_or_the_key_are_fine(tmp_path: Path) -> None:
    path = plain(
        tmp_path / "covered.db",
        "CREATE TABLE p(a, b, PRIMARY KEY (a, b)); CREATE TABLE q(id INTEGER PRIMARY KEY);"
        "CREATE TABLE c(x, y, z, FOREIGN KEY (x, y) REFERENCES p(a, b));"
        "CREATE INDEX c_yx ON c(y, x, z);"  # both columns first, in another order: usable
        "CREATE TABLE d(id INTEGER PRIMARY KEY REFERENCES q(id));"  # the rowid itself
        "CREATE TABLE e(x, y, FOREIGN KEY (x, y) REFERENCES p(a, b)); CREATE INDEX e_x ON e(x);"  # half: not enough
        "CREATE TABLE f(x REFERENCES q(id)); CREATE INDEX f_x ON f(x) WHERE x > 0;",  # partial: not enough
    )
    found = {(f.object_name, f.columns) for f in run_audit(path).findings if f.code == "fk-index"}
    assert found == {("e", ("x", "y")), ("f", ("x",))}


def test_odd_names_are_quoted_in_the_index_sql(tmp_path: Path) -> None:
    path = plain(
        tmp_path / "odd.db",
        'CREATE TABLE "select"(id INTEGER PRIMARY KEY); CREATE TABLE "my ""child"""(id INTEGER PRIMARY KEY, '
        '"from" REFERENCES "select"(id));'
        'CREATE TABLE "my ""child""_from_fk"(x);',  # the derived name is taken: another is chosen
    )
    finding = only(run_audit(path), "fk-index")
    assert finding.fix_sql == 'CREATE INDEX IF NOT EXISTS "my ""child""_from_fk2" ON "my ""child"""("from");'
    fix(path, finding)
    assert "fk-index" not in run_audit(path).codes()


def test_values_over_10_mb_are_found_without_reading_them(tmp_path: Path) -> None:
    path = plain(
        tmp_path / "blobs.db",
        "CREATE TABLE files(id INTEGER PRIMARY KEY, name TEXT, body BLOB, note TEXT);"
        f"INSERT INTO files(name, body, note) VALUES ('big', zeroblob({12 * MB}), 'after the blob');"
        f"INSERT INTO files(name, body, note) VALUES ('bigger', zeroblob({15 * MB}), printf('%.*c', {11 * MB}, 'x'));"
        "INSERT INTO files(name, body) VALUES ('small', zeroblob(1000));"
        f"CREATE TABLE fine(x); INSERT INTO fine VALUES (zeroblob({9 * MB}));",
    )
    connection = connect_read(path)
    try:
        misses_before = connection.status(apsw.SQLITE_DBSTATUS_CACHE_MISS)[0]
        report = health.audit(connection, path, checks=checks("large-values"))
        pages_read = connection.status(apsw.SQLITE_DBSTATUS_CACHE_MISS)[0] - misses_before
    finally:
        connection.close()
    finding = only(report, "large-values")
    assert (finding.severity, finding.object_name, finding.columns) == ("warning", "files", ("body", "note"))
    assert "body: 2 over 10 MB, the largest 15.0 MB" in finding.evidence
    assert "note: 1 over 10 MB" in finding.evidence
    total_pages = path.stat().st_size // 4096
    assert pages_read < 50 < total_pages  # headers only: the 47 MB of values stayed on disk
    rows = read(path, finding.fix_sql or "")
    assert [row[0] for row in rows] == [1, 2]  # the SQL to copy lists the rows


def test_the_large_value_scan_is_skipped_on_small_files_and_bounded_in_time(tmp_path: Path) -> None:
    small = plain(tmp_path / "small.db", "CREATE TABLE t(x); INSERT INTO t VALUES (zeroblob(5000000))")
    assert run_audit(small, checks=checks("large-values")).findings == []
    big = plain(
        tmp_path / "big.db",
        f"CREATE TABLE a(x); INSERT INTO a VALUES (zeroblob({11 * MB}));"
        f"CREATE TABLE many(x); INSERT INTO many {numbers(300_000, 'value')};",
    )
    finding = only(run_audit(big, checks=checks("large-values"), scan_seconds=0), "large-values-unchecked")
    assert finding.severity == "info" and "many" in finding.evidence


def test_a_cancel_stops_the_audit(fk_db: Path) -> None:
    with pytest.raises(QueryInterrupted):
        run_audit(fk_db, cancelled=lambda: True)


def test_missing_statistics_are_a_note_with_the_optimize_fix(db_path: Path) -> None:
    finding = only(run_audit(db_path), "statistics")
    assert (finding.severity, finding.fix) == ("info", "optimize")
    assert finding.fix_sql == "PRAGMA optimize(0x10002);"


def test_foreign_key_violations_are_an_error(fk_db: Path) -> None:
    connection = apsw.Connection(str(fk_db))
    connection.execute("INSERT INTO orders(customer_id, total) VALUES (99, 1), (98, 2); DELETE FROM customers WHERE id = 1")
    connection.close()
    report = run_audit(fk_db)
    finding = only(report, "foreign-key-check")
    assert (finding.severity, finding.object_name) == ("error", "orders")
    assert finding.title == "3 rows of orders refer to missing rows"
    assert "customers" in finding.evidence and "rowids 1, 3, 4" in finding.evidence
    assert finding.fix_sql == "PRAGMA foreign_key_check(orders);"
    assert report.has_problems and report.findings[0] is finding


def test_a_foreign_key_that_cannot_be_checked_is_an_error(tmp_path: Path) -> None:
    path = plain(tmp_path / "mismatch.db", "CREATE TABLE p(a, b); CREATE TABLE c(x REFERENCES p(a)); CREATE INDEX c_x ON c(x)")
    finding = only(run_audit(path), "foreign-key-mismatch")
    assert finding.severity == "error" and "foreign key mismatch" in finding.evidence


def test_damage_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    make_damaged_index(path)
    report = run_audit(path)
    assert report.has_problems
    damaged = [f for f in report.findings if f.code in ("quick-check", "corrupt")]
    assert damaged and all(f.severity == "error" for f in damaged)


def test_a_network_filesystem_is_an_error_and_no_wal_is_offered_there(fk_db: Path) -> None:
    mounts = f"/dev/sda1 / ext4 rw 0 0\nserver:/export {fk_db.parent} nfs4 rw,relatime 0 0\n"
    report = run_audit(fk_db, mounts_table=mounts)
    finding = only(report, "network-filesystem")
    assert finding.severity == "error" and "nfs4" in finding.title
    assert only(report, "journal-mode").fix is None
    assert only(report, "fk-index").fix == "fk-index"  # an index is as safe there as anywhere
    local = run_audit(fk_db, mounts_table=f"/dev/sda1 / ext4 rw 0 0\nserver:/export {fk_db.parent}-other nfs4 rw 0 0\n")
    assert "network-filesystem" not in local.codes()


def test_no_fix_is_offered_for_a_file_that_cannot_be_written(fk_db: Path, db_path: Path) -> None:
    for path in (fk_db, db_path):
        report = run_audit(path, writable=False)
        assert report.findings and all(f.fix is None for f in report.findings)
        assert any(f.fix_sql for f in report.findings)  # the SQL to copy is still there


# One-click fixes -------------------------------------------------------------------------------------------
def test_the_wal_fix_switches_the_journal_and_the_finding_goes(fk_db: Path) -> None:
    assert fix(fk_db, only(run_audit(fk_db), "journal-mode")) == "shop.db is now in WAL mode."
    report = run_audit(fk_db)
    assert "journal-mode" not in report.codes()
    assert read(fk_db, "PRAGMA journal_mode") == [("wal",)]


def test_the_wal_fix_says_clearly_when_another_connection_is_in_the_way(fk_db: Path) -> None:
    finding = only(run_audit(fk_db), "journal-mode")
    reader = apsw.Connection(str(fk_db))
    reader.execute("BEGIN; SELECT count(*) FROM orders").fetchall()  # a read transaction held open
    writer = connect_write(fk_db, busy_timeout_ms=100)
    try:
        with pytest.raises(DatabaseLocked, match="could not switch to WAL.*try again"):
            apply_fix(writer, finding)
    finally:
        writer.close()
        reader.execute("COMMIT")
        reader.close()
    assert "journal-mode" in run_audit(fk_db).codes()


def test_the_index_fix_creates_the_index_and_the_finding_goes(fk_db: Path) -> None:
    finding = only(run_audit(fk_db), "fk-index")
    assert "orders_customer_id_fk" in fix(fk_db, finding)
    assert "fk-index" not in run_audit(fk_db).codes()
    indexes = read(fk_db, "SELECT name FROM pragma_index_list('orders')")
    assert indexes == [("orders_customer_id_fk",)]


def test_the_optimize_fix_gathers_statistics_and_the_finding_goes(db_path: Path) -> None:
    finding = only(run_audit(db_path), "statistics")
    assert "ANALYZE" in fix(db_path, finding)
    assert "statistics" not in run_audit(db_path).codes()


def test_a_finding_without_a_one_click_fix_is_refused(db_path: Path) -> None:
    finding = only(run_audit(db_path), "user-version")
    with pytest.raises(ValueError, match="no one-click fix"):
        fix(db_path, finding)


def test_findings_serialise(fk_db: Path) -> None:
    data = run_audit(fk_db).to_dict()
    assert data["has_problems"] is True and data["user_version"] == 0
    assert {f["code"] for f in data["findings"]} >= {"journal-mode", "fk-index"}
    assert os.fspath(fk_db) == data["path"]


# Through the Session (a plain asyncio loop) ------------------------------------------------------------------
def test_a_session_audits_on_its_own_thread_and_fixes_on_its_writer(fk_db: Path) -> None:
    from desktop_app.core.session import Session

    async def scenario() -> tuple[set[str], set[str], list[str], list[tuple[int, int, str]]]:
        session = await Session.open(fk_db, read_only=False, interval=0.05)
        steps: list[tuple[int, int, str]] = []
        try:
            report = await session.audit(progress=lambda *step: steps.append(step))
            done = [await session.apply_fix(f) for f in report.findings if f.fix is not None]
            after = await session.audit()
        finally:
            await session.close()
        return report.codes(), after.codes(), done, steps

    before, after, done, steps = asyncio.run(scenario())
    assert {"journal-mode", "fk-index"} <= before
    assert not {"journal-mode", "fk-index"} & after
    assert done[0] == "shop.db is now in WAL mode." and "orders_customer_id_fk" in done[1]
    assert steps[-1] == (len(health.CHECKS), len(health.CHECKS), "Done")


def test_a_read_only_session_offers_no_fix_and_refuses_one(fk_db: Path) -> None:
    from desktop_app.core.errors import DatabaseReadOnly
    from desktop_app.core.session import Session

    async def scenario() -> AuditReport:
        session = await Session.open(fk_db, read_only=True, interval=0.05)
        try:
            report = await session.audit()
            with pytest.raises(DatabaseReadOnly):
                await session.apply_fix(dataclasses.replace(only(report, "journal-mode"), fix="wal"))
            return report
        finally:
            await session.close()

    report = asyncio.run(scenario())
    assert report.has_problems and all(f.fix is None for f in report.findings)


def test_a_cancelled_session_audit_ends_in_query_interrupted(tmp_path: Path) -> None:
    from desktop_app.core.session import Session

    path = plain(tmp_path / "slow.db", f"CREATE TABLE t(x); INSERT INTO t {numbers(1000, 'randomblob(64)')};")

    async def scenario() -> None:
        session = await Session.open(path, read_only=True, interval=0.05)
        try:
            job = session.audit()
            job.cancel()
            with pytest.raises(QueryInterrupted):
                await job
        finally:
            await session.close()

    asyncio.run(scenario())
