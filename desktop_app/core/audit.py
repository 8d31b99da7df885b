"""The health audit: the production checklist as findings with a severity, the evidence and the fix.

`audit(connection, path)` runs every entry of `CHECKS` (one small function each: adding a check is one
entry) on a READ-ONLY connection and never changes the file: `quick_check`, `foreign_key_check` and the
large-value scan are reads. The large-value scan reads lengths from record headers (`octet_length()` of a
column loads no content, so no overflow page is read), only when the file is big enough to hold such a
value, under a time budget, and stops when cancelled.

A finding may carry SQL to copy (`fix_sql`) and, for the few fixes that are safe to apply with one click
(switch to WAL, index a foreign key, `PRAGMA optimize`), a `fix` id that `apply_fix(write_connection,
finding)` carries out. `fix` is set only where the fix is safe: never on a file that cannot be written,
never WAL on a network filesystem.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import apsw
from apsw.ext import quote_name

from desktop_app.core import errors
from desktop_app.core.database import pragma, pragma_int
from desktop_app.core.maintenance import (
    OPTIMIZE_MASK,
    check_lines,
    describe_optimize,
    human_bytes,
    optimize_on,
)
from desktop_app.core.metrics import NETWORK_FILESYSTEMS, filesystem_type
from desktop_app.core.words import counted

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")  # worst first
RANK: dict[Severity, int] = {"info": 0, "warning": 1, "error": 2}
Fix = Literal["wal", "fk-index", "optimize"]  # the one-click fixes, and nothing else

LARGE_VALUE_BYTES = 10_000_000  # "over 10 MB", as human_bytes counts
LARGE_VALUE_SCAN_SECONDS = 15.0  # a budget: the scan reads every table's b-tree pages (not their overflow)
FREELIST_SHARE = 0.20
FREELIST_FLOOR_BYTES = 1_000_000  # a few free pages in a small file are not worth a VACUUM
SMALL_PAGE_SIZE = 4096
QUICK_CHECK_LINES = 20
FK_VIOLATIONS_COUNTED = 1000  # per table; beyond it "1000+": counting a million orphans helps nobody
FK_VIOLATIONS_SHOWN = 5

ProgressCallback = Callable[[int, int, str], None]  # (checks done, checks in all, what runs now)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    title: str
    evidence: str  # what was measured
    advice: str  # what to do about it, in words
    fix_sql: str | None = None  # SQL to copy (may be a query that finds the rows in question)
    fix: Fix | None = None  # a safe one-click fix `apply_fix` can carry out, or None
    object_name: str | None = None  # the table concerned, if one
    columns: tuple[str, ...] = ()  # the columns concerned (the foreign key's, for "fk-index")

    @property
    def at_least_warning(self) -> bool:
        return RANK[self.severity] >= RANK["warning"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditReport:
    path: Path
    findings: list[Finding]  # worst first, then in checklist order
    user_version: int
    seconds: float
    checks: list[str] = field(default_factory=list)  # the checks that ran, in order

    @property
    def has_problems(self) -> bool:
        """A finding at warning or above: what makes `sqlite-pulse audit` exit 1."""
        return any(finding.at_least_warning for finding in self.findings)

    def counts(self) -> dict[Severity, int]:
        return {severity: sum(f.severity == severity for f in self.findings) for severity in SEVERITIES}

    def by_severity(self) -> dict[Severity, list[Finding]]:
        return {severity: [f for f in self.findings if f.severity == severity] for severity in SEVERITIES}

    def codes(self) -> set[str]:
        return {finding.code for finding in self.findings}

    def summary(self) -> str:
        counts = self.counts()
        named = {"error": "error", "warning": "warning", "info": "note"}
        parts = [f"{n} {named[s]}{'' if n == 1 else 's'}" for s, n in counts.items() if n]
        verdict = "problems to fix" if self.has_problems else "no problems at warning or above"
        return f"{', '.join(parts) or 'nothing to report'}: {verdict} (schema version {self.user_version})."

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "user_version": self.user_version,
            "seconds": round(self.seconds, 3),
            "has_problems": self.has_problems,
            "counts": self.counts(),
            "checks": list(self.checks),
            "findings": [finding.to_dict() for finding in self.findings],
        }


# What the checks read ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    type: str
    pk: int  # position in the primary key, 0 when not part of it
    hidden: int  # 0 ordinary; 2 and 3 generated (no stored value to scan); 1 a virtual table's hidden column


@dataclass(frozen=True)
class ForeignKey:
    id: int
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str | None, ...]  # None: the parent's primary key


@dataclass(frozen=True)
class Table:
    name: str
    strict: bool
    without_rowid: bool
    sql: str
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...]
    index_keys: tuple[tuple[str | None, ...], ...]  # key columns of each full (not partial) index, in order

    @property
    def rowid_alias(self) -> str | None:
        """The INTEGER PRIMARY KEY column that is the rowid itself, if any."""
        if self.without_rowid:
            return None
        keys = [column for column in self.columns if column.pk]
        if len(keys) == 1 and keys[0].type.strip().upper() == "INTEGER":
            return keys[0].name
        return None

    def indexed(self, columns: tuple[str, ...]) -> bool:
        """Some index starts with exactly these columns (any order), as SQLite's foreign-key lookups need."""
        wanted = {name.lower() for name in columns}
        if len(columns) == 1 and self.rowid_alias is not None and self.rowid_alias.lower() in wanted:
            return True
        for keys in self.index_keys:
            prefix = [key.lower() for key in keys[: len(columns)] if key is not None]  # None: an expression
            if len(prefix) == len(columns) and set(prefix) == wanted:
                return True
        return False


