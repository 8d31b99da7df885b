"""The Dead letters panel on real files: list, raw bytes, replay selected, resolve with a note, purge, an old
file migrated only after the confirmation, and the list following another process's commits."""

from __future__ import annotations

import time
from pathlib import Path

import apsw
import pytest

from desktop_app.core.ingest.mapping import MessageMapper, parse_columns
from desktop_app.core.workspace import Workspace
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.panels.dead_letters import DeadLettersPanel
from tests.conftest import read_rows
from tests.unit.core.test_dead_letters import OLD_DEAD_LETTER_SQL, ingest
from tests.unit.ui.conftest import resolve

pytestmark = pytest.mark.gui


@pytest.fixture
def letters_file(tmp_path: Path) -> Path:
    path = tmp_path / "letters.db"
    mapper = MessageMapper("readings", columns=parse_columns("device:TEXT,temp:INTEGER"))
    ingest(path, mapper, ['{"device": "a", "temp": 1}', '{"device": "b", "temp": "warm"}', b"\x00\xfe"])
    return path


@pytest.fixture
def scripted() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def panel(qtbot, workspace: Workspace, scripted: ScriptedDialogs) -> DeadLettersPanel:
    widget = DeadLettersPanel(workspace=workspace, dialogs=scripted)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


def open_file(qtbot, workspace: Workspace, panel: DeadLettersPanel, path: Path, *, read_only: bool = False) -> None:
    with qtbot.waitSignal(panel.loaded, timeout=10_000):
        resolve(qtbot, workspace.open(path, read_only=read_only))


def letter_id(panel: DeadLettersPanel, reason: str) -> int:
    return next(letter.id for letter in panel.letters if reason in letter.reason)


def test_lists_letters_and_shows_raw_bytes(qtbot, workspace: Workspace, panel: DeadLettersPanel,
                                           letters_file: Path) -> None:
    assert panel.objectName() == "deadLetters"
    open_file(qtbot, workspace, panel, letters_file)
    assert panel.table.rowCount() == 2 and panel.has_table and not panel.needs_migration
    binary = letter_id(panel, "binary")
    with qtbot.waitSignal(panel.shown, timeout=10_000):
        panel.select_ids([binary])
    assert panel.raw_view.toPlainText().startswith("00000000  00 fe")
    assert "hex dump" in panel.detail_label.text()
    typed = letter_id(panel, "column type")
    with qtbot.waitSignal(panel.shown, timeout=10_000):
        panel.select_ids([typed])
    assert panel.raw_view.toPlainText() == '{"device": "b", "temp": "warm"}'
    # Filtering by reason narrows the list.
    panel.reason_edit.setText("BINARY")
    with qtbot.waitSignal(panel.loaded, timeout=10_000):
        panel.reason_edit.returnPressed.emit()
    assert [letter.id for letter in panel.letters] == [binary]


def test_replay_selected_after_the_fix(qtbot, workspace: Workspace, panel: DeadLettersPanel, scripted: ScriptedDialogs,
                                       letters_file: Path) -> None:
    connection = apsw.Connection(str(letters_file))
    with connection:  # the user fixes the column: temp accepts text now
        connection.execute("ALTER TABLE readings RENAME TO old")
        connection.execute("CREATE TABLE readings(device TEXT, temp ANY) STRICT")
        connection.execute("INSERT INTO readings SELECT * FROM old")
        connection.execute("DROP TABLE old")
    connection.close()
    open_file(qtbot, workspace, panel, letters_file)
    ids = [letter.id for letter in panel.letters]
    panel.select_ids(ids)
    assert panel.replay_button.isEnabled()
    with qtbot.waitSignal(panel.replayed, timeout=10_000) as blocker:
        panel.replay_button.click()
    result = blocker.args[0]
    assert scripted.confirmations == ["Replay dead letters"]
    assert (result.selected, result.written, result.still_dead) == (2, 1, 1)
    assert read_rows(letters_file, "SELECT device, temp FROM readings ORDER BY rowid") == [("a", 1), ("b", "warm")]
    qtbot.waitUntil(lambda: [letter.reason.split(":")[0] for letter in panel.letters] == [
        "binary message where text (JSON) is expected"], timeout=10_000)  # the list shows what is still open
    assert "1 written as rows, 1 still dead" in panel.notice_label.text()
    assert workspace.session is not None and workspace.session.write_connections == 1  # the session's one writer


