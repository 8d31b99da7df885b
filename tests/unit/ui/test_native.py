"""The window feels native: preferences that persist and apply live, a first-run welcome on the demo,
Escape cancels a running query, Help lists the shortcuts and opens the README, geometry fits the screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QRect, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop_app.core.errors import QueryInterrupted
from desktop_app.ui import theme
from desktop_app.ui.main_window import MainWindow, fit_rect, readme_path
from desktop_app.ui.settings import AppSettings, Preferences

from .conftest import open_in

pytestmark = pytest.mark.gui

ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
    "SELECT count(*) FROM n a, n b, n c"
)


@pytest.fixture(autouse=True)
def system_theme_afterwards(qapp):
    yield
    theme.apply_theme(qapp, "system")


def test_preferences_persist_and_apply_live(qtbot, window: MainWindow, settings: AppSettings, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    assert window.preferences == Preferences()  # defaults on a fresh settings file
    window.show_preferences()
    dialog = window.preferences_dialog
    assert dialog.isVisible()
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    # Applied before the dialog closes: the user sees the effect.
    assert theme.is_dark(QApplication.palette().color(QPalette.ColorRole.Window))
    dialog.interval.setValue(0.5)
    dialog.chart_window.setCurrentIndex(dialog.chart_window.findData(300))
    dialog.grid_font.setValue(15)
    dialog.editor_font.setValue(17)
    dialog.accept()

    assert window.dashboard.window_seconds == 300
    assert window.session.interval == 0.5
    assert window.console.editor.font().pointSize() == 17
    assert window.console.result_view.font().pointSize() == 15
    settings.sync()
    stored = AppSettings.at(Path(settings.file_name)).preferences()
    assert stored == Preferences(theme="dark", sample_interval=0.5, chart_window=300, grid_font_size=15, editor_font_size=17)


def test_cancelling_preferences_puts_back_what_was_there(qtbot, window: MainWindow, settings: AppSettings) -> None:
    before = QApplication.palette().color(QPalette.ColorRole.Window)
    window.show_preferences()
    dialog = window.preferences_dialog
    dialog.theme.setCurrentIndex(dialog.theme.findData("light" if theme.is_dark(before) else "dark"))
    dialog.editor_font.setValue(21)
    assert QApplication.palette().color(QPalette.ColorRole.Window) != before
    dialog.reject()
    assert QApplication.palette().color(QPalette.ColorRole.Window) == before
    assert window.console.editor.font().pointSize() != 21
    assert settings.preferences() == Preferences()


def test_a_new_window_starts_with_the_saved_preferences(qtbot, qloop, settings: AppSettings, scripted, tmp_path: Path) -> None:
    settings.set_preferences(Preferences(theme="dark", sample_interval=1.0, chart_window=3600, editor_font_size=14))
    window = MainWindow(settings, dialogs=scripted, data_dir=tmp_path / "data")
    qtbot.addWidget(window)
    try:
        assert window.sample_interval == 1.0
        assert window.dashboard.window_seconds == 3600
        assert window.console.editor.font().pointSize() == 14
        assert theme.current_choice() == "dark"
        assert theme.is_dark(QApplication.palette().color(QPalette.ColorRole.Window))
    finally:
        window.shutdown()


def test_welcome_shows_once_on_the_demo_and_is_dismissible(qtbot, window: MainWindow, settings: AppSettings) -> None:
    window.show()
    path = window.demo_database_path()
    assert window.show_welcome(path, "readings", 2000)
    note = window.dashboard.welcome
    assert note.isVisible()
    text = note.text.text()
    assert str(path) in text and "readings" in text and "2,000 readings a second" in text
    assert "WebSocket" in text
    QTest.mouseClick(note.close_button, Qt.MouseButton.LeftButton)
    assert not note.isVisible()
    assert settings.welcome_dismissed()
    assert not window.show_welcome(path, "readings", 2000)  # never again
    assert not note.isVisible()


def test_starting_the_demo_shows_the_welcome(qtbot, window: MainWindow) -> None:
    window.show()
    with qtbot.waitSignal(window.database_opened, timeout=15_000):
        window.start_demo(500)
    qtbot.waitUntil(lambda: window.dashboard.welcome.isVisible(), timeout=10_000)
    assert str(window.demo_database_path()) in window.dashboard.welcome.text.text()
    with qtbot.waitSignal(window.ingest_controller.stopped, timeout=15_000):
        window.ingest_controller.stop()


def test_escape_cancels_a_running_query(qtbot, window: MainWindow, db_path: Path) -> None:
    window.show()
    qtbot.waitExposed(window)
    open_in(qtbot, window, db_path)
    console = window.console
    assert not console.cancel_action.isEnabled()  # Escape means nothing to us while idle
    console.run(ENDLESS)
    qtbot.waitUntil(lambda: console.busy, timeout=2000)
    qtbot.wait(100)
    window.activateWindow()
    with qtbot.waitSignal(console.query_failed, timeout=5000) as blocker:
        QTest.keyClick(window.dashboard, Qt.Key.Key_Escape)  # focus need not be in the console
    assert isinstance(blocker.args[0], QueryInterrupted)
    assert not console.busy


class UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_help_lists_the_shortcuts_and_opens_the_shipped_readme(qtbot, window: MainWindow, scripted) -> None:
    shortcuts = dict(window.shortcut_list())
    assert shortcuts["Refresh"] == "F5"
    assert "Esc" in shortcuts["Cancel query"]
    assert "Ctrl+Return" in shortcuts["Run"]
    assert shortcuts["Preferences"] == "Ctrl+,"
    window.shortcuts_action.trigger()
    assert ("F5", "Refresh") in window.shortcuts_dialog.rows()

    assert readme_path().is_file() and readme_path().name == "README.md"
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")  # Qt's own hook: no viewer starts
    try:
        window.readme_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [url.toLocalFile() for url in catcher.urls] == [str(readme_path())]


def test_fit_rect_shrinks_and_moves_a_window_onto_the_screen() -> None:
    available = QRect(0, 0, 800, 470)
    frame, client = QRect(100, 50, 1370, 895), QRect(105, 80, 1360, 860)  # 5 px borders, a 30 px title bar
    fitted = fit_rect(frame, client, available)
    assert fitted.width() == 790 and fitted.height() == 435
    assert fitted.left() - 5 >= 0 and fitted.top() - 30 >= 0
    assert fitted.right() + 5 <= 799 and fitted.bottom() + 5 <= 469


def test_first_and_restored_geometry_fit_a_scaled_screen(tmp_path: Path) -> None:
    """QT_SCALE_FACTOR=2 on a real 1600x1000 X screen: 800x500 logical pixels for the whole window."""
    xvfb = "Xvfb"
    probe = subprocess.run(["sh", "-c", f"command -v {xvfb}"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail("Xvfb is missing: apt-get install xvfb (make test installs it)")
    script = Path(__file__).with_name("geometry_probe.py")
    env = dict(os.environ, QT_SCALE_FACTOR="2", PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "settings.ini")], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    available = QRect(*report["available"])
    assert report["device_pixel_ratio"] == 2.0
    assert available.width() <= 800 and available.height() <= 500
    for run in ("first", "restored"):
        frame = QRect(*report[run])
        assert available.contains(frame), f"{run}: {frame} not inside {available}"
    assert report["pen_width"] == pytest.approx(2 * 1.5)


def test_the_window_shows_before_the_chart_libraries_load(tmp_path: Path) -> None:
    """pyqtgraph and numpy (a third of a second to import) load after the window is on screen; so does the
    importer (File ▸ Import loads it when asked)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from desktop_app.ui.application import create_application\n"
        "from desktop_app.ui.dialogs import ScriptedDialogs\n"
        "from desktop_app.ui.main_window import MainWindow\n"
        "from desktop_app.ui.settings import AppSettings\n"
        "app = create_application()\n"
        f"window = MainWindow(AppSettings.at(Path({str(tmp_path / 's.ini')!r})), dialogs=ScriptedDialogs())\n"
        "window.show()\n"
        "app.processEvents()\n"
        "print(sorted(name for name in ('pyqtgraph', 'numpy', 'desktop_app.core.importer') if name in sys.modules))\n"
        "window.shutdown()\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_about_says_where_settings_the_demo_and_the_log_live(window: MainWindow, settings: AppSettings) -> None:
    from desktop_app import logs

    text = window.about_text()
    assert settings.file_name in text and str(window.demo_database_path()) in text
    assert f"Log file: {logs.current_log_file() or 'none (stderr only)'}" in text
