"""Foreign keys on real files: keys (composite ones too), the row a reference points at, and the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core import foreign_keys
from desktop_app.core.database import connect_read
from desktop_app.core.errors import QueryError, QueryInterrupted
from tests.conftest import write_database


@pytest.fixture
def fk_db(tmp_path: Path) -> Path:
    path = tmp_path / "fk.db"
    return write_database(
        path,
        """
        PRAGMA foreign_keys = OFF;
        CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE pair(x TEXT, y INTEGER, PRIMARY KEY (x, y)) WITHOUT ROWID;
        CREATE TABLE plain(code TEXT UNIQUE);
        CREATE TABLE child(
            id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent, px TEXT, py INTEGER, code TEXT,
            FOREIGN KEY (px, py) REFERENCES pair(x, y), FOREIGN KEY (code) REFERENCES plain(code)
        );
        INSERT INTO parent VALUES (1, 'one'), (2, 'two');
        INSERT INTO pair VALUES ('a', 1);
        INSERT INTO plain VALUES ('c1');
        INSERT INTO child VALUES (10, 1, 'a', 1, 'c1'), (11, 99, 'a', 1, 'c1'), (12, 2, 'a', 7, NULL);
        """,
    )


def test_keys_and_references_are_found_by_key(fk_db: Path) -> None:
    connection = connect_read(fk_db)
    try:
        keys = foreign_keys.foreign_keys(connection, "child")
        described = sorted(key.describe() for key in keys)
        assert described == ["code → plain(code)", "parent_id → parent", "px, py → pair(x, y)"]
        by_parent = {key.parent: key for key in keys}
        assert foreign_keys.locate(connection, by_parent["parent"], (2,))[1] == (2,)  # the implicit primary key
        relation, cursor = foreign_keys.locate(connection, by_parent["pair"], ("a", 1))
        assert relation.kind == "without rowid" and cursor == ("a", 1)
        relation, cursor = foreign_keys.locate(connection, by_parent["plain"], ("c1",))
        assert relation.key == ("rowid",) and cursor == (1,)  # the parent's rowid, found by its UNIQUE column
        assert foreign_keys.locate(connection, by_parent["parent"], (99,))[1] is None
        with pytest.raises(QueryError, match="NULL"):
            foreign_keys.locate(connection, by_parent["plain"], (None,))
    finally:
        connection.close()


def test_the_check_lists_each_row_that_refers_to_no_row(fk_db: Path) -> None:
    connection = connect_read(fk_db)
    steps: list[tuple[int, int]] = []
    try:
        report = foreign_keys.check(connection, progress=lambda done, total: steps.append((done, total)))
        with pytest.raises(QueryInterrupted):
            foreign_keys.check(connection, cancelled=lambda: True)
    finally:
        connection.close()
    found = sorted((v.table, v.rowid, v.parent) for v in report.violations)
    assert found == [("child", 11, "parent"), ("child", 12, "pair")]
    assert not report.ok and report.tables == 1 and steps == [(1, 1)]
    assert "child row 12: px, py → pair(x, y) has no matching row" in [v.describe() for v in report.violations]


def test_violations_past_the_limit_are_counted_not_listed_and_a_mismatch_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "many.db"
    write_database(
        path,
        """
        CREATE TABLE p(id INTEGER PRIMARY KEY, label TEXT);
        CREATE TABLE c(id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p);
        CREATE TABLE odd(label TEXT REFERENCES p(label));
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) INSERT INTO c SELECT i, i FROM n;
        """,
    )
    monkeypatch.setattr(foreign_keys, "MAX_VIOLATIONS", 100)
    reader = connect_read(path)
    try:
        report = foreign_keys.check(reader)
    finally:
        reader.close()
    assert (len(report.violations), report.more) == (100, 150)
    assert [v.rowid for v in report.violations[:3]] == [1, 2, 3]
    assert len(report.problems) == 1 and report.problems[0].startswith("odd: foreign key mismatch")
    assert "250 rows" in report.describe() and "1 key could not be checked" in report.describe()