def test_resolve_needs_a_note_then_purge(qtbot, workspace: Workspace, panel: DeadLettersPanel,
                                         scripted: ScriptedDialogs, letters_file: Path) -> None:
    open_file(qtbot, workspace, panel, letters_file)
    binary = letter_id(panel, "binary")
    panel.select_ids([binary])
    panel.resolve_button.click()
    assert scripted.errors and "note" in scripted.errors[-1][1]
    panel.note_edit.setText("noise from a test client")
    with qtbot.waitSignal(panel.resolved, timeout=10_000) as blocker:
        panel.resolve_button.click()
    assert blocker.args == [1]
    assert read_rows(letters_file, f"SELECT status, note FROM pulse_dead_letters WHERE id = {binary}") == [
        ("resolved", "noise from a test client")]
    qtbot.waitUntil(lambda: binary not in [letter.id for letter in panel.letters], timeout=10_000)  # "open" listed
    with qtbot.waitSignal(panel.purged, timeout=10_000) as purged:
        panel.purge_button.click()
    assert purged.args == [1] and scripted.confirmations == ["Purge resolved dead letters"]
    assert read_rows(letters_file, "SELECT count(*) FROM pulse_dead_letters") == [(1,)]


def test_an_old_file_is_migrated_only_after_the_confirmation(qtbot, workspace: Workspace, panel: DeadLettersPanel,
                                                             scripted: ScriptedDialogs, tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode=WAL")
    with connection:
        connection.execute(OLD_DEAD_LETTER_SQL)
        connection.execute("INSERT INTO pulse_dead_letters VALUES (1, ?, 'readings', 'not valid JSON', x'787b')",
                           (time.time(),))
    connection.close()
    open_file(qtbot, workspace, panel, path)
    assert panel.needs_migration and [letter.status for letter in panel.letters] == ["open"]
    panel.select_ids([1])
    panel.note_edit.setText("seen")
    scripted.confirm_answer = False
    panel.resolve_button.click()
    assert scripted.confirmations == ["Resolve dead letters"]
    columns = [name for (name,) in read_rows(path, "SELECT name FROM pragma_table_info('pulse_dead_letters')")]
    assert "status" not in columns  # declined: the file is as it was
    scripted.confirm_answer = True
    with qtbot.waitSignal(panel.resolved, timeout=10_000):
        panel.resolve_button.click()
    assert read_rows(path, "SELECT id, raw, status, note FROM pulse_dead_letters") == [(1, b"x{", "resolved", "seen")]
    qtbot.waitUntil(lambda: not panel.needs_migration, timeout=10_000)


def test_read_only_sessions_cannot_act_and_new_letters_appear(qtbot, workspace: Workspace, panel: DeadLettersPanel,
                                                              letters_file: Path) -> None:
    open_file(qtbot, workspace, panel, letters_file, read_only=True)
    panel.select_ids([panel.letters[0].id])
    assert not panel.replay_button.isEnabled() and not panel.purge_button.isEnabled()
    # Another process (an ingest) dead-letters one more message: the list follows by itself.
    mapper = MessageMapper("readings", columns=parse_columns("device:TEXT,temp:INTEGER"))
    ingest(letters_file, mapper, ["not json"])
    qtbot.waitUntil(lambda: len(panel.letters) == 3, timeout=10_000)


def test_a_file_without_dead_letters_says_so(qtbot, workspace: Workspace, panel: DeadLettersPanel,
                                             tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE t(x)")
    connection.close()
    open_file(qtbot, workspace, panel, path)
    assert not panel.has_table and "no dead letters" in panel.summary_label.text()
    assert not panel.purge_button.isEnabled()