class Context:
    """One audit's connection and what the checks share (read once, on first use)."""

    def __init__(
        self,
        connection: apsw.Connection,
        path: Path,
        *,
        writable: bool,
        mounts_table: str | None,
        cancelled: Callable[[], bool],
        scan_seconds: float,
    ) -> None:
        self.connection = connection
        self.path = path
        self.writable = writable
        self.cancelled = cancelled
        self.scan_seconds = scan_seconds
        self.filesystem = filesystem_type(path, mounts_table)
        self.on_network = self.filesystem in NETWORK_FILESYSTEMS
        self._tables: list[Table] | None = None

    def rows(self, sql: str, bindings: tuple = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, bindings).fetchall()

    def pragma(self, name: str) -> object:
        return pragma(self.connection, name)

    def pragma_int(self, name: str) -> int:
        return pragma_int(self.connection, name)

    @property
    def tables(self) -> list[Table]:
        """The main schema's ordinary tables (no virtual, shadow or sqlite_ tables)."""
        if self._tables is None:
            self._tables = [self._table(name, bool(wr), bool(strict), sql) for name, wr, strict, sql in self.rows(
                "SELECT l.name, l.wr, l.strict, coalesce(s.sql, '') FROM pragma_table_list AS l "
                "JOIN sqlite_schema AS s ON s.name = l.name AND s.type = 'table' "
                "WHERE l.schema = 'main' AND l.type = 'table' AND l.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "AND s.sql NOT LIKE 'CREATE VIRTUAL %' ORDER BY l.name"
            )]
        return self._tables

    def _table(self, name: str, without_rowid: bool, strict: bool, sql: str) -> Table:
        columns = tuple(
            Column(str(n), str(t or ""), int(pk), int(hidden))
            for n, t, pk, hidden in self.rows("SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)", (name,))
        )
        grouped: dict[int, list[tuple[str, str | None]]] = {}
        parents: dict[int, str] = {}
        for fk_id, parent, source, target in self.rows(
            'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq', (name,)
        ):
            grouped.setdefault(int(fk_id), []).append((str(source), None if target is None else str(target)))
            parents[int(fk_id)] = str(parent)
        foreign_keys = tuple(
            ForeignKey(fk_id, parents[fk_id], tuple(s for s, _ in pairs), tuple(t for _, t in pairs))
            for fk_id, pairs in grouped.items()
        )
        index_keys = []
        for (index,) in self.rows("SELECT name FROM pragma_index_list(?) WHERE partial = 0", (name,)):
            keys = self.rows("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index,))
            index_keys.append(tuple(None if key is None else str(key) for (key,) in keys))
        return Table(name, strict, without_rowid, sql, columns, foreign_keys, tuple(index_keys))

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class Check:
    name: str
    label: str  # what the progress display says while it runs
    run: Callable[[Context], list[Finding]]


# The checks ----------------------------------------------------------------------------------------------
def check_network_filesystem(ctx: Context) -> list[Finding]:
    if not ctx.on_network:
        return []
    return [Finding(
        "network-filesystem", "error", f"The database is on a network filesystem ({ctx.filesystem})",
        f"{ctx.path} is on a {ctx.filesystem} mount. WAL mode shares an index through memory-mapped -shm files, "
        "which processes on different hosts do not see coherently; rollback journals depend on POSIX locks that "
        "many network filesystems implement badly or not at all. Either can corrupt the database.",
        "Move the database to a local disk and let other hosts reach it through a program running there. "
        "If it must stay, use one process on one host, in rollback (DELETE) journal mode.",
    )]


def check_journal_mode(ctx: Context) -> list[Finding]:
    mode = str(ctx.pragma("journal_mode")).lower()
    if mode == "wal":
        return []
    safe = ctx.writable and not ctx.on_network
    return [Finding(
        "journal-mode", "warning", f"Rollback journal ({mode.upper()}), not WAL",
        f"journal_mode is {mode}: a writer waits for every reader to finish and blocks them while it commits, "
        "and each commit syncs twice.",
        "Switch to WAL: readers and the writer no longer block each other and commits are cheaper. WAL needs "
        "every process on the same host (not over a network filesystem), and the switch needs a moment when no "
        "other connection is using the file." + ("" if ctx.writable else " This file cannot be written here."),
        fix_sql="PRAGMA journal_mode=WAL;",
        fix="wal" if safe else None,
    )]


def check_page_size(ctx: Context) -> list[Finding]:
    size = ctx.pragma_int("page_size")
    if size >= SMALL_PAGE_SIZE:
        return []
    wal = str(ctx.pragma("journal_mode")).lower() == "wal"
    steps = "PRAGMA journal_mode=DELETE;\nPRAGMA page_size=4096;\nVACUUM;\nPRAGMA journal_mode=WAL;" if wal \
        else "PRAGMA page_size=4096;\nVACUUM;"
    return [Finding(
        "page-size", "info", f"Small pages ({size:,} bytes)",
        f"page_size is {size:,}: smaller than the 4,096 bytes SQLite has defaulted to since 3.12 and that most "
        "disks and memory pages use; more pages per row and per index lookup means more I/O.",
        "Rebuild with 4,096-byte (or larger) pages: VACUUM after setting page_size rewrites the whole file "
        "(WAL fixes the page size, so it leaves WAL for the rebuild).",
        fix_sql=steps,
    )]


def check_auto_vacuum(ctx: Context) -> list[Finding]:
    mode = ctx.pragma_int("auto_vacuum")
    if mode == 1:
        return [Finding(
            "auto-vacuum", "info", "auto_vacuum is FULL",
            "auto_vacuum=FULL moves pages to the end of the file and truncates it at every commit that frees "
            "pages: extra writes per commit, and tables and indexes end up scattered through the file.",
            "Usually better: auto_vacuum NONE (freed pages are reused) with a VACUUM when the free share grows, "
            "or INCREMENTAL with `PRAGMA incremental_vacuum` at quiet times. Changing it needs a VACUUM.",
            fix_sql="PRAGMA auto_vacuum=INCREMENTAL;\nVACUUM;",
        )]
    free = ctx.pragma_int("freelist_count")
    if mode == 2 and free > 0:
        return [Finding(
            "auto-vacuum", "info", f"auto_vacuum is INCREMENTAL with {free:,} free pages waiting",
            f"{free:,} free pages ({human_bytes(free * ctx.pragma_int('page_size'))}) could be returned to the "
            "filesystem; with INCREMENTAL nothing does it until `PRAGMA incremental_vacuum` runs.",
            "Run `PRAGMA incremental_vacuum;` at a quiet time (it frees them without rewriting the file).",
            fix_sql="PRAGMA incremental_vacuum;",
        )]
    return []


def check_freelist(ctx: Context) -> list[Finding]:
    free, pages, size = ctx.pragma_int("freelist_count"), ctx.pragma_int("page_count"), ctx.pragma_int("page_size")
    if pages == 0 or free / pages <= FREELIST_SHARE or free * size < FREELIST_FLOOR_BYTES:
        return []
    incremental = ctx.pragma_int("auto_vacuum") == 2
    return [Finding(
        "freelist", "warning", f"{free / pages:.0%} of the file is free pages",
        f"{free:,} of {pages:,} pages are free ({human_bytes(free * size)}): space deleted rows left behind. "
        "SQLite reuses them for new rows, but the file does not shrink, and backups copy them.",
        "VACUUM rewrites the file without them (it needs free disk space about the size of the database, and "
        "writers wait meanwhile); with auto_vacuum INCREMENTAL, `PRAGMA incremental_vacuum` frees them in place.",
        fix_sql="PRAGMA incremental_vacuum;" if incremental else "VACUUM;",
    )]


def check_user_version(ctx: Context) -> list[Finding]:
    version = ctx.pragma_int("user_version")
    said = "no schema version was set (0)" if version == 0 else f"the schema version is {version}"
    return [Finding(
        "user-version", "info", f"Schema version (user_version): {version}",
        f"PRAGMA user_version says {said}.",
        "Migration tools record the schema version here; set it with `PRAGMA user_version = N` when you change "
        "the schema, so a program can tell which migrations a file has had.",
    )]


def check_strict(ctx: Context) -> list[Finding]:
    loose = [t.name for t in ctx.tables if not t.strict]
    if not loose:
        return []
    return [Finding(
        "strict", "info", f"{len(loose)} of {len(ctx.tables)} tables are not STRICT",
        f"Not STRICT: {_listed(loose)}. Their columns accept a value of any type (a TEXT '12a' in an INTEGER "
        "column is stored as is), so a bug that writes the wrong type goes unnoticed.",
        "New tables: add STRICT after the column list (SQLite 3.37+). An existing table becomes STRICT only by "
        "being recreated (CREATE TABLE new … STRICT; INSERT INTO new SELECT …; DROP; ALTER TABLE … RENAME). "
        "Worth it where types matter; harmless to leave.",
    )]


def check_autoincrement(ctx: Context) -> list[Finding]:
    """Only tables whose rowid other tables refer to: there a reused id can attach old references to a new
    row. Elsewhere the plain INTEGER PRIMARY KEY is the better default, and saying so each time would nag."""
    referenced = {fk.parent.lower() for t in ctx.tables for fk in t.foreign_keys
                  if _refers_to_rowid(ctx, fk)}
    candidates = [t.name for t in ctx.tables if t.name.lower() in referenced and not _has_autoincrement(t)]
    if not candidates:
        return []
    return [Finding(
        "autoincrement", "info", f"Ids may be reused in {_listed(candidates)}",
        f"{_listed(candidates)} {'is' if len(candidates) == 1 else 'are'} referred to by foreign keys through an "
        "INTEGER PRIMARY KEY without AUTOINCREMENT: after the row with the largest id is deleted, the next insert "
        "gets that id again, so a reference kept elsewhere (another system, a log, a URL, a child row written "
        "with foreign_keys off) would point at the new row.",
        "If ids must never come back, declare the key INTEGER PRIMARY KEY AUTOINCREMENT (it costs a write to "
        "sqlite_sequence per insert, and needs the table recreated). If references always go with their rows "
        "(foreign_keys ON, ON DELETE CASCADE), keep it as it is.",
        object_name=candidates[0] if len(candidates) == 1 else None,
    )]


def check_foreign_key_indexes(ctx: Context) -> list[Finding]:
    findings: list[Finding] = []
    for table in ctx.tables:
        seen: set[tuple[str, ...]] = set()
        for fk in table.foreign_keys:
            key = tuple(c.lower() for c in fk.columns)
            if key in seen or table.indexed(fk.columns):
                continue
            seen.add(key)
            columns = ", ".join(fk.columns)
            findings.append(Finding(
                "fk-index", "warning", f"No index on {table.name}({columns}), a foreign key to {fk.parent}",
                f"Deleting or changing a row of {fk.parent} looks up the rows of {table.name} that refer to it, and "
                f"joins from {fk.parent} to {table.name} do the same: without an index on ({columns}) each lookup "
                f"reads all of {table.name}.",
                "Create the index (it costs some space and a little time per insert into "
                f"{table.name}).",
                fix_sql=fk_index_sql(ctx.connection, table.name, fk.columns) + ";",
                fix="fk-index" if ctx.writable else None,
                object_name=table.name,
                columns=fk.columns,
            ))
    return findings


def check_large_values(ctx: Context) -> list[Finding]:
    if ctx.pragma_int("page_count") * ctx.pragma_int("page_size") <= LARGE_VALUE_BYTES:
        return []  # the file is too small to hold one
    deadline = time.monotonic() + ctx.scan_seconds
    timed_out = False

    def stop() -> bool:
        nonlocal timed_out
        timed_out = time.monotonic() > deadline
        return timed_out or ctx.cancelled()

    findings: list[Finding] = []
    skipped: list[str] = []
    ctx.connection.set_progress_handler(stop, 10_000)
    try:
        for table in ctx.tables:
            columns = [c.name for c in table.columns if c.hidden == 0 and c.name != table.rowid_alias
                       and not (table.strict and c.type.upper() in ("INT", "INTEGER", "REAL"))]
            if not columns:
                continue
            if timed_out:
                skipped.append(table.name)
                continue
            try:
                found = _large_values_in(ctx.connection, table, columns)
            except apsw.InterruptError:
                if ctx.cancelled():
                    raise errors.QueryInterrupted("Cancelled.") from None
                skipped.append(table.name)
                continue
            if found:
                findings.append(_large_value_finding(table, found))
    finally:
        ctx.connection.set_progress_handler(None)
    if skipped:
        findings.append(Finding(
            "large-values-unchecked", "info", "The search for values over 10 MB did not finish",
            f"It stopped after {ctx.scan_seconds:.0f} s; not searched: {_listed(skipped)}.",
            "Search those tables yourself when the database is quiet (the SQL reads lengths, not the values).",
            fix_sql="\n".join(_large_values_query(t) + ";" for t in ctx.tables if t.name in skipped[:5]) or None,
        ))
    return findings


def check_statistics(ctx: Context) -> list[Finding]:
    (indexes,) = ctx.rows(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )[0]
    if not indexes or ctx.rows("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_stat1'"):
        return []
    return [Finding(
        "statistics", "info", "No query planner statistics (sqlite_stat1)",
        f"The database has {indexes} index{'es' if indexes != 1 else ''} but was never analysed: the query planner "
        "guesses how selective each index is, and with several candidate indexes it can pick a poor one.",
        "Run PRAGMA optimize now and then (for example when a program closes its connection): it runs ANALYZE "
        "where the statistics are missing or stale.",
        fix_sql=f"PRAGMA optimize({OPTIMIZE_MASK:#x});",
        fix="optimize" if ctx.writable else None,
    )]


def check_foreign_keys(ctx: Context) -> list[Finding]:
    findings: list[Finding] = []
    for table in ctx.tables:
        if not table.foreign_keys:
            continue
        if ctx.cancelled():
            raise errors.QueryInterrupted("Cancelled.")
        try:
            violations = _foreign_key_violations(ctx.connection, table.name)
        except apsw.SQLError as exc:  # "foreign key mismatch": the parent key is not unique, or missing
            findings.append(Finding(
                "foreign-key-mismatch", "error", f"A foreign key of {table.name} cannot be checked",
                f"SQLite says: {str(exc).removeprefix('SQLError: ')}. The parent columns must be the parent "
                "table's PRIMARY KEY or carry a UNIQUE index; as declared, every insert into "
                f"{table.name} fails while foreign_keys is ON.",
                "Give the parent columns a UNIQUE index, or correct the REFERENCES clause (recreating the table).",
                object_name=table.name,
            ))
            continue
        if not violations:
            continue
        count, parents, examples = violations
        shown = ", ".join(str(rowid) for rowid in examples)
        findings.append(Finding(
            "foreign-key-check", "error",
            f"{count}{'+' if count >= FK_VIOLATIONS_COUNTED else ''} rows of {table.name} refer to missing rows",
            f"foreign_key_check: rows of {table.name} point at rows of {_listed(sorted(parents))} that do not "
            f"exist (rowids {shown}{' …' if count > len(examples) else ''}). They were written with foreign_keys "
            "OFF, or the parent rows were deleted then.",
            "List them with the SQL below; then delete them, point them at existing rows, or restore the parents. "
            "Turn `PRAGMA foreign_keys=ON` on in every program that writes, so it cannot happen again.",
            fix_sql=f"PRAGMA foreign_key_check({quote_name(table.name)});",
            object_name=table.name,
        ))
    return findings


def check_quick_check(ctx: Context) -> list[Finding]:
    problems = check_lines(ctx.connection, quick=True, max_errors=QUICK_CHECK_LINES)
    if not problems:
        return []
    lines = [line for problem in problems for line in problem.splitlines()]
    return [Finding(
        "quick-check", "error", "quick_check found damage",
        f"quick_check reported {f'{len(problems)}+ problems' if len(problems) >= QUICK_CHECK_LINES else counted(len(problems), 'problem')}:\n"
        + "\n".join(lines[:5]) + ("\n…" if len(lines) > 5 else ""),
        f"Stop writing to it and keep a copy of the file as it is. `sqlite-pulse check {ctx.path}` lists everything; "
        "restore a backup, or salvage the rows with `.recover` in the sqlite3 shell.",
        fix_sql="PRAGMA integrity_check;",
    )]


# The checklist: one entry per check, run in this order (the slow reads last).
CHECKS: tuple[Check, ...] = (
    Check("network-filesystem", "Filesystem", check_network_filesystem),
    Check("journal-mode", "Journal mode", check_journal_mode),
    Check("page-size", "Page size", check_page_size),
    Check("auto-vacuum", "auto_vacuum", check_auto_vacuum),
    Check("freelist", "Free pages", check_freelist),
    Check("user-version", "Schema version", check_user_version),
    Check("strict", "STRICT tables", check_strict),
    Check("autoincrement", "AUTOINCREMENT", check_autoincrement),
    Check("fk-index", "Foreign-key indexes", check_foreign_key_indexes),
    Check("statistics", "Planner statistics", check_statistics),
    Check("large-values", "Values over 10 MB", check_large_values),
    Check("foreign-key-check", "foreign_key_check", check_foreign_keys),
    Check("quick-check", "quick_check", check_quick_check),
)


def audit(
    connection: apsw.Connection,
    path: Path | str,
    *,
    progress: ProgressCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    writable: bool | None = None,
    mounts_table: str | None = None,
    checks: tuple[Check, ...] = CHECKS,
    scan_seconds: float = LARGE_VALUE_SCAN_SECONDS,
) -> AuditReport:
    """Run `checks` on `connection` (read-only: anything else is refused) for the database at `path`.

    `writable`: may one-click fixes be offered (None: whatever the file's and folder's permissions say);
    `mounts_table`: /proc/mounts' text, for tests. Raises QueryInterrupted when `cancelled()` turns true, and
    PulseError for a file that cannot be read; damage a check runs into becomes a finding."""
    if not connection.readonly("main"):
        raise ValueError("audit() reads only: give it a read-only connection (database.connect_read)")
    path = Path(path)
    is_cancelled = cancelled if cancelled is not None else (lambda: False)
    if writable is None:
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    ctx = Context(connection, path, writable=writable, mounts_table=mounts_table, cancelled=is_cancelled,
                  scan_seconds=scan_seconds)
    started = time.monotonic()
    findings: list[Finding] = []
    for done, check in enumerate(checks):
        if is_cancelled():
            raise errors.QueryInterrupted("Cancelled.")
        if progress is not None:
            progress(done, len(checks), check.label)
        findings.extend(_run(ctx, check))
    if progress is not None:
        progress(len(checks), len(checks), "Done")
    try:
        user_version = ctx.pragma_int("user_version")
    except apsw.Error as exc:
        raise errors.translate(exc, path) from exc
    findings.sort(key=lambda f: -RANK[f.severity])  # stable: checklist order within a severity
    return AuditReport(path, findings, user_version, time.monotonic() - started, [c.name for c in checks])


def _run(ctx: Context, check: Check) -> list[Finding]:
    try:
        return check.run(ctx)
    except apsw.CorruptError as exc:  # damage is what an audit is for: say where it stopped, go on
        return [Finding(
            "corrupt", "error", f"{check.label}: stopped on damaged data",
            f"SQLite reported {exc} while reading for this check.",
            f"Run `sqlite-pulse check {ctx.path}` for the full list; restore a backup, or salvage the rows with "
            "`.recover` in the sqlite3 shell.",
        )]
    except apsw.InterruptError:
        raise errors.QueryInterrupted("Cancelled.") from None
    except apsw.Error as exc:
        raise errors.translate(exc, ctx.path) from exc


# One-click fixes -----------------------------------------------------------------------------------------
def apply_fix(connection: apsw.Connection, finding: Finding) -> str:
    """Carry out `finding.fix` on a WRITE connection (the session's one writer); returns what was done.
    Raises PulseError when SQLite refuses (another connection in the way), ValueError for a finding without
    a one-click fix."""
    if finding.fix == "wal":
        return _switch_to_wal(connection)
    if finding.fix == "fk-index":
        if finding.object_name is None or not finding.columns:
            raise ValueError(f"fk-index fix without a table and columns: {finding!r}")
        return _index_foreign_key(connection, finding.object_name, finding.columns)
    if finding.fix == "optimize":
        try:
            return describe_optimize(optimize_on(connection))
        except errors.DatabaseLocked as exc:
            raise errors.DatabaseLocked(f"PRAGMA optimize could not run: {exc}") from exc
    raise ValueError(f"finding {finding.code!r} has no one-click fix")


def _switch_to_wal(connection: apsw.Connection) -> str:
    name = Path(connection.filename).name
    busy = errors.DatabaseLocked(
        f"{name} could not switch to WAL: another connection was reading or writing it, and the switch needs "
        "a moment when nobody else is. Close the other programs using it (or wait for them), then try again."
    )
    try:
        mode = str(pragma(connection, "journal_mode=WAL")).lower()
    except (apsw.BusyError, apsw.LockedError):
        raise busy from None
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    if mode != "wal":
        raise busy
    connection.execute("PRAGMA synchronous = NORMAL")  # connect_write's setting for a WAL connection
    return f"{name} is now in WAL mode."


def _index_foreign_key(connection: apsw.Connection, table: str, columns: tuple[str, ...]) -> str:
    try:
        sql = fk_index_sql(connection, table, columns)
        connection.execute(sql)
    except apsw.Error as exc:
        raise errors.translate(exc, connection.filename) from exc
    return f"Created the index: {sql}"


def fk_index_sql(connection: apsw.Connection, table: str, columns: tuple[str, ...]) -> str:
    """CREATE INDEX for a foreign key's columns, under a name no object of the schema has yet."""
    base = f"{table}_{'_'.join(columns)}_fk"
    taken = {str(n).lower() for (n,) in connection.execute("SELECT name FROM sqlite_schema").fetchall()}
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base}{n}", n + 1
    listed = ", ".join(quote_name(column) for column in columns)
    return f"CREATE INDEX IF NOT EXISTS {quote_name(name)} ON {quote_name(table)}({listed})"


