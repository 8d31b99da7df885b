"""Keyset browsing on real files: every order, filter and relation kind pages exactly like one big query."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from desktop_app.core import keyset
from desktop_app.core.keyset import BrowseSpec, Condition, FilterError, parse_filter

ODD_NAME = 'my "odd" table'


@pytest.fixture
def connection(tmp_path: Path):
    path = tmp_path / "browse.db"
    writer = apsw.Connection(str(path))
    writer.execute(
        f"""
        CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, score REAL);
        CREATE INDEX t_grp ON t(grp);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
        INSERT INTO t(grp, name, score) SELECT CASE WHEN i % 9 = 0 THEN NULL ELSE i % 5 END,
            'name ' || (i * 7 % 13), CASE WHEN i % 4 = 0 THEN NULL ELSE i * 0.5 END FROM n;
        CREATE TABLE w(a TEXT, b INTEGER, v, PRIMARY KEY (a, b)) WITHOUT ROWID;
        INSERT INTO w SELECT 'k' || (id % 6), id, CASE WHEN id % 3 = 0 THEN NULL ELSE id END FROM t;
        CREATE VIEW v AS SELECT grp, count(*) AS n FROM t GROUP BY grp;
        CREATE VIRTUAL TABLE f USING fts5(body);
        INSERT INTO f(body) SELECT name || ' ' || id FROM t;
        CREATE VIRTUAL TABLE r USING rtree(id, x0, x1);
        INSERT INTO r SELECT id, id, id + 1 FROM t;
        CREATE TABLE "{ODD_NAME.replace('"', '""')}"("first col" TEXT, "it's" INTEGER);
        INSERT INTO "{ODD_NAME.replace('"', '""')}" SELECT name, id FROM t;
        CREATE TABLE x(secret TEXT); INSERT INTO x VALUES ('still here');
        """
    )
    writer.close()
    reader = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    yield reader
    reader.close()


def everything(connection, spec: BrowseSpec) -> list[tuple]:
    """The reference: one plain query in the same order."""
    name = keyset.quote_identifier(spec.relation.name)
    where, values = keyset.where_clause(spec.conditions)
    order = ", ".join(
        f"{keyset.quote_identifier(c)}{' DESC' if spec.descending else ''}" for c in spec.order_columns()
    )
    sql = f"SELECT * FROM {name}" + (f" WHERE {where}" if where else "") + (f" ORDER BY {order}" if order else "")
    return connection.execute(sql, values).fetchall()


def walk(connection, spec: BrowseSpec, limit: int = 7, backward: bool = False) -> list[tuple]:
    rows, cursor = [], None
    while True:
        page = keyset.fetch_page(connection, spec, after=cursor, limit=limit, backward=backward)
        rows = page.rows + rows if backward else rows + page.rows
        if page.complete:
            return rows
        cursor = page.first if backward else page.last


@pytest.mark.parametrize("name", ["t", "w", "v", "f", "r", ODD_NAME])
def test_every_order_pages_like_one_query_both_ways(connection, name: str) -> None:
    relation = keyset.describe(connection, name)
    for sort in (None, *relation.columns):
        for descending in (False, True):
            spec = BrowseSpec(relation, sort, descending)
            expected = everything(connection, spec)
            if not relation.paged_by_key and sort is not None:
                # ties in a view's order have no key: compare as multisets per position of the sort column
                assert sorted(map(repr, walk(connection, spec))) == sorted(map(repr, expected))
                continue
            assert walk(connection, spec) == expected, (sort, descending)
            assert walk(connection, spec, backward=True) == expected, (sort, descending, "backward")


def test_relations_say_how_they_are_paged(connection) -> None:
    kinds = {name: keyset.describe(connection, name) for name in ("t", "w", "v", "f", "r", ODD_NAME)}
    assert kinds["t"].key == ("id",) and kinds["t"].rowid_alias == "id"
    assert kinds["w"].kind == "without rowid" and kinds["w"].key == ("a", "b")
    assert kinds["v"].kind == "view" and not kinds["v"].paged_by_key and "OFFSET" in kinds["v"].paging_note
    assert kinds["f"].kind == "virtual" and kinds["f"].key == ("rowid",)
    assert kinds["r"].key == ("rowid",)
    assert kinds[ODD_NAME].columns == ("first col", "it's") and kinds[ODD_NAME].key == ("rowid",)
    with pytest.raises(keyset.QueryError, match="no table or view"):
        keyset.describe(connection, "nope")


def test_go_to_row_lands_where_offset_does(connection) -> None:
    for name, sort in (("t", "grp"), ("t", "score"), ("w", "v"), ("t", None), ("v", "n")):
        relation = keyset.describe(connection, name)
        for descending in (False, True):
            spec = BrowseSpec(relation, sort, descending, (Condition("grp", "!=", (3,)),) if name == "t" else ())
            expected = everything(connection, spec)
            for index in (0, 1, 17, len(expected) - 1):
                cursor = keyset.cursor_at(connection, spec, index)
                page = keyset.fetch_page(connection, spec, after=cursor, inclusive=True, limit=5)
                if relation.paged_by_key or sort is None:
                    assert page.rows == expected[index : index + 5]
                else:  # a view sorted by a column with ties: its own order breaks them by every column
                    assert [row[1] for row in page.rows] == [row[1] for row in expected[index : index + 5]]
            if relation.paged_by_key:
                assert keyset.cursor_at(connection, spec, len(expected)) is None


def test_filters_combine_and_count(connection) -> None:
    relation = keyset.describe(connection, "t")
    conditions = (parse_filter("grp", "=2"), parse_filter("score", ">10"), parse_filter("name", "me 1"))
    spec = BrowseSpec(relation, "score", True, conditions)
    expected = everything(connection, spec)
    assert expected and all(row[1] == 2 and row[3] > 10 and "me 1" in row[2] for row in expected)
    assert walk(connection, spec, limit=3) == expected
    assert keyset.count_rows(connection, spec) == len(expected)
    assert spec.select_sql() == (
        """SELECT * FROM "t" WHERE "grp" = 2 AND "score" > 10 AND "name" LIKE '%me 1%' ESCAPE '\\' """
        """ORDER BY "score" DESC"""
    )


def test_filter_values_are_bound_never_pasted(connection) -> None:
    relation = keyset.describe(connection, "t")
    nasty = "'); DROP TABLE x; --"
    for text in (nasty, f"={nasty}", f"{nasty}..{nasty}"):
        spec = BrowseSpec(relation, None, False, (parse_filter("name", text),))
        assert keyset.fetch_page(connection, spec, limit=10).rows == []
    assert connection.execute("SELECT secret FROM x").fetchall() == [("still here",)]
    literal = keyset.sql_literal(nasty)
    assert literal == "'''); DROP TABLE x; --'"
    assert connection.execute(f"SELECT {literal}").fetchall() == [(nasty,)]  # the copy is a proper literal


def test_odd_names_filter_and_sort(connection) -> None:
    relation = keyset.describe(connection, ODD_NAME)
    spec = BrowseSpec(relation, "it's", True, (parse_filter("first col", "name 1"),))
    rows = walk(connection, spec, limit=4)
    assert rows == everything(connection, spec) and rows[0][1] > rows[-1][1]
    assert '"my ""odd"" table"' in spec.select_sql()


@pytest.mark.parametrize(
    ("text", "op", "values"),
    [
        ("=11", "=", (11,)),
        ("== 11", "=", (11,)),
        (">5", ">", (5,)),
        ("<=3.5", "<=", (3.5,)),
        ("!=x", "!=", ("x",)),
        ("<>'7'", "!=", ("7",)),
        ("5..10", "between", (5, 10)),
        ("5-10", "between", (5, 10)),
        ("a..m", "between", ("a", "m")),
        ("%ab%", "like", ("%ab%",)),
        ("ab", "like", ("%ab%",)),
        ("50%_off", "like", ("50%_off",)),
        ("a_b", "like", ("%a\\_b%",)),
        ("!ab", "not like", ("%ab%",)),
        ("11", "=", (11,)),
        ("NULL", "is null", ()),
        ("is null", "is null", ()),
        ("!NULL", "is not null", ()),
        ("IS NOT NULL", "is not null", ()),
        ("2024-01-05", "like", ("%2024-01-05%",)),
    ],
)
def test_parse_filter(text: str, op: str, values: tuple) -> None:
    condition = parse_filter("c", text)
    assert (condition.op, condition.values) == (op, values)


@pytest.mark.parametrize("text", [">", "<= ", "5..", "..5"])
def test_invalid_filters_say_what_is_accepted(text: str) -> None:
    with pytest.raises(FilterError, match="c:"):
        parse_filter("c", text)


def test_plan_tells_an_indexed_sort_from_a_scan(connection) -> None:
    relation = keyset.describe(connection, "t")
    assert not keyset.page_plan(connection, BrowseSpec(relation, "grp")).sort_scans
    assert not keyset.page_plan(connection, BrowseSpec(relation, "id", True)).sort_scans
    assert keyset.page_plan(connection, BrowseSpec(relation, "score")).sort_scans
    filtered = BrowseSpec(relation, None, False, (parse_filter("grp", "=1"),))
    assert not keyset.page_plan(connection, filtered).filter_scans
    assert keyset.page_plan(connection, BrowseSpec(relation, None, False, (parse_filter("name", "x"),))).filter_scans


def test_go_to_row_with_a_known_total_walks_from_the_nearer_end_or_not_at_all(connection) -> None:
    for name, sort, conditions in (("t", None, ()), ("t", "grp", ()), ("t", None, (parse_filter("grp", "!=3"),))):
        relation = keyset.describe(connection, name)
        for descending in (False, True):
            spec = BrowseSpec(relation, sort, descending, conditions)
            total = keyset.count_rows(connection, spec)
            for index in (0, 5, total // 2, total // 2 + 1, total - 1, total):
                assert keyset.cursor_at(connection, spec, index, total) == keyset.cursor_at(connection, spec, index)


def test_query_returns_every_row_in_the_grid_order_with_bound_values(connection) -> None:
    relation = keyset.describe(connection, "t")
    spec = BrowseSpec(relation, "grp", True, (parse_filter("name", "'); DROP TABLE x; --"), parse_filter("score", "!NULL")))
    sql, values = spec.query()
    assert "DROP" not in sql and values[0] == "%'); DROP TABLE x; --%"
    assert connection.execute(sql, values).fetchall() == walk(connection, spec) == []
    spec = BrowseSpec(relation, "score", False, (parse_filter("grp", "1..3"),))
    sql, values = spec.query()
    assert connection.execute(sql, values).fetchall() == walk(connection, spec, limit=9)


def test_browsing_a_view_that_builds_a_gigabyte_value_is_a_clear_error(tmp_path: Path) -> None:
    """The data view's path: the browse worker's read connection, a keyset page of the view."""
    import asyncio

    from desktop_app.core.browse import BrowseWorker
    from desktop_app.core.database import open_database
    from desktop_app.core.errors import ValueTooBig

    path = tmp_path / "hostile.db"
    writer = apsw.Connection(str(path))
    writer.execute(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (1, 1000000000);"
        "CREATE VIEW huge_text AS SELECT id, printf('%.*c', 900000000, 'x') AS big FROM t;"
        "CREATE VIEW huge_blob AS SELECT id, zeroblob(n) AS big FROM t;"
    )
    writer.close()

    async def browse() -> None:
        worker = BrowseWorker(open_database(path))
        try:
            for view in ("huge_text", "huge_blob"):
                spec = BrowseSpec(await worker.call(lambda c, view=view: keyset.describe(c, view)))
                with pytest.raises(ValueTooBig, match="larger than 256 MiB"):
                    await worker.call(lambda c, spec=spec: keyset.fetch_page(c, spec, limit=50))
            assert (await worker.call(lambda c: keyset.fetch_page(c, BrowseSpec(keyset.describe(c, "t")), limit=5))).rows
        finally:
            worker.close()

    asyncio.run(asyncio.wait_for(browse(), 60))
