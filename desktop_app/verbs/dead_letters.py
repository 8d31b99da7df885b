"""`sqlite-pulse dead-letters DB list|show|replay|resolve|purge`: act on an ingest's dead letters (core/dead_letters.py).

`list` and `show` only read (an older file is not migrated, and -wal/-shm a read connection had to create are
tidied away as `audit` does). `replay`, `resolve` and `purge` write: on a file made before the status and
note columns existed they add them first (ALTER TABLE, no rewrite) and say so on stderr. Writes take the
lock with BEGIN IMMEDIATE and a busy timeout in short transactions, so an ingest writing the same file only
waits a moment. Exit 0 done, 1 `replay` left letters dead, 2 bad input (one line, from cli.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import apsw

    from desktop_app.core.dead_letters import LetterFilter, ReplayResult

T = TypeVar("T")
EXIT_OK = 0
EXIT_STILL_DEAD = 1
WRITE_BUSY_TIMEOUT_MS = 10_000  # an ingest's batch commits in milliseconds; a long console write may not
REASON_WIDTH = 70


def register(subparsers: argparse._SubParsersAction) -> None:
    verb = subparsers.add_parser(
        "dead-letters",
        help="list, show, replay, resolve or purge an ingest's dead letters",
        description="Act on the messages an ingest could not store (the pulse_dead_letters table).",
    )
    verb.add_argument("db", type=Path)
    actions = verb.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="letters newest first (read-only)")
    _filters(listing)
    listing.add_argument("--status", choices=("open", "replayed", "resolved"))
    listing.add_argument("--limit", type=int, default=200, metavar="N", help="at most N letters (default 200)")
    listing.add_argument("--before", type=int, metavar="ID", help="only letters older than this id (the next page)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="one letter with its raw bytes (text, or a hex dump)")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print one JSON object (raw as text, or hex)")
    show.set_defaults(handler=run_show)

    replay = actions.add_parser(
        "replay", help="run open letters through the mapping again (after fixing the table); exit 1 if some stay dead"
    )
    _selection(replay)
    replay.add_argument("--all-open", action="store_true", help="every open letter")
    replay.add_argument("--json", action="store_true", help="print one JSON object")
    replay.set_defaults(handler=run_replay)

    resolve = actions.add_parser("resolve", help="mark open letters resolved, with a note")
    _selection(resolve)
    resolve.add_argument("--note", required=True, help="what was done about them")
    resolve.add_argument("--json", action="store_true", help="print one JSON object")
    resolve.set_defaults(handler=run_resolve)

    purge = actions.add_parser("purge", help="delete resolved (or replayed) letters; without --yes only counts them")
    purge.add_argument("--status", choices=("resolved", "replayed"), default="resolved")
    purge.add_argument("--older-than", metavar="AGE", help="only those settled more than AGE ago (30m, 12h, 7d)")
    purge.add_argument("--yes", action="store_true", help="delete them (otherwise say how many would go)")
    purge.add_argument("--json", action="store_true", help="print one JSON object")
    purge.set_defaults(handler=run_purge)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", metavar="TEXT", help="reasons containing TEXT (any case)")
    parser.add_argument("--since", metavar="TIME", help="received at or after TIME: ISO 8601, Unix seconds, or 1h ago")
    parser.add_argument("--until", metavar="TIME", help="received before TIME")
    parser.add_argument("--table", metavar="NAME", help="letters for this target table")


def _selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ids", metavar="ID,ID", help="these letters")
    _filters(parser)


def _filter(args: argparse.Namespace, *, status: str | None = None, require: bool = False) -> LetterFilter:
    from desktop_app.core.dead_letters import DeadLetterError, LetterFilter, parse_ids, parse_time  # noqa: PLC0415

    ids = parse_ids(args.ids) if getattr(args, "ids", None) else None
    flt = LetterFilter(
        ids=ids,
        reason=args.reason,
        since=parse_time(args.since) if args.since else None,
        until=parse_time(args.until) if args.until else None,
        status=status,
        table=args.table,
    )
    chosen = ids is not None or any((args.reason, args.since, args.until, args.table, getattr(args, "all_open", False)))
    if require and not chosen:
        raise DeadLetterError(
            f"Say which letters to {args.action}: --ids 3,4, --reason TEXT, --since/--until TIME, --table NAME"
            + (" or --all-open." if args.action == "replay" else ".")
        )
    return flt


# -- connections -------------------------------------------------------------------------------------------------


def _reading(args: argparse.Namespace, work: Callable[[apsw.Connection], T]) -> T:
    from desktop_app.core.database import open_database  # noqa: PLC0415
    from desktop_app.verbs.audit import companions_as_found  # noqa: PLC0415

    path = Path(args.db).expanduser().absolute()
    with companions_as_found(path):
        connection = open_database(path, read_only=True).connect_read()
        try:
            return work(connection)
        finally:
            connection.close()


def _writer(args: argparse.Namespace) -> apsw.Connection:
    """A write connection whose dead-letter table has the status columns (added now if missing, said on stderr)."""
    from desktop_app.core import dead_letters  # noqa: PLC0415
    from desktop_app.core.database import connect_write, open_database  # noqa: PLC0415

    database = open_database(Path(args.db).expanduser(), read_only=False)
    connection = connect_write(database.path, busy_timeout_ms=WRITE_BUSY_TIMEOUT_MS)
    try:
        if dead_letters.missing_columns(connection) and dead_letters.migrate(connection):
            print(f"sqlite-pulse: added status and note columns to {dead_letters.DEAD_LETTER_TABLE}", file=sys.stderr)
    except BaseException:
        connection.close()
        raise
    return connection


# -- the actions -------------------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    from desktop_app.core import dead_letters  # noqa: PLC0415

    flt = _filter(args, status=args.status)
    letters = _reading(
        args, lambda c: dead_letters.list_letters(c, flt, limit=args.limit, after_id=args.before)
    )
    if args.json:
        print(json.dumps({"letters": [letter.to_dict() for letter in letters],
                          "next_before": letters[-1].id if len(letters) == args.limit else None}))
        return EXIT_OK
    if not letters:
        print("No dead letters match.")
        return EXIT_OK
    print(f"{'ID':>8}  {'RECEIVED':<25}  {'TABLE':<16}  {'STATUS':<8}  {'SIZE':>8}  REASON")
    for letter in letters:
        reason = letter.reason if len(letter.reason) <= REASON_WIDTH else letter.reason[: REASON_WIDTH - 1] + "…"
        print(f"{letter.id:>8}  {dead_letters.iso_time(letter.received_at):<25}  {letter.target_table:<16}  "
              f"{letter.status:<8}  {letter.size:>8,}  {reason}")
    if len(letters) == args.limit:
        print(f"(the newest {args.limit:,}; older ones: --before {letters[-1].id})")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    from desktop_app.core import dead_letters  # noqa: PLC0415

    letter = _reading(args, lambda c: dead_letters.show(c, args.id))
    if args.json:
        print(json.dumps(letter.to_dict(with_raw=True)))
        return EXIT_OK
    print(f"Dead letter {letter.id} for {letter.target_table}, received {dead_letters.iso_time(letter.received_at)}")
    print(f"Reason: {letter.reason}")
    print(f"Status: {letter.status}" + (f" ({letter.note})" if letter.note else ""))
    kind, shown = dead_letters.render_raw(letter.raw or b"")
    print(f"Raw ({letter.size:,} bytes, {'UTF-8 text' if kind == 'text' else 'not UTF-8: hex dump'}):")
    print(shown)
    return EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    from desktop_app.core import dead_letters  # noqa: PLC0415

    flt = _filter(args, require=True)
    connection = _writer(args)
    try:
        result = dead_letters.replay(connection, flt)
    finally:
        connection.close()
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_replay(result))
    return EXIT_STILL_DEAD if result.still_dead else EXIT_OK


def format_replay(result: ReplayResult) -> str:
    if not result.selected:
        lines = ["No open dead letters matched: nothing replayed."]
    else:
        lines = [f"Replayed {_letters(result.selected)}: {result.written:,} written as rows, "
                 f"{result.still_dead:,} still dead."]
        for reason, count in result.reasons().most_common():
            lines.append(f"  {count:>6,}  {reason}")
        if result.failures:
            letter, reason = result.failures[0]
            lines.append(f"  e.g. letter {letter}: {reason}")
    if result.not_open:
        shown = ", ".join(map(str, result.not_open[:10])) + (" …" if len(result.not_open) > 10 else "")
        lines.append(f"Not open (missing, replayed or resolved), left alone: {shown}")
    return "\n".join(lines)


def run_resolve(args: argparse.Namespace) -> int:
    from desktop_app.core import dead_letters  # noqa: PLC0415

    flt = _filter(args, require=True)
    if not args.note.strip():
        raise dead_letters.DeadLetterError("--note is empty: say what was done about these letters.")
    connection = _writer(args)
    try:
        count = dead_letters.resolve(connection, flt, args.note)
    finally:
        connection.close()
    print(json.dumps({"resolved": count}) if args.json else f"Resolved {_letters(count)}.")
    return EXIT_OK


def run_purge(args: argparse.Namespace) -> int:
    from desktop_app.core import dead_letters  # noqa: PLC0415

    older = dead_letters.parse_duration(args.older_than) if args.older_than else None
    age = f" settled more than {args.older_than} ago" if args.older_than else ""
    if not args.yes:
        def would_go(connection: apsw.Connection) -> int:
            dead_letters.require_table(connection)  # a file without one is bad input, not "0 would go"
            return dead_letters.purgeable(connection, args.status, older)

        count = _reading(args, would_go)
        if args.json:
            print(json.dumps({"would_delete": count, "deleted": 0}))
        else:
            print(f"Would delete {_letters(count, args.status)}{age}; add --yes to delete them.")
        return EXIT_OK
    connection = _writer(args)
    try:
        deleted = dead_letters.purge(connection, args.status, older)
    finally:
        connection.close()
    print(json.dumps({"deleted": deleted}) if args.json else f"Deleted {_letters(deleted, args.status)}{age}.")
    return EXIT_OK


def _letters(count: int, status: str = "") -> str:
    return f"{count:,} {status + ' ' if status else ''}letter{'s' * (count != 1)}"
