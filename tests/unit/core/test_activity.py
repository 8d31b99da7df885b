from __future__ import annotations

import dataclasses
from pathlib import Path

import apsw
import pytest

from desktop_app.core.activity import ActivityMeter
from desktop_app.core.database import connect_write
from desktop_app.core.metrics import MetricsSampler


def _insert(path: Path, rows: int, commits: int) -> None:
    connection = connect_write(path)
    for _ in range(commits):
        with connection:
            connection.executemany(
                "INSERT INTO readings(device, value) VALUES (?, ?)", [("d", float(i)) for i in range(rows)]
            )
    connection.close()


def test_wal_frames_per_second_from_real_commits(db_path: Path) -> None:
    meter = ActivityMeter()
    with MetricsSampler(db_path) as sampler:
        first = sampler.sample()
        assert meter.update(first, None).per_second == 0.0
        _insert(db_path, rows=50, commits=5)
        second = sampler.sample()
    second = dataclasses.replace(second, monotonic=first.monotonic + 2.0)
    activity = meter.update(second, None)
    assert activity.unit == "WAL frames/s"
    frames = second.wal_live_frames - first.wal_live_frames
    assert frames >= 5  # at least one frame per commit
    assert activity.per_second == pytest.approx(frames / 2.0)


def test_wal_restart_counts_the_new_generation_only(db_path: Path) -> None:
    meter = ActivityMeter()
    with MetricsSampler(db_path) as sampler:
        sampler.sample()  # the sampler's connection now holds the WAL open: closing the writer keeps it
        _insert(db_path, rows=10, commits=3)
        first = sampler.sample()
        meter.update(first, None)
        connection = connect_write(db_path)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        connection.close()
        _insert(db_path, rows=10, commits=1)
        second = sampler.sample()
    second = dataclasses.replace(second, monotonic=first.monotonic + 1.0)
    assert second.wal_live_frames < first.wal_live_frames
    assert meter.update(second, None).per_second == pytest.approx(second.wal_live_frames)


def test_commits_per_second_in_rollback_mode(delete_mode_db: Path) -> None:
    meter = ActivityMeter()
    with MetricsSampler(delete_mode_db) as sampler:
        first = sampler.sample()
        meter.update(first)
        connection = apsw.Connection(str(delete_mode_db))
        for index in range(4):
            with connection:
                connection.execute("INSERT INTO notes(body) VALUES (?)", (f"n{index}",))
        connection.close()
        second = sampler.sample()
    second = dataclasses.replace(second, monotonic=first.monotonic + 2.0)
    assert second.change_counter == first.change_counter + 4  # read through SQLite, not open()
    activity = meter.update(second)
    assert activity.unit == "commits/s"
    assert activity.per_second == pytest.approx(2.0)  # 4 commits in 2 s
