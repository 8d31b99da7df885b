"""core/completion.py: the catalog from a real database, and what is offered where the cursor is."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from desktop_app.core.completion import Catalog, complete, read_catalog, tables_in_scope, tokens


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    connection = apsw.Connection(str(tmp_path / "music.db"))
    connection.execute(
        "CREATE TABLE Album(AlbumId INTEGER PRIMARY KEY, Title TEXT, ArtistId INTEGER);"
        "CREATE TABLE Track(TrackId INTEGER PRIMARY KEY, Name TEXT, AlbumId INTEGER, Milliseconds INTEGER);"
        'CREATE TABLE "Play List"("List Id" INTEGER, "order" TEXT);'
        "CREATE VIEW LongTracks AS SELECT TrackId, Name FROM Track WHERE Milliseconds > 600000;"
        "CREATE VIRTUAL TABLE notes USING fts5(body);"
    )
    found = read_catalog(connection)
    connection.close()
    return found


def at_bar(catalog: Catalog, text: str, *, forced: bool = False) -> list[str]:
    """What is offered where the cursor `¦` is in `text`."""
    position = text.index("¦")
    return complete(catalog, text.replace("¦", ""), position, forced=forced).items


def test_the_catalog_has_tables_views_their_columns_and_functions(catalog: Catalog) -> None:
    assert catalog.tables["Album"] == ("AlbumId", "Title", "ArtistId")
    assert catalog.tables["LongTracks"] == ("TrackId", "Name")
    assert catalog.tables["Play List"] == ("List Id", "order")
    assert "body" in catalog.tables["notes"] and "notes" not in catalog.tables["notes"]  # fts5's hidden column
    assert {"json_extract", "substr", "count"} <= set(catalog.functions)
    assert catalog.schema_version > 0


def test_after_an_alias_dot_only_that_tables_columns(catalog: Catalog) -> None:
    assert at_bar(catalog, "SELECT a.¦ FROM Album a") == ["AlbumId", "Title", "ArtistId"]
    assert at_bar(catalog, "SELECT t.Na¦ FROM Album AS a JOIN Track AS t ON t.AlbumId = a.AlbumId") == ["Name"]
    assert at_bar(catalog, "SELECT x.¦ FROM Album a") == []  # no such alias
    assert at_bar(catalog, "SELECT Track.Mi¦ FROM Track") == ["Milliseconds"]  # the table's own name
    assert at_bar(catalog, 'SELECT p.¦ FROM "Play List" p') == ['"List Id"', '"order"']  # as they must be typed


def test_aliases_are_found_in_the_statement_at_the_cursor_only(catalog: Catalog) -> None:
    text = "SELECT * FROM Track t;\nSELECT t.¦ FROM Album t;\nSELECT * FROM Track AS t"
    assert at_bar(catalog, text) == ["AlbumId", "Title", "ArtistId"]
    statement = [token for token in tokens("SELECT * FROM main.Album AS a, Track t WHERE a.AlbumId = 1") if token.kind != "space"]
    assert tables_in_scope(statement) == (["Album", "Track"], {"a": "Album", "t": "Track"})


def test_words_offer_columns_in_scope_then_tables_functions_keywords(catalog: Catalog) -> None:
    assert at_bar(catalog, "SELECT Ti¦ FROM Album") == ["Title", "time", "timediff", "TIES"]
    assert at_bar(catalog, "SELECT * FROM Al¦") == ["Album", "ALL", "ALTER", "ALWAYS"]
    assert at_bar(catalog, "sel¦") == ["SELECT"]
    assert at_bar(catalog, "SELECT * FROM Pl¦") == ['"Play List"', "PLAN"]
    assert "Milliseconds" not in at_bar(catalog, "SELECT Mi¦ FROM Album")  # Track is not in scope


def test_typing_waits_for_two_characters_ctrl_space_does_not(catalog: Catalog) -> None:
    assert at_bar(catalog, "SELECT T¦ FROM Album") == []
    forced = at_bar(catalog, "SELECT T¦ FROM Album", forced=True)
    assert forced[:2] == ["Title", "Track"] and "TABLE" in forced
    assert len(at_bar(catalog, "SELECT ¦ FROM Album", forced=True)) > 300  # everything, the columns first
    assert at_bar(catalog, "SELECT ¦ FROM Album", forced=True)[:3] == ["AlbumId", "Title", "ArtistId"]


def test_nothing_inside_strings_comments_numbers_or_for_a_finished_word(catalog: Catalog) -> None:
    assert at_bar(catalog, "SELECT 'Al¦ FROM Album") == []
    assert at_bar(catalog, "SELECT * FROM Album -- Ti¦") == []
    assert at_bar(catalog, "SELECT * /* Ti¦ */ FROM Album") == []
    assert at_bar(catalog, "SELECT 12¦ FROM Album") == []
    assert at_bar(catalog, "SELECT 'x' || Ti¦ FROM Album")[:1] == ["Title"]  # after a closed string
    assert at_bar(catalog, "SELECT * FROM Album WHERE¦") == []  # complete already


def test_a_view_that_no_longer_compiles_does_not_hide_the_others(tmp_path: Path) -> None:
    connection = apsw.Connection(str(tmp_path / "broken.db"))
    connection.execute("CREATE TABLE t(a, b); CREATE VIEW v AS SELECT a FROM t; ALTER TABLE t RENAME TO u")
    connection.execute("PRAGMA legacy_alter_table=ON; ALTER TABLE u RENAME TO w")  # v now names a missing table
    catalog = read_catalog(connection)
    connection.close()
    assert catalog.tables["w"] == ("a", "b")
    assert catalog.tables["v"] == ()


def test_in_a_long_script_only_the_lines_around_the_cursor_are_read(catalog: Catalog) -> None:
    filler = "".join(f"INSERT INTO Track(Name) VALUES ('song {n}');\n" for n in range(20_000))  # ~900 KB
    text = filler + "SELECT t.Na FROM Track t;\n" + filler
    position = len(filler) + len("SELECT t.Na")
    found = complete(catalog, text, position, forced=False)
    assert found.items == ["Name"] and text[found.start : position] == "Na"
    long_line = "SELECT 'x" + " y" * 10_000 + " Ti"  # one line longer than the window: read whole
    assert complete(catalog, long_line, len(long_line), forced=False).items == []  # inside the string
    closed = long_line.replace("'x", "'x'")
    assert "time" in complete(catalog, closed, len(closed), forced=False).items
