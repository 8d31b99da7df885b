"""Odd files for tests, made the way they happen for real: a writer killed mid-transaction, bytes damaged on disk."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import apsw

from desktop_app.core.database import connect_write

KILLED_WRITER = """
import sys, apsw
connection = apsw.Connection(sys.argv[1])
connection.execute("PRAGMA cache_size = 10")  # a tiny cache: changed pages spill into the file mid-transaction
connection.execute("BEGIN")
connection.execute("UPDATE notes SET body = hex(randomblob(300))")
connection.execute("INSERT INTO notes(body) SELECT hex(randomblob(300)) FROM notes")
print("inside", flush=True)
sys.stdin.readline()
"""


def committed_notes(path: Path) -> list[tuple]:
    connection = apsw.Connection(f"file:{path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return connection.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
    finally:
        connection.close()


def make_hot_journal(path: Path, rows: int = 2000) -> list[tuple]:
    """A DELETE-mode database whose writer was SIGKILLed inside a big transaction. Returns the committed rows."""
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA page_size = 4096")
    connection.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    with connection:
        connection.executemany("INSERT INTO notes(body) VALUES (?)", [(f"committed note {i}",) for i in range(rows)])
    connection.close()
    committed = committed_notes(path)
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "inside"
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=10)
    journal = Path(f"{path}-journal")
    assert journal.exists() and journal.stat().st_size > 0, "the writer left no journal"
    return committed


def make_indexed_table(path: Path, rows: int = 3000) -> None:
    """Table `t(id, s)` with index `ts` on `s`, `rows` rows, 4 KiB pages; the connection is closed after."""
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA page_size = 4096; CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT); CREATE INDEX ts ON t(s)")
    with connection:
        connection.executemany("INSERT INTO t(s) VALUES (?)", [(f"value {i:06d}",) for i in range(rows)])
    connection.close()


def make_damaged_index(path: Path, rows: int = 3000) -> None:
    """A database whose index pages (the last ones, written after the table) have bytes overwritten.

    The connection is closed before the bytes are changed: no SQLite handle is open on the file then.
    """
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA page_size = 4096; CREATE TABLE t(id INTEGER PRIMARY KEY, s TEXT)")
    with connection:
        connection.executemany("INSERT INTO t(s) VALUES (?)", [(f"value {i:06d}",) for i in range(rows)])
    connection.execute("CREATE INDEX ts ON t(s)")  # its pages come last in the file
    page_count = connection.execute("PRAGMA page_count").fetchall()[0][0]
    connection.close()
    data = bytearray(path.read_bytes())
    start = (page_count - 1) * 4096 + 2048
    data[start : start + 200] = b"X" * 200
    path.write_bytes(bytes(data))


def bloat(path: Path) -> None:
    """Fill `readings`, then delete most rows: the freed pages go to the freelist (well over 20 %)."""
    connection = connect_write(path)
    with connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
            "INSERT INTO readings(device, value) SELECT printf('device-%08d', i), i FROM n"
        )
    with connection:
        connection.execute("DELETE FROM readings WHERE id > 100")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    connection.close()
