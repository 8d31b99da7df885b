"""Your numbers in the window: a query series charted from the console, updated by another process's writes,
alerting and clearing, saved per database in the app's settings (never in the file) and back after a restart."""

from __future__ import annotations

import hashlib
from pathlib import Path

import apsw
import pytest

from desktop_app.core.query_series import QuerySeries
from desktop_app.ui.panels.numbers import SeriesEditor
from tests.unit.ui.conftest import open_in, resolve

pytestmark = pytest.mark.gui

BACKLOG = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chart_from_console(qtbot, window, sql: str, *, rule: str = "") -> SeriesEditor:
    window.console.editor.setPlainText(sql)
    window.console.chart_button.click()
    editor = window.numbers.editor
    assert editor is not None and editor.sql.toPlainText() == sql
    editor.rule.setText(rule)
    assert resolve(qtbot, editor.submit())
    return editor


def backlog_tile(window) -> str:
    return window.dashboard.tiles["query_backlog"].text()


def test_a_query_charted_from_the_console_updates_alerts_and_clears(qtbot, window, outbox_db: Path) -> None:
    window.show()  # the dashboard redraws its tiles while it is on screen
    open_in(qtbot, window, outbox_db)
    chart_from_console(qtbot, window, BACKLOG, rule="> 3")
    assert [series.name for series in window.numbers.series] == ["outbox"]  # named after its table
    # Rename it through the editor, as a user would.
    window.numbers.list.setCurrentRow(0)
    editor = window.numbers.open_editor(window.numbers.series[0])
    assert editor is not None
    editor.name.setText("backlog")
    assert resolve(qtbot, editor.submit())
    assert [series.name for series in window.numbers.series] == ["backlog"]

    qtbot.waitUntil(lambda: "3" in backlog_tile(window) and "query_backlog" in window.dashboard.tiles, timeout=10_000)
    assert "backlog" in [row.title for row in window.dashboard.rows]
    assert window.dashboard.banner.isHidden() or "alert" not in window.dashboard.banner.text()

    writer = apsw.Connection(str(outbox_db))  # another process's writes, as far as the app can tell
    writer.execute("INSERT INTO outbox(channel) VALUES ('c'), ('c')")
    qtbot.waitUntil(lambda: "alert backlog &gt; 3" in window.dashboard.banner.text(), timeout=10_000)
    assert not window.dashboard.banner.isHidden()
    qtbot.waitUntil(lambda: "5" in backlog_tile(window), timeout=10_000)
    assert [n.title for n in window.numbers.notifier.sent] == ["SQLite Pulse: backlog > 3"]
    assert "backlog is 5" in window.numbers.notifier.sent[0].text
    assert window.numbers.list.item(0).text().startswith("⚠ backlog = 5")

    writer.execute("UPDATE outbox SET sent_at = 1")
    qtbot.waitUntil(lambda: "alert" not in window.dashboard.banner.text() or window.dashboard.banner.isHidden(),
                    timeout=10_000)
    qtbot.waitUntil(lambda: window.numbers.list.item(0).text().startswith("backlog = 0"), timeout=10_000)
    writer.close()


