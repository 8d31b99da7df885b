"""migrate's planning scan reads only the first and last storage class of each column (min/max(typeof)):
for every set of classes a column can hold, with or without NULLs, and every affinity, that gives the type
the whole set gives."""

from __future__ import annotations

from itertools import combinations

import pytest

from desktop_app.core.postgres.migrate import pg_type_for, present_classes

CLASSES = ("integer", "real", "text", "blob")


@pytest.mark.parametrize("declared", ["INTEGER", "REAL", "TEXT", "BLOB", "", "NUMERIC", "DATETIME", "NUMERIC(10,2)"])
def test_the_first_and_last_class_give_the_type_of_every_class_present(declared: str) -> None:
    for size in range(5):
        for held in combinations(CLASSES, size):
            for with_null in (False, True):
                names = set(held) | ({"null"} if with_null else set())
                first, last = (min(names), max(names)) if names else (None, None)
                assert pg_type_for(declared, present_classes(first, last)) == pg_type_for(declared, set(held)), (
                    declared, held, with_null)
                numbers_only = set(held) <= {"integer", "real"}
                assert (present_classes(first, last) <= {"integer", "real"}) == numbers_only, (held, with_null)
