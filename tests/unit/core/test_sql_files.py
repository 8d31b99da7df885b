"""core/sql_files.py and Session.run_sql_file: the console's .sql files are text files, never the database's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from desktop_app.core.errors import PulseError, QueryError
from desktop_app.core.session import Session
from desktop_app.core.sql_files import read_sql_file, write_sql_file
from desktop_app.core.sql_script import ScriptError


def test_text_round_trips_and_a_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "q.sql"
    write_sql_file(path, "SELECT 'é';\n")
    assert read_sql_file(path) == "SELECT 'é';\n"
    path.write_bytes(b"\xef\xbb\xbfSELECT 1;")
    assert read_sql_file(path) == "SELECT 1;"
    assert [p.name for p in tmp_path.iterdir()] == ["q.sql"]  # no temporary left


def test_the_database_and_its_side_files_are_refused(db_path: Path, tmp_path: Path) -> None:
    for name in (db_path, Path(f"{db_path}-wal")):
        name.touch()
        with pytest.raises(PulseError, match="open database's own file"):
            read_sql_file(name, database=db_path)
        with pytest.raises(PulseError, match="open database's own file"):
            write_sql_file(name, "x", database=db_path)
    with pytest.raises(PulseError, match="Cannot read"):
        read_sql_file(tmp_path / "missing.sql")


def test_run_sql_file_names_the_line_and_is_refused_read_only(db_path: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.sql"
    script.write_text("INSERT INTO readings(device) VALUES ('a');\n\nSELECT nope FROM readings;\n")

    async def scenario() -> None:
        session = await Session.open(db_path, read_only=False, interval=3600)
        try:
            with pytest.raises(ScriptError) as caught:
                await session.run_sql_file(script)
            assert caught.value.line == 3
            count = await session.browse(lambda c: c.execute("SELECT count(*) FROM readings").fetchall()[0][0])
            assert count == 500  # the INSERT before it was rolled back with it
            with pytest.raises(PulseError, match="open database's own file"):
                session.run_sql_file(db_path)
        finally:
            await session.close()
        reader = await Session.open(db_path, read_only=True, interval=3600)
        try:
            with pytest.raises(QueryError, match="read-only"):
                reader.run_sql_file(script)
        finally:
            await reader.close()

    asyncio.run(scenario())
