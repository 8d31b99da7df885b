from desktop_app.core.words import counted


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert counted(1, "table") == "1 table"
    assert [counted(n, "table") for n in (0, 2, 1500)] == ["0 tables", "2 tables", "1,500 tables"]
    assert counted(3, "index") == "3 indexes"
    assert counted(2, "index or trigger", "indexes and triggers") == "2 indexes and triggers"
