"""The guard: a realistic core scenario never opens the database, -wal, -shm or -journal from Python.

Runs in a child with an audit hook (tests/file_audit.py): open_database, a sampler sampling a WAL
database while another connection writes and closes, every maintenance function, the query runner and
the inspect verbs. SQLite's own opens happen in C and are not seen, so any recorded open is a bug. At the
end the child's SQLite locks must still be there: nothing closed a descriptor under them.
"""

from __future__ import annotations

from pathlib import Path

from tests.file_audit import run_audited

SCENARIO = """
import os, threading, time
from pathlib import Path
import apsw
from desktop_app.core.database import open_database, connect_write
from desktop_app.core.metrics import MetricsSampler
from desktop_app.core import maintenance
from desktop_app.core.query import estimate_row_count, list_schema
from desktop_app.core.session import Session
import asyncio
from desktop_app.core import keyset
from desktop_app.core.locks import file_locks
from desktop_app.cli import run_verb

database = open_database(DB)
sampler = MetricsSampler(DB, borrow_shm_descriptor=BORROW)
stop = threading.Event()

def write_and_close():
    # another connection (SQLite's opens are in C): open, insert, commit, close, again and again
    while not stop.is_set():
        writer = connect_write(DB)
        with writer:
            writer.execute("INSERT INTO readings(device, value) VALUES ('w', 1)")
        writer.close()

thread = threading.Thread(target=write_and_close)
thread.start()
samples = [sampler.sample() for _ in range(SAMPLES)]
# Under load the writer thread may not have committed yet: keep sampling until it has, with a deadline.
deadline = time.monotonic() + 30
while not any(s.external_write for s in samples) and time.monotonic() < deadline:
    samples.append(sampler.sample())
    time.sleep(0.002)
stop.set()
thread.join()
assert any(s.external_write for s in samples)
assert max(s.wal_live_frames for s in samples) > 0

maintenance.integrity_check(DB)
maintenance.integrity_check(DB, quick=True)
for mode in maintenance.CHECKPOINT_MODES:
    maintenance.checkpoint(DB, mode)
with sampler.own_changes():
    maintenance.vacuum(DB)
    maintenance.optimize(DB)
maintenance.backup(DB, BACKUP)
maintenance.vacuum_into(DB, INTO)
for verb in (["stats", DB, "--json"], ["check", DB], ["checkpoint", DB]):
    assert run_verb(verb) == 0, verb

async def console_jobs():
    session = await Session.open(DB, read_only=False)
    await session.run_query("SELECT count(*) FROM readings")
    await session.run_query("INSERT INTO readings(device, value) VALUES ('console', 1)", allow_writes=True)
    await session.close()

asyncio.run(console_jobs())
reader = database.connect_read()
list_schema(reader)
keyset.fetch_page(reader, keyset.BrowseSpec(keyset.describe(reader, "readings")), limit=10)
estimate_row_count(reader, "readings")
reader.close()

final = sampler.sample()
mine = os.getpid()
db_locks = [l for l in file_locks(DB) if l.pid == mine]
shm_locks = [l for l in file_locks(DB + "-shm") if l.pid == mine]
print("LOCKS", bool(db_locks), bool(shm_locks), final.journal_mode)
sampler.close()
"""


def scenario(borrow: bool | None, samples: int) -> str:
    return (
        SCENARIO.replace("BORROW", repr(borrow))
        .replace("SAMPLES", str(samples))
    )


def test_core_never_opens_sqlite_files(db_path: Path, tmp_path: Path) -> None:
    backup, into = tmp_path / "backup.db", tmp_path / "into.db"
    source = f"BACKUP, INTO = {str(backup)!r}, {str(into)!r}\n" + scenario(None, 300)
    result = run_audited(source, db_path)
    assert result.returncode == 0, result.stderr
    assert result.opens == [], result.describe()
    assert "LOCKS True True wal" in result.stdout, result.stdout + result.stderr


def test_descriptor_fallback_opens_the_shm_once_per_sampler(db_path: Path, tmp_path: Path) -> None:
    backup, into = tmp_path / "backup.db", tmp_path / "into.db"
    source = f"BACKUP, INTO = {str(backup)!r}, {str(into)!r}\n" + scenario(False, 100)
    result = run_audited(source, db_path)
    assert result.returncode == 0, result.stderr
    others = [record for record in result.opens if not str(record["path"]).endswith("-shm")]
    assert others == [], result.describe()
    assert len(result.opens) == 1, result.describe()  # one lazy read-only descriptor for the sampler's life
    assert "LOCKS True True wal" in result.stdout, result.stdout + result.stderr


def test_the_audit_sees_python_opens(db_path: Path) -> None:
    source = """
import os
open(DB, "rb").close()
os.close(os.open(DB + "-wal", os.O_RDONLY | os.O_CREAT))
open(DB + ".txt", "w").close()  # not a database file: not recorded
"""
    result = run_audited(source, db_path)
    assert result.returncode == 0, result.stderr
    assert [Path(str(record["path"])).name for record in result.opens] == ["pulse.db", "pulse.db-wal"]
    assert "<string>" in result.describe()  # the stack names who opened it
