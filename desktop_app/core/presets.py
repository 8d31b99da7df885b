"""Presets: query series offered in one click when the open file has the tables of a known layout.

Each preset is one declared entry (`PRESETS`): the tables it reads, each with the names it may have and
its columns' alternative names (`requires`), and its series as `QuerySeries` templates whose SQL names
them by placeholder: `{outbox}` is the table found, `{outbox.sent}` the column found for `sent`, both
quoted. A series is offered when every table and column its SQL names is found, so a partial layout still
gets what it can carry (an outbox alone: its two series); a preset matches when at least one series is.
Templates sharing a name are variants, the first that can be filled wins (a channel table with a
`delivered` flag, then one without).

`detect` reads only sqlite_schema and pragma_table_info (two statements), never a user table, so it can
run whenever a file is opened. Adding a layout is adding an entry here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import apsw

from desktop_app.core.errors import QueryError
from desktop_app.core.ingest.mapping import BATCH_LEDGER_TABLE, DEAD_LETTER_TABLE, quote_identifier
from desktop_app.core.query_series import MAX_LABELS, QuerySeries, check_sql

PLACEHOLDER = re.compile(r"\{(\w+)(?:\.(\w+))?\}")
LEDGER_WINDOW_ROWS = 100_000  # ledger rows looked at for "the last minute", newest first (see below)


@dataclass(frozen=True)
class Table:
    """A table a preset reads: `{key}` in its SQL; `names` in order of preference (matched ignoring case);
    `columns`: (placeholder, alternative names in order of preference), `{key.placeholder}` in the SQL."""

    key: str
    names: tuple[str, ...]
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    description: str
    requires: tuple[Table, ...]
    series: tuple[QuerySeries, ...]  # templates: SQL with placeholders; same name = variants, first wins


@dataclass(frozen=True)
class Match:
    """A preset found in the open file, with its series ready to add (placeholders filled, SQL checked)."""

    preset: Preset
    series: tuple[QuerySeries, ...]
    tables: tuple[str, ...]  # the tables its series read, as named in the file


# -- SQL fragments shared by the templates ------------------------------------------------------------------

NOW = "unixepoch('subsec')"


def epoch(column: str) -> str:
    """Unix seconds of a timestamp however an application stored it: ISO text (Django, Python's isoformat;
    read as UTC), unix seconds or milliseconds, or a Julian day ('auto' tells the last two apart)."""
    return (f"unixepoch(CASE WHEN typeof({column}) IN ('integer', 'real') AND {column} > 1e11 "
            f"THEN {column} / 1000.0 ELSE {column} END, 'auto', 'subsec')")


def labelled(select: str) -> str:
    """Rows of label, number, or one (NULL, NULL) row when there are none: query_series reads that row as 0
    with no labels. Without it an empty result is "no value", and a rule that fired would never clear."""
    return (f"WITH found(label, number) AS ({select}) SELECT label, number FROM found "
            "UNION ALL SELECT NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM found)")


# SQLite Pulse's ingest tables, as sink.py creates them (DEAD_LETTER_SQL, LEDGER_SQL). Neither has an index on
# its time column, and both grow for as long as an ingest runs: "the last minute" walks the ledger back from
# its newest row by rowid (at most LEDGER_WINDOW_ROWS batches, far more than a writer commits in a minute),
# and finds the last minute's dead letters as the newest rows of their table, as many as those batches
# committed (each batch writes its dead letters and its ledger row in one transaction).
_LEDGER_MINUTE = (
    f"{{ledger.id}} > (SELECT max({{ledger.id}}) FROM {{ledger}}) - {LEDGER_WINDOW_ROWS} "
    f"AND {{ledger.committed_at}} >= {NOW} - 60"
)
_REASON = ("CASE WHEN instr({dead.reason}, ':') > 0 "
           "THEN substr({dead.reason}, 1, instr({dead.reason}, ':') - 1) ELSE {dead.reason} END")

PULSE_INGEST = Preset(
    key="pulse_ingest",
    title="SQLite Pulse ingest",
    description="Dead letters by reason, rows and batches committed per minute, and the time since the last "
                "commit, from the ledger and dead-letter tables an ingest run writes.",
    requires=(
        Table("ledger", (BATCH_LEDGER_TABLE,), (
            ("id", ("id",)), ("committed_at", ("committed_at",)), ("rows", ("rows",)),
            ("dead_letters", ("dead_letters",)),
        )),
        Table("dead", (DEAD_LETTER_TABLE,), (("id", ("id",)), ("reason", ("reason",)))),
    ),
    series=(
        QuerySeries(
            "ingest_dead_letters",
            labelled(
                f"SELECT {_REASON}, count(*) FROM {{dead}} WHERE {{dead.id}} > (SELECT max({{dead.id}}) FROM {{dead}})"
                f" - (SELECT coalesce(sum({{ledger.dead_letters}}), 0) FROM {{ledger}} WHERE {_LEDGER_MINUTE})"
                " GROUP BY 1"
            ),
            unit="/min",
            rule="> 0",  # every dead letter is a message lost to the target table: worth a look
        ),
        QuerySeries(
            "ingest_rows",
            f"SELECT coalesce(sum({{ledger.rows}}), 0) FROM {{ledger}} WHERE {_LEDGER_MINUTE}",
            unit="rows/min",
        ),
        QuerySeries(
            "ingest_batches",
            f"SELECT count(*) FROM {{ledger}} WHERE {_LEDGER_MINUTE}",
            unit="batches/min",
        ),
        QuerySeries(
            "ingest_lag",
            # Never below 0: SQLite's clock here is in whole milliseconds, the commit's time is not.
            f"SELECT max(0, {NOW} - {{ledger.committed_at}}) FROM {{ledger}} ORDER BY {{ledger.id}} DESC LIMIT 1",
            interval=1.0,
            unit="s",
            rule="> 300",  # five minutes without a commit: the stream went quiet or the ingest stopped
        ),
    ),
)

# An event store kept by the application itself: no schema is standard, so each table and column is looked
# for under the names such stores commonly use. Timestamps may be text, unix seconds or milliseconds.
_UNRESOLVED = "({dlq.resolved} IS NULL OR {dlq.resolved} IN (0, 'false'))"  # a timestamp or a flag

EVENT_STORE = Preset(
    key="event_store",
    title="Event store",
    description="Pending outbox messages and the age of the oldest, unresolved dead letters, and each "
                "projection's lag behind the head of the event log.",
    requires=(
        Table("outbox", ("outbox", "outbox_messages", "outbox_events"), (
            ("sent", ("sent_at", "published_at", "dispatched_at", "processed_at")),
            ("created", ("created_at", "occurred_at", "inserted_at", "enqueued_at")),
        )),
        Table("dlq", ("dead_letters", "dead_letter", "dlq", "dead_letter_queue"), (
            ("resolved", ("resolved_at", "resolved")),
        )),
        Table("events", ("events", "event_store", "event_log", "stored_events"), (
            ("position", ("global_position", "position", "sequence", "seq", "id")),
        )),
        Table("checkpoints", ("checkpoints", "projection_checkpoints", "subscriptions"), (
            ("name", ("name", "projection", "projection_name", "subscription", "subscription_id")),
            ("position", ("position", "global_position", "checkpoint", "last_position")),
        )),
    ),
    series=(
        QuerySeries("outbox_pending", "SELECT count(*) FROM {outbox} WHERE {outbox.sent} IS NULL", unit="messages"),
        QuerySeries(
            "outbox_oldest_age",
            f"SELECT coalesce(max({NOW} - {epoch('{outbox.created}')}), 0) FROM {{outbox}} "
            "WHERE {outbox.sent} IS NULL",
            unit="s",
            rule="> 300",  # a message waiting five minutes: the relay is stuck or failing
        ),
        QuerySeries(
            "dead_letters_unresolved",
            f"SELECT count(*) FROM {{dlq}} WHERE {_UNRESOLVED}",
            unit="messages",
            rule="> 0",  # each one waits for a person
        ),
        QuerySeries(
            "projection_lag",
            labelled(
                "SELECT {checkpoints.name}, coalesce((SELECT max({events.position}) FROM {events}), 0) "
                "- coalesce({checkpoints.position}, 0) FROM {checkpoints}"
            ),
            unit="events",
            # Lag that only grows for five minutes: the projection stopped (a healthy one goes up and down).
            rule="rising for 5m",
        ),
    ),
)

# Django Channels layers on SQLite, as their projects declare them:
# - channels-lite (github.com/Tobi-De/channels-lite, src/channels_lite/models.py `Event`): table
#   channels_lite_event(id, created_at, expires_at, channel_name, data, delivered); a received message is
#   marked delivered and stays until it expires, and `clean_expired` deletes expired rows.
# - Channels 1.x's DatabaseChannelLayer (django/channels, channels/database_layer.py): table
#   django_channels(id, channel, content, expiry); a received message is deleted, expired ones are trimmed
#   on the next receive.
# Both store Django datetimes as ISO text (UTC with USE_TZ; channels-lite's aiosqlite layer writes local time).
_EXPIRES = epoch("{messages.expires}")

DJANGO_CHANNELS = Preset(
    key="django_channels",
    title="Django Channels layer",
    description="Messages queued per channel and expired messages not yet trimmed, in a Channels layer "
                "stored in SQLite (channels-lite, or Channels 1.x's database layer).",
    requires=(
        Table("messages", ("channels_lite_event", "django_channels"), (
            ("channel", ("channel_name", "channel")),
            ("expires", ("expires_at", "expiry", "expire")),
            ("delivered", ("delivered",)),
        )),
    ),
    series=(
        QuerySeries(
            "channel_queued",
            labelled(
                "SELECT {messages.channel}, count(*) FROM {messages} "
                f"WHERE {{messages.delivered}} = 0 AND {_EXPIRES} >= {NOW} GROUP BY 1 ORDER BY 2 DESC LIMIT {MAX_LABELS}"
            ),
            unit="messages",
            rule=">= 100",  # Channels' default capacity: a full channel refuses or drops what is sent to it
        ),
        QuerySeries(  # the same without a delivered flag (Channels 1.x deletes what it delivers)
            "channel_queued",
            labelled(
                "SELECT {messages.channel}, count(*) FROM {messages} "
                f"WHERE {_EXPIRES} >= {NOW} GROUP BY 1 ORDER BY 2 DESC LIMIT {MAX_LABELS}"
            ),
            unit="messages",
            rule=">= 100",
        ),
        QuerySeries(
            "channel_expired",
            f"SELECT count(*) FROM {{messages}} WHERE {_EXPIRES} < {NOW}",
            unit="messages",
            rule="rising for 5m",  # nothing trims them: no receiver, or no clean_expired job
        ),
    ),
)

PRESETS: tuple[Preset, ...] = (PULSE_INGEST, EVENT_STORE, DJANGO_CHANNELS)


# -- detection ----------------------------------------------------------------------------------------------

Columns = Mapping[str, str]  # lower-cased column name -> its name in the file


def read_tables(connection: apsw.Connection, presets: tuple[Preset, ...] = PRESETS) -> dict[str, tuple[str, Columns]]:
    """{lower-cased name: (name in the file, its columns)} for the tables and views that presets name.
    Virtual tables are left out: pragma_table_info on one whose module is not loaded fails."""
    wanted = sorted({name.lower() for preset in presets for table in preset.requires for name in table.names})
    names = [str(row[0]) for row in connection.execute(
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND coalesce(sql, '') "
        "NOT LIKE 'CREATE VIRTUAL%' AND lower(name) IN (SELECT value FROM json_each(?))",
        (json.dumps(wanted),),
    )]
    found: dict[str, tuple[str, dict[str, str]]] = {name.lower(): (name, {}) for name in names}
    if names:
        for table, column in connection.execute(
            "SELECT t.value, p.name FROM json_each(?) AS t JOIN pragma_table_info(t.value) AS p",
            (json.dumps(names),),
        ):
            found[str(table).lower()][1][str(column).lower()] = str(column)
    return dict(found)


def detect(connection: apsw.Connection, presets: tuple[Preset, ...] = PRESETS) -> list[Match]:
    """The presets whose tables the open file has, in `presets` order, each with the series it can offer."""
    tables = read_tables(connection, presets)
    matches = []
    for preset in presets:
        values = _placeholders(preset, tables)
        chosen: dict[str, QuerySeries] = {}
        used: dict[str, None] = {}  # the tables read, in first-use order
        for template in preset.series:
            if template.name in chosen:
                continue
            series = _fill(template, values)
            if series is None:
                continue
            try:
                check_sql(connection, series.sql)
            except QueryError:
                continue  # the file's table is not the shape we expected (a view, odd types): not offered
            chosen[template.name] = series
            used.update((values[key][0], None) for key, _ in PLACEHOLDER.findall(template.sql))
        if chosen:
            matches.append(Match(preset, tuple(chosen.values()), tuple(used)))
    return matches


def _placeholders(preset: Preset, tables: Mapping[str, tuple[str, Columns]]) -> dict[str, tuple[str, dict[str, str]]]:
    """{table key: (table name in the file, {column placeholder: quoted column})}, for the tables found;
    a table is the first of its names present, a column the first of its alternatives that table has."""
    values: dict[str, tuple[str, dict[str, str]]] = {}
    for table in preset.requires:
        present = next((tables[name.lower()] for name in table.names if name.lower() in tables), None)
        if present is None:
            continue
        name, columns = present
        filled = {}
        for placeholder, alternatives in table.columns:
            column = next((columns[alt.lower()] for alt in alternatives if alt.lower() in columns), None)
            if column is not None:
                filled[placeholder] = quote_identifier(column)
        values[table.key] = (name, filled)
    return values


def _fill(template: QuerySeries, values: Mapping[str, tuple[str, Mapping[str, str]]]) -> QuerySeries | None:
    """The template with its placeholders filled, or None when one of them was not found."""
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        key, column = match.group(1), match.group(2)
        found = values.get(key)
        if found is None or (column and column not in found[1]):
            missing = True
            return ""
        return found[1][column] if column else quote_identifier(found[0])

    sql = PLACEHOLDER.sub(substitute, template.sql)
    return None if missing else QuerySeries(
        template.name, sql, template.interval, template.budget_ms, template.unit, template.rule
    )
