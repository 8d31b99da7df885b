"""Pragmas on real files: values read without changing the file, stored ones changed only as declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import pragmas
from desktop_app.core.database import connect_read, connect_write
from desktop_app.core.pragmas import PragmaError


def values(path: Path) -> dict[str, str]:
    connection = connect_read(path)
    try:
        return {item.pragma.name: item.value for item in pragmas.read_all(connection)}
    finally:
        connection.close()


def test_reading_names_every_declared_pragma_and_changes_nothing(db_path: Path) -> None:
    before = db_path.stat().st_mtime_ns
    shown = values(db_path)
    assert set(shown) == set(pragmas.BY_NAME)
    assert shown["journal_mode"] == "wal" and shown["auto_vacuum"] in ("none", "full", "incremental")
    assert shown["foreign_keys"] in ("off", "on") and shown["synchronous"] in ("off", "normal", "full", "extra")
    assert db_path.stat().st_mtime_ns == before


def test_stored_values_change_only_as_declared(db_path: Path) -> None:
    writer = connect_write(db_path)
    try:
        assert pragmas.set_value(writer, "user_version", "0x2A") == "user_version is now 42."
        assert pragmas.set_value(writer, "application_id", "-7") == "application_id is now -7."
        for name, text, said in (
            ("user_version", "1; DROP TABLE readings", "whole number"),
            ("user_version", str(2**31), "from -2,147,483,648 to 2,147,483,647"),
            ("journal_mode", "memory", "one of: wal, delete"),
            ("page_size", "8192", "WAL mode"),  # WAL: the size cannot change
            ("busy_timeout", "10", "not one the app changes"),  # per connection
        ):
            with pytest.raises(PragmaError, match=said):
                pragmas.set_value(writer, name, text)
    finally:
        writer.close()
    shown = values(db_path)
    assert shown["user_version"] == "42" and shown["application_id"] == "-7"
    assert shown["journal_mode"] == "wal"


def test_leaving_wal_while_another_connection_reads_says_how_to_do_it(db_path: Path) -> None:
    """The app's own read connections keep the file open while it is shown: the switch cannot happen there."""
    reader = connect_read(db_path)
    reader.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # an idle WAL reader, as the app keeps
    writer = connect_write(db_path)
    try:
        with pytest.raises(PragmaError, match="journal_mode stays WAL.*Close the file here"):
            pragmas.set_value(writer, "journal_mode", "delete")
    finally:
        writer.close()
        reader.close()
    assert values(db_path)["journal_mode"] == "wal"