# Helpers -------------------------------------------------------------------------------------------------
def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


AUTOINCREMENT = re.compile(r"\bAUTOINCREMENT\b", re.IGNORECASE)


def _has_autoincrement(table: Table) -> bool:
    return bool(AUTOINCREMENT.search(table.sql))


def _refers_to_rowid(ctx: Context, fk: ForeignKey) -> bool:
    parent = ctx.table(fk.parent)
    if parent is None or parent.rowid_alias is None or len(fk.columns) != 1:
        return False
    target = fk.parent_columns[0]
    return target is None or target.lower() == parent.rowid_alias.lower()


def _large_values_query(table: Table) -> str:
    keys = "rowid" if not table.without_rowid else ", ".join(quote_name(c.name) for c in table.columns if c.pk)
    wanted = [c for c in table.columns if c.hidden == 0 and c.name != table.rowid_alias]
    lengths = ", ".join(f"octet_length({quote_name(c.name)}) AS {quote_name(c.name + '_bytes')}" for c in wanted)
    over = " OR ".join(f"octet_length({quote_name(c.name)}) > {LARGE_VALUE_BYTES}" for c in wanted)
    return f"SELECT {keys}, {lengths} FROM {quote_name(table.name)} WHERE {over or '0'}"


def _large_values_in(connection: apsw.Connection, table: Table, columns: list[str]) -> list[tuple[str, int, int]]:
    """(column, values over the limit, largest) for each column holding one. octet_length() of a column is
    read from the record header: the values themselves, and their overflow pages, are not read."""
    parts = []
    for column in columns:
        quoted = quote_name(column)
        parts.append(f"sum(octet_length({quoted}) > {LARGE_VALUE_BYTES}), max(octet_length({quoted}))")
    row = connection.execute(f"SELECT {', '.join(parts)} FROM {quote_name(table.name)}").fetchall()[0]
    found = []
    for i, column in enumerate(columns):
        over, largest = row[2 * i], row[2 * i + 1]
        if isinstance(over, int) and over and isinstance(largest, int):  # sum() is NULL on an empty table
            found.append((column, over, largest))
    return found


