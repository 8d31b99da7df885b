"""Run a structure `Plan` in one transaction on the connection its caller owns (the session's one writer).

For a rebuild, foreign key enforcement is switched off around the transaction (SQLite ignores the pragma
inside one; DROP TABLE would otherwise delete or refuse the children's rows) and put back as it was. Before
COMMIT, the foreign keys of the rebuilt table and of the tables pointing at it are checked: a violation the
change introduced rolls everything back and the rows are listed (violations that were there before are not
held against the change). Views that worked before and fail after roll it back too, named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apsw
from apsw.ext import quote_name

from desktop_app.core.database import pragma_int

# BEGIN IMMEDIATE ... COMMIT, apsw errors typed, rolled back on any error: the grid's edits use the same
from desktop_app.core.edit import _transaction
from desktop_app.core.structure.model import StructureError
from desktop_app.core.structure.plan import Plan, broken_views, first_line, sqlite_message
from desktop_app.core.words import counted

if TYPE_CHECKING:
    from desktop_app.core.session import Session

SHOWN_VIOLATIONS = 10


class ForeignKeyViolation(StructureError):
    """The change would leave rows whose foreign key points at nothing: nothing was changed."""


def apply(connection: apsw.Connection, plan: Plan) -> None:
    """Run `plan`, all or nothing. StructureError (or a typed PulseError) says why nothing changed."""
    enforced = bool(pragma_int(connection, "foreign_keys"))
    legacy = pragma_int(connection, "legacy_alter_table")  # a rebuild turns it on for one step
    if plan.rebuild and enforced:
        connection.execute("PRAGMA foreign_keys = OFF")
    try:
        with _transaction(connection):
            _check_still_valid(connection, plan)
            keys_before = _violations(connection, plan.check_keys)
            views_before = broken_views(connection, plan.views)
            for statement in plan.statements:
                try:
                    connection.execute(statement)
                except (apsw.SQLError, apsw.ConstraintError) as exc:
                    raise StructureError(f"{first_line(statement)}: {sqlite_message(exc)}. Nothing was changed.") from exc
            _check_keys(connection, plan, keys_before)
            _check_views(connection, plan, views_before)
    finally:
        if plan.rebuild and enforced:
            connection.execute("PRAGMA foreign_keys = ON")
        if pragma_int(connection, "legacy_alter_table") != legacy:  # a failure between its ON and OFF
            connection.execute(f"PRAGMA legacy_alter_table = {legacy}")


def _check_still_valid(connection: apsw.Connection, plan: Plan) -> None:
    if plan.schema_version is not None and pragma_int(connection, "schema_version") != plan.schema_version:
        raise StructureError("The schema changed since this change was prepared: nothing was changed. Review it again.")
    if plan.require_empty and connection.execute(f"SELECT 1 FROM {quote_name(plan.require_empty)} LIMIT 1").fetchall():
        raise StructureError(
            f"{plan.require_empty} has rows now, so dropping it could not be undone: nothing was changed. "
            "Review the change again."
        )


def _violations(connection: apsw.Connection, tables: tuple[str, ...]) -> set[tuple]:
    """(table, rowid, parent) of every row whose foreign key points at nothing, in `tables`."""
    found: set[tuple] = set()
    for table in tables:
        try:
            rows = connection.execute(f"PRAGMA foreign_key_check({quote_name(table)})").fetchall()
        except apsw.SQLError as exc:  # "foreign key mismatch": the parent key is not a key any more
            raise StructureError(f"The foreign keys of {table} no longer match their parent: {sqlite_message(exc)}. "
                                 "Nothing was changed.") from exc
        found.update((str(child), rowid, str(parent)) for child, rowid, parent, _fkid in rows)
    return found


def _check_keys(connection: apsw.Connection, plan: Plan, before: set[tuple]) -> None:
    new = sorted(_violations(connection, plan.check_keys) - before, key=lambda row: (row[0], row[1] or 0))
    if not new:
        return
    shown = "; ".join(f"{child} row {rowid} → {parent}" for child, rowid, parent in new[:SHOWN_VIOLATIONS])
    more = f" and {len(new) - SHOWN_VIOLATIONS:,} more" if len(new) > SHOWN_VIOLATIONS else ""
    raise ForeignKeyViolation(
        f"The change would break {counted(len(new), 'foreign key')}, so nothing was changed: {shown}{more} "
        "(each points at a row that is not there)."
    )


def _check_views(connection: apsw.Connection, plan: Plan, before: dict[str, str]) -> None:
    after = broken_views(connection, plan.views)
    newly = sorted(set(after) - set(before))
    if newly:
        raise StructureError(
            f"The view {newly[0]} would no longer work after this change ({after[newly[0]]}), so nothing was changed: "
            "drop or change the view first."
        )


async def change(session: Session, plan: Plan) -> None:
    """Run `plan` on `session`'s one write connection (refused on a read-only open), then re-read the schema
    at once (the app's own commits raise no event)."""
    await session.write(lambda connection: apply(connection, plan))
    await session.refresh_schema()
