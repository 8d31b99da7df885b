"""The Session on a plain asyncio loop (no Qt): events, awaited work, cancellation, and an orderly close."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from desktop_app.core import session as session_module
from desktop_app.core.database import connect_write
from desktop_app.core.errors import DatabaseMissing, PulseError, QueryInterrupted
from desktop_app.core.events import Event, Events
from desktop_app.core.session import Session
from tests.scenarios import run_bounded, wait_for

ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
    "SELECT count(*) FROM n a, n b, n c"
)


def session_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("pulse-")]


class Group(Events):
    def __init__(self) -> None:
        self.sample: Event[int] = Event("sample")


def test_emitters_call_in_order_and_disconnect() -> None:
    events = Group()
    seen: list[str] = []

    def first(value: int) -> None:
        seen.append(f"first {value}")
        events.sample.disconnect(first)  # disconnecting while delivering is allowed

    events.sample.connect(first)
    events.sample.connect(lambda value: seen.append(f"second {value}"))
    events.sample.emit(1)
    events.sample.emit(2)
    assert seen == ["first 1", "second 1", "second 2"]
    assert events.names == ("sample",)
    events.disconnect_all()
    assert len(events.sample) == 0


def test_session_publishes_samples_schema_and_data_changes(db_path: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(db_path, read_only=True, interval=0.02)
        samples, changes, schemas = [], [], []
        session.events.sample.connect(lambda sample, activity: samples.append(sample))
        session.events.data_changed.connect(changes.append)
        session.events.schema_changed.connect(schemas.append)
        assert session.last_sample is not None and session.last_sample.journal_mode == "wal"
        assert {o.name for o in session.schema} == {"readings", "readings_device"}
        await wait_for(lambda: len(samples) >= 3, 10)
        assert threading.current_thread() is threading.main_thread()  # events arrive on the loop thread

        connection = connect_write(db_path)
        connection.execute("CREATE TABLE later(x)")
        with connection:
            connection.execute("INSERT INTO readings(device, value) VALUES ('x', 1)")
        connection.close()
        await wait_for(lambda: changes and schemas, 10)
        assert "later" in {o.name for o in schemas[-1]}
        await session.close()

    run_bounded(scenario(), 60)
    assert session_threads() == []


def test_queries_pages_and_cancel(db_path: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        pages = []
        result = await session.run_query("SELECT id FROM readings", on_page=pages.append)
        assert result.row_count == 500 and sum(len(p.rows) for p in pages) == 500
        plan = await session.explain_plan("SELECT * FROM readings WHERE device = 'dev1'")
        assert "readings_device" in plan[0].detail
        assert await session.estimate_rows("readings") == 500

        running = asyncio.ensure_future(session.run_query(ENDLESS))
        await asyncio.sleep(0.1)
        session.cancel_query()
        with pytest.raises(QueryInterrupted):
            await running
        await session.close()

    run_bounded(scenario(), 60)


def test_a_browse_task_cancelled_interrupts_its_statement(db_path: Path) -> None:
    connection = connect_write(db_path)
    connection.execute(
        "CREATE VIEW endless AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n WHERE i < 0"
    )
    connection.close()

    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        stuck = asyncio.ensure_future(session.browse(lambda c: c.execute("SELECT * FROM endless").fetchall()))
        await asyncio.sleep(0.1)
        stuck.cancel()
        rows = await asyncio.wait_for(  # not stuck behind it
            session.browse(lambda c: c.execute("SELECT * FROM readings LIMIT 5").fetchall()), 5
        )
        assert len(rows) == 5
        await session.close()

    run_bounded(scenario(), 60)


def test_jobs_report_progress_and_a_cancelled_backup_leaves_nothing(db_path: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        done, progress = [], []
        session.events.job_done.connect(lambda job, result: done.append(job.name))
        session.events.job_progress.connect(lambda job, d, t: progress.append((d, t)))
        result = await session.checkpoint("passive")
        assert result.busy == 0
        copy = await session.backup(tmp_path / "copy.db")
        assert not copy.cancelled and progress and progress[-1][0] == progress[-1][1]
        cancel = threading.Event()
        cancel.set()
        cancelled = await session.backup(tmp_path / "never.db", cancel=cancel)
        assert cancelled.cancelled and not (tmp_path / "never.db").exists()
        assert done == ["checkpoint", "backup", "backup"]
        await session.close()

    run_bounded(scenario(), 60)


def test_close_ends_every_thread_and_closes_the_sampler_last(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []

    class RecordingSampler(session_module.MetricsSampler):
        def close(self) -> None:
            order.append("sampler")
            super().close()

    monkeypatch.setattr(session_module, "MetricsSampler", RecordingSampler)

    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        await session.run_query("SELECT 1")
        await session.browse(lambda c: c.execute("SELECT * FROM readings LIMIT 1").fetchall())
        runner, browse = session._console, session._browse
        original_runner_close, original_browse_close = runner.close, browse.close
        monkeypatch.setattr(runner, "close", lambda: (order.append("queries"), original_runner_close()))
        monkeypatch.setattr(browse, "close", lambda: (order.append("browse"), original_browse_close()))
        closed = []
        session.events.closed.connect(closed.append)
        await session.close()
        assert closed == [session]
        await session.close()  # twice is fine

    run_bounded(scenario(), 60)
    assert order == ["queries", "browse", "sampler"]
    assert session_threads() == []


def test_open_errors_are_typed_and_leave_nothing_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        with pytest.raises(DatabaseMissing):
            await Session.open(tmp_path / "missing.db")

    run_bounded(scenario(), 30)
    assert session_threads() == []


# ----- the one job shape (core/worker.py) -----


def test_a_job_result_and_its_progress_arrive_on_the_loop_thread(db_path: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        seen: list[str] = []
        pages = []

        def page(p) -> None:
            seen.append(threading.current_thread().name)
            pages.append(p)

        result = await session.run_query("SELECT id FROM readings", on_page=page)
        job = session.export("SELECT * FROM readings", tmp_path / "all.csv", fmt="csv",
                             progress=lambda rows: seen.append(threading.current_thread().name))
        exported = await job
        assert result.row_count == 500 and exported.rows == 500
        assert pages and set(seen) == {threading.main_thread().name}
        await session.close()

    run_bounded(scenario(), 60)
    assert session_threads() == []


@pytest.mark.parametrize("kind", ["read", "write"])
def test_cancel_interrupts_a_long_query_within_a_bounded_time(tmp_path: Path, db_path: Path, kind: str) -> None:
    async def scenario() -> None:
        session = await Session.open(db_path, read_only=kind == "read", interval=0.05)
        running = asyncio.ensure_future(session.run_query(ENDLESS, allow_writes=kind == "write"))
        await wait_for(lambda: (session._console_connection or session._write_connection) is not None, 10)
        await asyncio.sleep(0.1)  # inside the statement
        started = time.monotonic()
        session.cancel_query()
        with pytest.raises(QueryInterrupted):
            await running
        assert time.monotonic() - started < 2.0
        assert (await session.run_query("SELECT 42", allow_writes=kind == "write")).row_count == 1  # usable again
        await session.close()

    run_bounded(scenario(), 60)


def test_an_export_cancel_stops_a_long_first_row_at_once(db_path: Path, tmp_path: Path) -> None:
    runaway = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT max(i) FROM r"

    async def scenario() -> None:
        session = await Session.open(db_path, interval=0.05)
        job = session.export(runaway, tmp_path / "never.csv", fmt="csv")
        await asyncio.sleep(0.2)
        started = time.monotonic()
        job.cancel()
        with pytest.raises(QueryInterrupted):
            await job
        assert time.monotonic() - started < 2.0
        await session.close()

    run_bounded(scenario(), 60)
    assert not list(tmp_path.glob("*never*"))


def test_closing_the_session_cancels_its_running_jobs_and_leaves_no_thread(db_path: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(db_path, read_only=False, interval=0.05)
        jobs = [
            asyncio.ensure_future(session.run_query(ENDLESS)),
            asyncio.ensure_future(session.run_query(ENDLESS, allow_writes=True)),
            asyncio.ensure_future(session.write(lambda c: c.execute(ENDLESS).fetchall())),
        ]
        export = session.export(ENDLESS, tmp_path / "never.csv", fmt="csv")
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await session.close()
        assert time.monotonic() - started < 5.0
        for job in jobs:
            with pytest.raises(PulseError):
                await job
        with pytest.raises(QueryInterrupted):
            await export

    run_bounded(scenario(), 60)
    deadline = time.monotonic() + 5
    while session_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert session_threads() == []


def test_one_write_connection_serves_console_writes_edits_and_maintenance(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_connect_write = session_module.connect_write
    monkeypatch.setattr(session_module, "connect_write", lambda *a, **k: opened.append("w") or real_connect_write(*a, **k))
    monkeypatch.setattr(session_module.maintenance, "connect_write", lambda *a, **k: opened.append("m"))
    monkeypatch.setattr(session_module.Database, "connect_write", lambda *a, **k: opened.append("d"))

    async def scenario() -> None:
        session = await Session.open(db_path, read_only=False, interval=0.05)
        threads: set[str] = set()
        await session.run_query("INSERT INTO readings(device, value) VALUES ('console', 1)", allow_writes=True)
        await session.write(lambda c: (threads.add(threading.current_thread().name),
                                       c.execute("UPDATE readings SET value = 2 WHERE device = 'console'")))
        assert (await session.checkpoint("passive")).busy == 0
        await session.optimize()
        await session.vacuum()
        assert session.write_connections == 1 and threads == {"pulse-write"}
        await session.close()
        assert session.write_connections == 0

    run_bounded(scenario(), 60)
    assert opened == ["w"]