def _large_value_finding(table: Table, found: list[tuple[str, int, int]]) -> Finding:
    described = "; ".join(f"{column}: {over:,} over 10 MB, the largest {human_bytes(largest)}"
                          for column, over, largest in found)
    return Finding(
        "large-values", "warning", f"BLOBs or texts over 10 MB in {table.name}",
        f"{table.name} — {described}. Reading such a value loads all of it into memory, and every UPDATE of its "
        "row rewrites it (through the journal or WAL too).",
        "Keep large content in files and store their path, or split it into chunks in a table of its own; "
        "read and write what stays with incremental BLOB I/O. The SQL below lists the rows.",
        fix_sql=_large_values_query(table) + ";",
        object_name=table.name,
        columns=tuple(column for column, _over, _largest in found),
    )


def _foreign_key_violations(connection: apsw.Connection, table: str) -> tuple[int, set[str], list[int]] | None:
    """(rows counted, up to FK_VIOLATIONS_COUNTED; parent tables; the first rowids) or None when clean."""
    count, parents, examples = 0, set[str](), list[int]()
    cursor = connection.execute(f"PRAGMA foreign_key_check({quote_name(table)})")
    try:
        for _table, rowid, parent, _fk in cursor:
            count += 1
            parents.add(str(parent))
            if len(examples) < FK_VIOLATIONS_SHOWN and isinstance(rowid, int):  # None: a WITHOUT ROWID table
                examples.append(rowid)
            if count >= FK_VIOLATIONS_COUNTED:
                break
    finally:
        cursor.close()
    return (count, parents, examples) if count else None
