"""`sink_for` picks the sink from the target; it is the one place that reads a target's URL scheme."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import desktop_app
from desktop_app.core.errors import PulseError
from desktop_app.core.ingest.mapping import MessageMapper
from desktop_app.core.ingest.sink import SQLiteSink
from desktop_app.core.ingest.sinks import sink_for
from desktop_app.core.ingest.targets import require_server_url, sink_target

PACKAGE = Path(desktop_app.__file__).parent
# What deciding by scheme looks like: the recogniser, or a prefix test of a postgres URL.
SCHEME_TEST = re.compile(r"is_postgres_url\(|startswith\(\s*[\"']postgres|[\"']postgres(ql)?://[\"']\s*in\b")
HOMES = {"core/postgres/url.py", "core/ingest/targets.py"}  # the recogniser, and what a target names


def test_a_url_is_postgres_and_anything_else_a_sqlite_file(tmp_path: Path) -> None:
    from desktop_app.core.postgres.sink import PostgresSink

    mapper = MessageMapper("t", raw=True)
    assert isinstance(sink_for("postgresql://pulse@localhost/db", mapper), PostgresSink)
    assert isinstance(sink_for("POSTGRES://pulse@localhost/db", mapper), PostgresSink)
    assert isinstance(sink_for(tmp_path / "a.db", mapper), SQLiteSink)
    assert sink_target("postgresql://h/db") == "postgresql://h/db"  # kept as text: a Path folds the //
    assert sink_target("data/a.db") == Path("data/a.db")
    with pytest.raises(PulseError, match="Enter one"):
        require_server_url("ws://h/", "Enter one")


def test_no_other_module_reads_a_postgres_scheme() -> None:
    offenders = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if SCHEME_TEST.search(path.read_text(encoding="utf-8"))
    }
    assert offenders - HOMES == set()
