"""Alert rules on query series: thresholds (`backlog > 100`) and trends (`lag rising for 5m`,
`outbox unchanged for 10m`), evaluated on each new value; a rule fires, then clears when its condition does.

A rule on a labelled series (rows of label, number) compares each label's number with a threshold (it fires
naming the labels over it) and follows the series' total for a trend. A run without a value (an error, over
budget) leaves every rule as it was.
"""

from __future__ import annotations

import math
import operator
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from desktop_app.core.errors import QueryError
from desktop_app.core.query_series import QueryValue

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, "==": operator.eq, ">": operator.gt, "<": operator.lt,
    "=": operator.eq,
}
TRENDS = ("rising", "falling", "unchanged")
UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
HISTORY_POINTS = 20_000  # per series, however fast it is sampled

_THRESHOLD = re.compile(r"\s*(?P<op>>=|<=|!=|==|=|>|<)\s*(?P<number>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*")
_TREND = re.compile(
    r"\s*(?P<trend>rising|falling|unchanged|no\s+change)\s+for\s+(?P<amount>\d+(\.\d+)?)\s*(?P<unit>[a-z]*)\s*",
    re.IGNORECASE,
)
_NAME = re.compile(r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Rule:
    query: str  # the series it watches
    kind: Literal["threshold", "rising", "falling", "unchanged"]
    op: str = ""  # threshold rules: > < >= <= == !=
    threshold: float = 0.0
    seconds: float = 0.0  # trend rules: how long

    @property
    def text(self) -> str:
        """The canonical form, also the `rule` label in the metrics: 'backlog > 100', 'lag rising for 5m'."""
        if self.kind == "threshold":
            return f"{self.query} {self.op} {_number(self.threshold)}"
        return f"{self.query} {self.kind} for {_duration(self.seconds)}"


def parse_rule(text: str, *, query: str | None = None) -> Rule:
    """'NAME > 1000', 'NAME rising for 5m', 'NAME unchanged for 10 min'; with `query` given, the name may be
    left out ('> 1000'), as a series' own rule is written."""
    rest = text
    name = query
    match = _NAME.match(text)
    if match and match.group("name").lower() not in TRENDS + ("no",):
        name, rest = match.group("name"), text[match.end():]
    if not name:
        raise QueryError(f"Alert {text!r}: name the series, e.g. 'backlog > 100'.")
    if threshold := _THRESHOLD.fullmatch(rest):
        op = "==" if threshold.group("op") == "=" else threshold.group("op")
        value = float(threshold.group("number"))
        if not math.isfinite(value):
            raise QueryError(f"Alert {text!r}: the threshold must be a finite number.")
        return Rule(name, "threshold", op=op, threshold=value)
    if trend := _TREND.fullmatch(rest):
        unit = trend.group("unit").lower() or "s"
        if unit not in UNITS:
            raise QueryError(f"Alert {text!r}: the duration's unit must be one of s, m, h, d.")
        seconds = float(trend.group("amount")) * UNITS[unit]
        if seconds <= 0:
            raise QueryError(f"Alert {text!r}: the duration must be more than 0.")
        kind = "unchanged" if trend.group("trend").lower().startswith("no") else trend.group("trend").lower()
        return Rule(name, kind, seconds=seconds)  # type: ignore[arg-type]  # one of the three trends
    raise QueryError(
        f"Alert {text!r}: expected a comparison (> 1000, <= 5) or a trend (rising for 5m, unchanged for 10m)."
    )


@dataclass(frozen=True)
class AlertState:
    rule: Rule
    firing: bool
    since: float | None  # when it started firing (time.time())
    message: str  # what a person reads: the value and why

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule.text, "query": self.rule.query, "firing": self.firing, "since": self.since,
                "message": self.message}


class Alerts:
    """The rules of one database and the recent values they need; `update` returns the states that changed."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.rules = tuple(rules)
        self._states = {rule: AlertState(rule, False, None, "") for rule in self.rules}
        self._history: dict[str, deque[tuple[float, float]]] = {}

    def states(self) -> list[AlertState]:
        return [self._states[rule] for rule in self.rules]

    def firing(self) -> list[AlertState]:
        return [state for state in self.states() if state.firing]

    def update(self, values: Iterable[QueryValue]) -> list[AlertState]:
        changed = []
        for value in values:
            if value.value is None:
                continue
            history = self._history.setdefault(value.name, deque(maxlen=HISTORY_POINTS))
            history.append((value.taken_at, value.value))
            self._forget_old(value.name, value.taken_at)
            for rule in self.rules:
                if rule.query != value.name:
                    continue
                firing, message = self._evaluate(rule, value, history)
                old = self._states[rule]
                if firing != old.firing or (firing and message != old.message):
                    since = (old.since if old.firing else value.taken_at) if firing else None
                    new = AlertState(rule, firing, since, message)
                    self._states[rule] = new
                    if firing != old.firing:
                        changed.append(new)
        return changed

    def _forget_old(self, name: str, now: float) -> None:
        longest = max((rule.seconds for rule in self.rules if rule.query == name), default=0.0)
        history = self._history[name]
        # Keep one point older than the longest trend window: it says the history covers the window.
        while len(history) > 2 and history[1][0] < now - longest:
            history.popleft()

    @staticmethod
    def _evaluate(rule: Rule, value: QueryValue, history: deque[tuple[float, float]]) -> tuple[bool, str]:
        assert value.value is not None
        if rule.kind == "threshold":
            compare = COMPARISONS[rule.op]
            if value.labels is not None:
                over = [f"{label} {_number(number)}" for label, number in value.labels.items()
                        if compare(number, rule.threshold)]
                return bool(over), (f"{rule.text}: " + ", ".join(over[:5]) + (" …" if len(over) > 5 else "")) if over else ""
            fired = compare(value.value, rule.threshold)
            return fired, f"{rule.query} is {_number(value.value)} ({rule.op} {_number(rule.threshold)})" if fired else ""
        start = value.taken_at - rule.seconds
        if history[0][0] > start:  # not watched long enough to say
            return False, ""
        window = [number for taken_at, number in history if taken_at >= start]
        before = [number for taken_at, number in history if taken_at < start][-1:]
        points = before + window
        steps = list(zip(points, points[1:], strict=False))
        if rule.kind == "unchanged":
            fired = all(a == b for a, b in steps)
            return fired, f"{rule.query} has stayed at {_number(value.value)} for {_duration(rule.seconds)}" if fired else ""
        rising = rule.kind == "rising"
        monotone = all((b >= a) if rising else (b <= a) for a, b in steps)
        moved = points[-1] > points[0] if rising else points[-1] < points[0]
        fired = monotone and moved
        verb = "risen" if rising else "fallen"
        return fired, (
            f"{rule.query} has {verb} for {_duration(rule.seconds)}: {_number(points[0])} → {_number(points[-1])}"
            if fired else ""
        )


def _number(value: float) -> str:
    return f"{int(value):,}" if value == int(value) and abs(value) < 1e15 else f"{value:,.6g}"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