def test_series_are_saved_per_database_in_the_settings_not_the_file(
    qtbot, qloop, settings, scripted, window, outbox_db: Path, tmp_path: Path
) -> None:
    from desktop_app.ui.main_window import MainWindow

    open_in(qtbot, window, outbox_db)
    before = digest(outbox_db)
    chart_from_console(qtbot, window, "SELECT channel, count(*) FROM outbox GROUP BY channel")
    chart_from_console(qtbot, window, BACKLOG)
    names = [series.name for series in window.numbers.series]
    assert names == ["outbox", "outbox_2"]
    window.numbers.list.setCurrentRow(1)
    window.numbers.move_selected(-1)
    assert [series.name for series in window.numbers.series] == ["outbox_2", "outbox"]
    resolve(qtbot, window.close_database())
    assert digest(outbox_db) == before  # nothing of the series went into the user's file

    other = MainWindow(settings, dialogs=scripted, data_dir=tmp_path / "data", sample_interval=0.05)
    qtbot.addWidget(other)
    other.show()
    try:
        open_in(qtbot, other, outbox_db)
        assert [series.name for series in other.numbers.series] == ["outbox_2", "outbox"]
        qtbot.waitUntil(lambda: "query_outbox" in other.dashboard.tiles, timeout=5_000)
        # The labelled series' tile names its largest labels once sampled.
        qtbot.waitUntil(lambda: "a 2" in other.dashboard.tiles["query_outbox"].text(), timeout=10_000)
        other.numbers.list.setCurrentRow(0)
        other.numbers.remove_selected()
        assert settings.query_series_for(outbox_db.resolve()) == [other.numbers.series[0]]
        assert "query_outbox_2" not in other.dashboard.tiles
    finally:
        other.shutdown()


@pytest.mark.parametrize(
    ("sql", "says"),
    [("DELETE FROM outbox", "only reads"), ("SELECT * FROM outbox", "3 columns"), ("SELECT count(*) FROM nope", "nope")],
)
def test_the_editor_refuses_what_cannot_be_a_series(qtbot, window, outbox_db: Path, sql: str, says: str) -> None:
    open_in(qtbot, window, outbox_db)
    window.console.editor.setPlainText(sql)
    window.console.chart_button.click()
    editor = window.numbers.editor
    assert editor is not None
    assert resolve(qtbot, editor.submit()) is False
    assert says in editor.error.text() and editor.error.isVisibleTo(editor)
    assert window.numbers.series == ()
    editor.reject()


def test_a_bad_rule_and_a_taken_name_are_refused(qtbot, window, outbox_db: Path) -> None:
    open_in(qtbot, window, outbox_db)
    chart_from_console(qtbot, window, BACKLOG)
    editor = window.numbers.open_editor(sql=BACKLOG)
    assert editor is not None
    editor.name.setText("outbox")
    assert resolve(qtbot, editor.submit()) is False and "exists already" in editor.error.text()
    editor.name.setText("fresh")
    editor.rule.setText("> lots")
    assert resolve(qtbot, editor.submit()) is False and "expected a comparison" in editor.error.text()
    editor.reject()
    assert [series.name for series in window.numbers.series] == ["outbox"]


def test_a_saved_series_over_its_budget_is_flagged_in_the_window(qtbot, window, settings, outbox_db: Path) -> None:
    slow = QuerySeries(
        "slow", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
        interval=0.2, budget_ms=30,
    )
    settings.set_query_series_for(outbox_db.resolve(), [slow])
    window.show()
    open_in(qtbot, window, outbox_db)
    qtbot.waitUntil(lambda: "30 ms budget" in window.numbers.list.item(0).text(), timeout=10_000)
    qtbot.waitUntil(lambda: "30 ms budget" in window.dashboard.tiles["query_slow"].text(), timeout=10_000)


def test_a_known_layout_is_offered_as_one_click_presets(qtbot, window, outbox_db: Path) -> None:
    writer = apsw.Connection(str(outbox_db))
    writer.execute("ALTER TABLE outbox ADD COLUMN created_at REAL")
    writer.execute("UPDATE outbox SET created_at = unixepoch() - 60")
    writer.close()
    open_in(qtbot, window, outbox_db)
    qtbot.waitUntil(lambda: "event_store" in window.numbers.preset_buttons, timeout=10_000)
    assert "Event store" in window.numbers.presets_label.text()
    window.numbers.preset_buttons["event_store"].click()
    names = [series.name for series in window.numbers.series]
    assert "outbox_pending" in names
    assert "event_store" not in window.numbers.preset_buttons  # everything it offers is added
    qtbot.waitUntil(lambda: window.workspace.session.query_values.get("outbox_pending") is not None, timeout=10_000)
    assert window.workspace.session.query_values["outbox_pending"].value == 3.0
