"""`watch --query NAME=SQL --alert RULE`: the user's query series and alert rules in the headless watch.

The series and rules are parsed and checked before anything is sampled (a mistake there is a usage error,
exit 2); each database's `Session` then runs them after each sample, and this module turns the session's
latest runs and alert states into the record's keys (`queries`, `alerts`, `query_errors`) and the compact
line's words. `FiredAlerts` remembers what fired during the run, for `--fail-on-alert`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desktop_app.core.alerts import AlertState, Rule, parse_rule
from desktop_app.core.errors import QueryError
from desktop_app.core.query_series import (
    DEFAULT_BUDGET_MS,
    MIN_INTERVAL,
    QuerySeries,
    QueryValue,
    parse_option,
    renamed,
)

if TYPE_CHECKING:
    from desktop_app.core.session import Session

EXIT_ALERT = 1  # --fail-on-alert: an alert fired during the run
LINE_ERROR_CHARS = 60  # a query's error as shown in the compact line


@dataclass(frozen=True)
class QueryPlan:
    """What `--query`, `--alert` and `--query-budget-ms` ask for."""

    series: tuple[QuerySeries, ...] = ()
    rules: tuple[Rule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.series)


def plan_from(args: argparse.Namespace) -> QueryPlan:
    """The series (run at the watch's interval, so each sample carries a fresh run) and the rules; raises
    QueryError, with the option to fix, for a malformed one or a rule on a series no --query defines."""
    budget = DEFAULT_BUDGET_MS if args.query_budget_ms is None else args.query_budget_ms
    # A series cannot run more often than MIN_INTERVAL: a faster watch shows its latest run between runs.
    interval = max(args.interval, MIN_INTERVAL)
    series: list[QuerySeries] = []
    for text in args.query or ():
        item = renamed(parse_option(text, interval=interval), budget_ms=budget)
        if any(other.name == item.name for other in series):
            raise QueryError(f"Two --query options are named {item.name}: give each its own name.")
        series.append(item)
    names = {item.name for item in series}
    rules: list[Rule] = []
    for text in args.alert or ():
        rule = parse_rule(text)
        if rule.query not in names:
            raise QueryError(
                f"--alert {text!r} watches {rule.query}, which no --query defines: add --query {rule.query}=SQL."
            )
        rules.append(rule)
    return QueryPlan(tuple(series), tuple(rules))


async def check_plan(plan: QueryPlan, sessions: Sequence[Session], names: Sequence[str]) -> None:
    """Raise QueryError for a series whose SQL cannot run on any of the databases (a syntax error, a table
    none of them has). One that compiles on some of them is kept: the others show its error in their records."""
    for item in plan.series:
        errors = []
        for session, name in zip(sessions, names, strict=True):
            try:
                await session.check_query(item.sql)
            except QueryError as exc:
                errors.append(f"{exc}" if len(sessions) == 1 else f"{exc} (in {name})")
            else:
                break
        else:
            raise QueryError(f"--query {item.name}: {errors[0]}")


def record_fields(values: Mapping[str, QueryValue], states: Sequence[AlertState], plan: QueryPlan) -> dict[str, Any]:
    """The record's `queries` (each series' latest run: this pass's when it ran in this pass), `alerts` (every
    rule with its state) and, when a run failed, `query_errors`."""
    queries: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in plan.series:
        run = values.get(item.name)
        queries[item.name] = None if run is None else run.json_value()
        if run is not None and run.error:
            errors[item.name] = run.error
    fields: dict[str, Any] = {"queries": queries, "alerts": [state.to_dict() for state in states]}
    if errors:
        fields["query_errors"] = errors
    return fields


def line_words(record: Mapping[str, Any]) -> list[str]:
    """`backlog=120`, `by_device={a: 3, b: 5}`, `slow=error(over its 250 ms budget: cut off)`, then
    `ALERT: backlog > 100` for each firing rule."""
    errors = record.get("query_errors", {})
    words = []
    for name, value in record.get("queries", {}).items():
        if name in errors and value is None:
            words.append(f"{name}=error({_short(errors[name])})")
        elif isinstance(value, dict):
            shown = ", ".join(f"{label}: {_number(number)}" for label, number in list(value.items())[:3])
            words.append(f"{name}={{{shown}{', …' if len(value) > 3 else ''}}}")
        else:
            words.append(f"{name}={'-' if value is None else _number(value)}")
    words += [f"ALERT: {state['rule']}" for state in record.get("alerts", ()) if state["firing"]]
    return words


@dataclass
class FiredAlerts:
    """The rules that fired during the run, with the first message of each (for --fail-on-alert)."""

    fired: dict[tuple[str, str], str] = field(default_factory=dict)  # (database, rule text) -> message

    def note(self, database: str, changed: Sequence[AlertState]) -> None:
        for state in changed:
            if state.firing:
                self.fired.setdefault((database, state.rule.text), state.message)

    def report(self, several: bool) -> list[str]:
        """One line per rule that fired: `alert fired: backlog > 100 (backlog is 120 (> 100))`."""
        return [
            f"alert fired: {f'{database}: ' if several else ''}{rule}" + (f" ({message})" if message else "")
            for (database, rule), message in self.fired.items()
        ]


def _number(value: float) -> str:
    return f"{int(value)}" if math.isfinite(value) and value == int(value) and abs(value) < 1e15 else f"{value:.6g}"


def _short(text: str) -> str:
    return text if len(text) <= LINE_ERROR_CHARS else text[: LINE_ERROR_CHARS - 1] + "…"
