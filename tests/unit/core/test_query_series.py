"""Query series on real files: shapes, the time budget, no read transaction left open, alert rules."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import apsw
import pytest

from desktop_app.core.alerts import Alerts, parse_rule
from desktop_app.core.database import connect_read
from desktop_app.core.errors import QueryError
from desktop_app.core.query_series import QueryRunner, QuerySeries, QueryValue, check_sql, parse_option, run
from desktop_app.core.session import Session


def test_a_number_and_labelled_rows(outbox_db: Path) -> None:
    connection = connect_read(outbox_db)
    scalar = run(connection, QuerySeries("backlog", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))
    assert (scalar.value, scalar.labels, scalar.error) == (3.0, None, "")
    labelled = run(connection, QuerySeries(
        "per_channel", "SELECT channel, count(*) FROM outbox WHERE sent_at IS NULL GROUP BY channel"))
    assert labelled.labels == {"a": 2.0, "b": 1.0} and labelled.value == 3.0
    assert labelled.json_value() == {"a": 2.0, "b": 1.0}
    text = run(connection, QuerySeries("bad", "SELECT 'many'"))
    assert text.value is None and "expected a number" in text.error
    missing = run(connection, QuerySeries("gone", "SELECT count(*) FROM nowhere"))
    assert missing.value is None and "nowhere" in missing.error
    assert not connection.in_transaction
    connection.close()


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("DELETE FROM outbox", "only reads"),
        ("BEGIN", "columns"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("EXPLAIN SELECT 1", "EXPLAIN"),
        ("SELECT 1, 2, 3", "3 columns"),
        ("SELEC 1", "does not compile"),
    ],
)
def test_only_one_read_only_statement_of_one_or_two_columns(outbox_db: Path, sql: str, says: str) -> None:
    connection = connect_read(outbox_db)
    with pytest.raises(QueryError, match=says):
        check_sql(connection, sql)
    connection.close()


def test_a_query_over_its_budget_is_cut_off_and_flagged(outbox_db: Path) -> None:
    connection = connect_read(outbox_db)
    slow = QuerySeries(
        "slow", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        budget_ms=50,
    )
    started = time.monotonic()
    value = run(connection, slow)
    assert time.monotonic() - started < 2.0
    assert value.over_budget and value.value is None and "50 ms budget" in value.error
    assert not connection.in_transaction
    # The connection still serves the next series.
    assert run(connection, QuerySeries("ok", "SELECT 1")).value == 1.0
    connection.close()


def test_the_runner_runs_each_series_at_its_own_interval(outbox_db: Path) -> None:
    connection = connect_read(outbox_db)
    runner = QueryRunner()
    runner.set_series([QuerySeries("fast", "SELECT 1", interval=1), QuerySeries("slow", "SELECT 2", interval=10)])
    assert [v.name for v in runner.run_due(connection, now=100.0)] == ["fast", "slow"]
    assert [v.name for v in runner.run_due(connection, now=100.5)] == []
    assert [v.name for v in runner.run_due(connection, now=101.0)] == ["fast"]
    assert [v.name for v in runner.run_due(connection, now=110.0)] == ["fast", "slow"]
    connection.close()


def test_options_and_saved_form() -> None:
    series = parse_option("backlog=SELECT count(*) FROM outbox WHERE a = 1")
    assert (series.name, series.sql) == ("backlog", "SELECT count(*) FROM outbox WHERE a = 1")
    assert QuerySeries.from_dict({**series.to_dict(), "future": 1}) == series
    for bad in ("no equals sign", "9lives=SELECT 1", "=SELECT 1", "name="):
        with pytest.raises(QueryError):
            parse_option(bad)


def value(name: str, at: float, number: float | None, labels: dict[str, float] | None = None) -> QueryValue:
    return QueryValue(name, at, number, labels)


def test_threshold_rules_fire_and_clear() -> None:
    rule = parse_rule("backlog>100")
    assert rule.text == "backlog > 100"
    alerts = Alerts([rule])
    assert alerts.update([value("backlog", 1, 50)]) == []
    fired = alerts.update([value("backlog", 2, 150)])
    assert [state.firing for state in fired] == [True] and "150" in fired[0].message
    assert alerts.update([value("backlog", 3, 160)]) == []  # still firing: no change
    assert alerts.firing()[0].since == 2
    assert alerts.update([value("backlog", 4, None)]) == []  # no value: as it was
    cleared = alerts.update([value("backlog", 5, 10)])
    assert [state.firing for state in cleared] == [False] and alerts.firing() == []


def test_a_threshold_on_a_labelled_series_names_the_labels() -> None:
    alerts = Alerts([parse_rule("> 5", query="queue")])
    fired = alerts.update([value("queue", 1, 12, {"a": 9, "b": 3})])
    assert fired[0].firing and "a 9" in fired[0].message and "b 3" not in fired[0].message


def test_trend_rules_need_the_whole_window() -> None:
    rising = parse_rule("lag rising for 5m")
    still = parse_rule("lag no change for 2m")
    assert (rising.seconds, still.kind, still.text) == (300, "unchanged", "lag unchanged for 2m")
    alerts = Alerts([rising, still])
    for minute in range(5):  # rising for 4 minutes only: not yet
        assert not any(s.firing and s.rule == rising for s in alerts.update([value("lag", minute * 60, minute)]))
    fired = alerts.update([value("lag", 300, 5)])
    assert [s.rule for s in fired if s.firing] == [rising]
    alerts.update([value("lag", 360, 5)])  # flat step inside the window, but it has not risen over all of it
    for at in (420, 480):
        alerts.update([value("lag", at, 5)])
    states = {s.rule: s.firing for s in alerts.states()}
    assert states == {rising: True, still: True}  # 5 -> 5 -> 5 for 2 minutes; 1 -> 5 across the last 5 minutes
    alerts.update([value("lag", 700, 4)])
    assert {s.rule: s.firing for s in alerts.states()} == {rising: False, still: False}


@pytest.mark.parametrize("bad", ["backlog", "backlog >", "backlog ~ 3", "rising for 5m", "x rising for 5 parsecs"])
def test_bad_rules_are_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(QueryError):
        parse_rule(bad)


def test_a_session_samples_its_series_and_raises_alerts(outbox_db: Path) -> None:
    async def scenario() -> None:
        session = await Session.open(outbox_db, interval=0.05)
        runs: list[QueryValue] = []
        changes = []
        session.events.queries.connect(runs.extend)
        session.events.alerts.connect(changes.extend)
        session.set_query_series([
            QuerySeries("backlog", "SELECT count(*) FROM outbox WHERE sent_at IS NULL", interval=0.1, rule="> 3"),
        ])
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert session.query_values["backlog"].value == 3.0 and not session.alerts.firing()
        writer = apsw.Connection(str(outbox_db))
        writer.execute("INSERT INTO outbox(channel) VALUES ('c')")
        while not changes and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert [state.firing for state in changes] == [True]
        assert session.query_values["backlog"].value == 4.0
        writer.execute("UPDATE outbox SET sent_at = 2")
        while len(changes) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert [state.firing for state in changes] == [True, False]
        writer.close()
        await session.close()

    asyncio.run(scenario())


def test_a_labelled_series_with_no_rows_is_zero_and_a_number_without_a_row_has_no_value(outbox_db: Path) -> None:
    connection = connect_read(outbox_db)
    empty = run(connection, QuerySeries("none", "SELECT channel, count(*) FROM outbox WHERE 0 GROUP BY channel"))
    assert (empty.value, empty.labels, empty.error) == (0.0, {}, "")
    nothing = run(connection, QuerySeries("nothing", "SELECT id FROM outbox WHERE 0"))
    assert (nothing.value, nothing.labels) == (None, None)
    connection.close()
