"""File ▸ Import: the dialog previews as the choices change, imports as a job with progress, cancels with a
rollback, and refuses a read-only open."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from desktop_app.core.errors import DatabaseReadOnly, QueryInterrupted
from desktop_app.core.importer import ImportResult
from desktop_app.core.importer import plan as plan_module
from desktop_app.ui.import_dialog import ImportDialog, open_import
from tests.conftest import read_rows

from .conftest import open_in

pytestmark = pytest.mark.gui


def make_dialog(qtbot, session, path: Path) -> tuple[ImportDialog, list]:
    dialog = ImportDialog(session, path)
    qtbot.addWidget(dialog)
    previews: list = []
    dialog.previewed.connect(previews.append)
    qtbot.waitUntil(lambda: bool(previews), timeout=10_000)
    return dialog, previews


def finish(qtbot, dialog: ImportDialog) -> object:
    outcomes: list = []
    dialog.finished_import.connect(outcomes.append)
    dialog.start()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=20_000)
    return outcomes[0]


def test_the_preview_follows_the_choices_and_the_types_chosen_are_created(
    qtbot, open_session, db_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "prices.txt"
    source.write_text("1;007;2,5\n2;010;3,5\n")
    session = open_session(db_path)
    dialog, previews = make_dialog(qtbot, session, source)
    assert dialog.detected.text() == "Read as: CSV, semicolon-separated, no header, UTF-8"
    assert [dialog.grid.horizontalHeaderItem(i).text() for i in range(3)] == ["column_1", "column_2", "column_3"]
    assert dialog.grid.item(1, 1).text() == "007"
    dialog.header_box.setCurrentText("First row is the header")
    qtbot.waitUntil(lambda: len(previews) == 2 and dialog.grid.horizontalHeaderItem(1).text() == "007", timeout=10_000)
    assert dialog.grid.rowCount() == 2  # the type row and one data row
    dialog.header_box.setCurrentText("No header")
    dialog.encoding_box.setCurrentText("latin-1")
    qtbot.waitUntil(lambda: dialog.detected.text().endswith("no header, latin-1 (as asked)"), timeout=10_000)
    dialog.delimiter_box.setCurrentText("Comma")
    qtbot.waitUntil(lambda: dialog.grid.columnCount() == 2, timeout=10_000)  # 1;007;2 | 5
    dialog.delimiter_box.setCurrentText("Detect")
    qtbot.waitUntil(lambda: dialog.grid.columnCount() == 3, timeout=10_000)
    dialog.set_type("column_1", "TEXT")
    dialog.table_edit.setText("prices")
    result = finish(qtbot, dialog)
    assert isinstance(result, ImportResult) and result.rows == 2
    assert dialog.progress.value() == dialog.progress.maximum()
    assert "Imported 2 rows into the new table prices" in dialog.status.text()
    assert read_rows(db_path, "SELECT column_1, typeof(column_1), column_2, column_3 FROM prices") == [
        ("1", "text", "007", "2,5"), ("2", "text", "010", "3,5")
    ]
    qtbot.waitUntil(lambda: any(o.name == "prices" for o in session.schema), timeout=10_000)


def test_a_bad_row_fails_naming_its_line_and_nothing_is_written(qtbot, open_session, db_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("a,b\n1,2\n3\n")
    session = open_session(db_path)
    dialog, _ = make_dialog(qtbot, session, source)
    outcome = finish(qtbot, dialog)
    assert "Line 3: expected 2 fields, got 1" in str(outcome)
    assert dialog.status.text().startswith("Import failed, nothing was imported")
    assert read_rows(db_path, "SELECT count(*) FROM sqlite_schema WHERE name = 'bad'") == [(0,)]


def test_cancel_while_importing_rolls_back(
    qtbot, open_session, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "ROWS_PER_TICK", 100)
    source = tmp_path / "many.csv"
    source.write_text("n,label\n" + "".join(f"{i},row {i}\n" for i in range(200_000)))
    session = open_session(db_path)
    dialog, _ = make_dialog(qtbot, session, source)
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    shown = dialog._show_progress

    def cancel_at_first_progress(progress) -> None:  # the job is mid-file: 100 of 200,000 rows
        shown(progress)
        dialog.cancel()

    dialog._show_progress = cancel_at_first_progress  # type: ignore[method-assign]
    outcome = finish(qtbot, dialog)
    assert isinstance(outcome, QueryInterrupted)
    assert dialog.status.text() == "Import cancelled: nothing was imported, the database is as it was."
    assert read_rows(db_path, "SELECT count(*) FROM sqlite_schema WHERE name = 'many'") == [(0,)]
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_closing_the_dialog_mid_import_rolls_back(
    qtbot, open_session, scripted, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan_module, "ROWS_PER_TICK", 100)
    source = tmp_path / "many.csv"
    source.write_text("n\n" + "".join(f"{i}\n" for i in range(200_000)))
    session = open_session(db_path)
    parent = QWidget()
    qtbot.addWidget(parent)
    scripted.paths.append(source)
    open_import(session, "csv", scripted, parent)
    dialog = parent.findChild(ImportDialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    outcomes: list = []
    dialog.finished_import.connect(outcomes.append)
    shown = dialog._show_progress

    deletes_on_close: list[bool] = []

    def close_at_first_progress(progress) -> None:
        shown(progress)
        if not deletes_on_close:  # more reports may arrive before the cancel reaches the write thread
            dialog.reject()
            deletes_on_close.append(dialog.testAttribute(Qt.WidgetAttribute.WA_DeleteOnClose))

    dialog._show_progress = close_at_first_progress  # type: ignore[method-assign]
    dialog.start()
    # The dialog deletes itself on close, but only once its import has ended: the ending still updates its
    # widgets and emits (on a deleted dialog that raises, and pytest-qt fails the test on the excepthook).
    qtbot.waitUntil(lambda: bool(outcomes), timeout=20_000)
    assert isinstance(outcomes[0], QueryInterrupted)
    assert deletes_on_close == [False]  # closed while running: deleted later, by the import's ending
    assert read_rows(db_path, "SELECT count(*) FROM sqlite_schema WHERE name = 'many'") == [(0,)]


def test_closing_the_dialog_as_its_import_commits_reports_the_end_without_touching_it(
    qtbot, open_session, scripted, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed just after the commit, while the schema is read again: the dialog goes at once, and what is
    left of the import's ending (the schema reload, the window's on_imported) still runs."""
    import asyncio

    source = tmp_path / "few.csv"
    source.write_text("n\n1\n2\n")
    session = open_session(db_path)
    gate: asyncio.Future = asyncio.get_running_loop().create_future()
    reloads: list[bool] = []
    refresh = session.refresh_schema

    async def slow_refresh() -> None:
        reloads.append(False)
        await gate
        await refresh()
        reloads.append(True)

    monkeypatch.setattr(session, "refresh_schema", slow_refresh)
    parent = QWidget()
    qtbot.addWidget(parent)
    scripted.paths.append(source)
    imported: list[bool] = []
    open_import(session, "csv", scripted, parent, on_imported=lambda: imported.append(True))
    dialog = parent.findChild(ImportDialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    gone: list[bool] = []
    dialog.destroyed.connect(lambda *_: gone.append(True))
    dialog.start()
    qtbot.waitUntil(lambda: bool(reloads), timeout=10_000)
    dialog.reject()
    qtbot.waitUntil(lambda: bool(gone), timeout=5000)
    gate.set_result(None)
    qtbot.waitUntil(lambda: reloads == [False, True], timeout=5000)
    assert imported == [True]
    assert read_rows(db_path, "SELECT count(*) FROM few") == [(2,)]


def test_an_sql_script_previews_its_statements_and_runs(qtbot, open_session, db_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "load.sql"
    source.write_text("CREATE TABLE s(n);\n\nINSERT INTO s VALUES (1);\n")
    session = open_session(db_path)
    dialog, _ = make_dialog(qtbot, session, source)
    assert [dialog.grid.item(1, 0).text(), dialog.grid.item(1, 1).text()] == ["3", "INSERT INTO s VALUES (1);"]
    assert not dialog.table_edit.isEnabled()
    result = finish(qtbot, dialog)
    assert isinstance(result, ImportResult) and result.rows == 2
    assert read_rows(db_path, "SELECT n FROM s") == [(1,)]


def test_a_read_only_open_is_refused(qtbot, open_session, db_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    session = open_session(db_path, read_only=True)
    dialog, _ = make_dialog(qtbot, session, source)
    assert not dialog.import_button.isEnabled()
    assert "open read-only" in dialog.status.text()
    with pytest.raises(DatabaseReadOnly):
        session.import_file(dialog.plan(), "a")


def test_the_file_menu_opens_the_dialog_only_when_writable(qtbot, window, scripted, db_path: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a\n1\n")
    open_in(qtbot, window, db_path, read_only=True)
    assert not window.import_actions["csv"].isEnabled()
    window.close_database()
    open_in(qtbot, window, db_path)
    assert window.import_actions["csv"].isEnabled()
    assert window.import_actions["sql"] in window.import_menu.actions()
    scripted.paths.append(source)
    window.import_actions["csv"].trigger()
    dialog = window.findChild(ImportDialog)
    assert dialog is not None and dialog.isVisible() and dialog.path == source
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    assert isinstance(finish(qtbot, dialog), ImportResult)
    qtbot.waitUntil(lambda: any(o.name == "a" for o in window.session.schema), timeout=10_000)
    dialog.reject()


def test_the_open_database_itself_is_refused_as_a_file_to_import(qtbot, open_session, db_path: Path) -> None:
    session = open_session(db_path)
    dialog, previews = make_dialog(qtbot, session, db_path)
    assert "open database's own file: choose the CSV, JSON or SQL file to import" in str(previews[0])
    assert not dialog.import_button.isEnabled() and "Cannot import this file" in dialog.status.text()


def test_a_script_run_as_written_that_fails_says_its_commits_stay_and_the_window_reloads(
    qtbot, open_session, scripted, db_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "load.sql"
    source.write_text("CREATE TABLE s(n);\nINSERT INTO s VALUES (1);\nINSERT INTO nope VALUES (2);\n")
    session = open_session(db_path)
    parent = QWidget()
    qtbot.addWidget(parent)
    scripted.paths.append(source)
    reloads: list[bool] = []
    open_import(session, "sql", scripted, parent, on_imported=lambda: reloads.append(True))
    dialog = parent.findChild(ImportDialog)
    qtbot.waitUntil(lambda: dialog.preview is not None, timeout=10_000)
    dialog.one_transaction.setChecked(False)
    outcome = finish(qtbot, dialog)
    assert "Line 3: no such table: nope" in str(outcome)
    assert dialog.status.text().startswith("Import failed: Line 3: no such table: nope")
    assert "What the script's statements committed before that stays (it ran as written)." in dialog.status.text()
    assert reloads == [True]
    assert read_rows(db_path, "SELECT n FROM s") == [(1,)]
