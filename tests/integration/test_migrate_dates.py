"""migrate keeps dates as exact text by default; --convert-dates makes ISO-8601 columns date / timestamp /
timestamptz with the same instants PostgreSQL itself reads from the text, and lists the columns it cannot.

Against the throwaway server of tests/postgres_server.py (`pg_url`)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

from desktop_app.core.postgres.migrate import Migration
from tests.integration.test_postgres import query, run_cli
from tests.integration.test_postgres_schema import make
from tests.unit.core.test_copyformat_dates import random_text

EVENTS = """
    CREATE TABLE events(id INTEGER PRIMARY KEY, day DATE, at DATETIME, zoned TIMESTAMP, bad DATETIME,
                        mixed TIMESTAMP, created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, since DATE DEFAULT '2020-01-01',
                        note TEXT);
    CREATE TABLE empty(id INTEGER PRIMARY KEY, day DATE, at DATETIME, zoned TIMESTAMPTZ);
"""


def rows(count: int = 300) -> list[tuple]:
    rng = random.Random(3)
    out = []
    for i in range(1, count + 1):
        at = random_text(rng).rstrip("Z")
        at = at[:-6] if at[-6:-5] in "+-" and at[-3:-2] == ":" else at  # no zone
        zoned = (at if len(at) > 10 else at + " 12:00") + rng.choice(["Z", "+02:00", "-05:30"])
        bad = "yesterday" if i in (7, 50) else f"2024-03-{i % 28 + 1:02d}"
        out.append((i, f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}" if i % 10 else None, at, zoned, bad,
                    "2024-01-01 10:00" if i % 2 else "2024-01-01 10:00Z", "2024-05-06 07:08:09", "2021-01-01",
                    f"note {i}"))
    return out


def source(tmp_path: Path) -> Path:
    return make(tmp_path / "dates.db", EVENTS, ("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows()))


def test_dates_stay_exact_text_by_default(tmp_path: Path, pg_url: str) -> None:
    result = Migration(source(tmp_path), pg_url).run()
    assert {name for name, kind in result.tables[1].columns.items() if kind != "text"} == {"id"}
    expected = [(i, day, at) for i, day, at, *_ in rows()]
    assert query(pg_url, "SELECT id, day, at FROM events ORDER BY id") == expected


def test_convert_dates_gives_the_instants_postgresql_reads_from_the_text(tmp_path: Path, pg_url: str) -> None:
    db = source(tmp_path)
    Migration(db, pg_url, schema="kept").run()
    result = Migration(db, pg_url, schema="converted", convert_dates=True).run()
    types = {table.name: table.columns for table in result.tables}
    assert types["events"] == {"id": "bigint", "day": "date", "at": "timestamp", "zoned": "timestamptz",
                               "bad": "text", "mixed": "text", "created": "timestamp", "since": "date",
                               "note": "text"}
    assert types["empty"] == {"id": "bigint", "day": "date", "at": "timestamp", "zoned": "timestamptz"}
    # The server's own parsing of the kept text is the reference for every value.
    differing = query(pg_url, """
        SELECT count(*) FROM kept.events AS k JOIN converted.events AS c USING (id)
        WHERE c.day IS DISTINCT FROM k.day::date OR c.at IS DISTINCT FROM k.at::timestamp
           OR c.zoned IS DISTINCT FROM k.zoned::timestamptz OR c.bad IS DISTINCT FROM k.bad""")
    assert differing == [(0,)]
    assert query(pg_url, "SELECT count(*), count(day) FROM converted.events") == [(300, 270)]
    notes = {item["name"]: item for item in result.untranslated}
    assert notes["events.bad"]["values"] == 2 and notes["events.bad"]["first"] == "'yesterday' at rowid 7"
    assert "2 values are not ISO-8601 dates or times (first: 'yesterday' at rowid 7): copied as text" in (
        notes["events.bad"]["reason"])
    assert "mixes times with and without a time zone" in notes["events.mixed"]["reason"]
    # DEFAULTs follow the new types: the time now (UTC, to the second) and a date literal.
    query(pg_url, "INSERT INTO converted.events(id) VALUES (1000) RETURNING id")
    created, since = query(pg_url, "SELECT created, since FROM converted.events WHERE id = 1000")[0]
    assert abs((created - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 60 and created.microsecond == 0
    assert str(since) == "2020-01-01"


def test_the_cli_lists_a_column_left_as_text_with_its_first_bad_value(tmp_path: Path, pg_url: str) -> None:
    db = source(tmp_path)
    out = run_cli("migrate", str(db), "--to", pg_url, "--convert-dates", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["tables"][1]["columns"]["at"] == "timestamp"
    assert [item["first"] for item in report["untranslated"] if item["name"] == "events.bad"] == ["'yesterday' at rowid 7"]
    text = run_cli("migrate", str(db), "--to", pg_url, "--schema", "again", "--convert-dates")
    assert "not translated: column events.bad: declared DATETIME but 2 values are not ISO-8601" in text.stdout


def test_a_date_column_holding_a_number_or_an_impossible_day_stays_text_with_the_value_named(
        tmp_path: Path, pg_url: str) -> None:
    db = make(tmp_path / "odd.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, stamp DATETIME, day DATE DEFAULT CURRENT_DATE)",
              ("INSERT INTO t VALUES (?, ?, ?)", [(1, 1700000000, "2024-02-29"), (2, "2024-01-01 10:00", "2023-02-29"),
                                                  (3, None, "2024-03-01")]))
    result = Migration(db, pg_url, convert_dates=True).run()
    assert result.verified and result.tables[0].columns == {"id": "bigint", "stamp": "text", "day": "text"}
    notes = {item["name"]: (item["values"], item["first"]) for item in result.untranslated}
    assert notes == {"t.stamp": (1, "1700000000 at rowid 1"), "t.day": (1, "'2023-02-29' at rowid 2")}
    assert query(pg_url, "SELECT stamp, day FROM t ORDER BY id") == [
        ("1700000000", "2024-02-29"), ("2024-01-01 10:00", "2023-02-29"), (None, "2024-03-01")]
    query(pg_url, "INSERT INTO t(id) VALUES (4) RETURNING id")  # the DEFAULT follows the column back to text
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", query(pg_url, "SELECT day FROM t WHERE id = 4")[0][0])
