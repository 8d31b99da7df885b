"""Light and dark: every colour the app draws comes from the palette and stays readable (WCAG contrast)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from desktop_app.core.activity import Activity
from desktop_app.core.ingest import IngestStats
from desktop_app.ui import theme
from desktop_app.ui.panels.dashboard import WAL_FILE, DashboardPanel, Reading
from desktop_app.ui.sql_highlighter import SqlHighlighter

pytestmark = pytest.mark.gui

COLOR = re.compile(r"(background|color)\s*:\s*(#[0-9a-fA-F]{6})")


@pytest.fixture
def themed(qapp) -> Iterator[QApplication]:
    yield qapp
    theme.apply_theme(qapp, "system")  # later tests see the platform's palette again


def style_colors(stylesheet: str) -> dict[str, QColor]:
    return {key: QColor(value) for key, value in COLOR.findall(stylesheet)}


def span_colors(rich_text: str) -> list[QColor]:
    return [QColor(value) for value in re.findall(r"color:\s*(#[0-9a-fA-F]{6})", rich_text)]


def reading() -> Reading:
    return Reading(time.time(), 1234.0, Activity("WAL frames/s", 321.0), 4_000_000, 1_000_000, 9_000_000, 2200, 12, 0.5)


def test_contrast_ratio_matches_wcag() -> None:
    assert theme.contrast(QColor("black"), QColor("white")) == pytest.approx(21.0)
    assert theme.contrast(QColor("#777777"), QColor("#777777")) == pytest.approx(1.0)
    dark_blue_on_dark_grey = theme.contrast(QColor("#1a4fa3"), QColor("#2b2d30"))
    assert dark_blue_on_dark_grey < 3  # the old keyword colour on a dark editor
    assert theme.contrast(theme.readable("#1a4fa3", QColor("#2b2d30")), QColor("#2b2d30")) >= 4.5


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_every_tile_and_sql_keyword_is_readable(themed, qtbot, scheme: str) -> None:
    assert theme.apply_theme(themed, scheme) == scheme
    assert theme.is_dark(themed.palette().color(QPalette.ColorRole.Window)) is (scheme == "dark")
    panel = DashboardPanel()
    qtbot.addWidget(panel)
    panel.add_reading(reading())
    for key, tile in panel.tiles.items():
        used = style_colors(tile.styleSheet())
        background = used["background"]
        for text_color in [used["color"], *span_colors(tile.text())]:
            ratio = theme.contrast(text_color, background)
            assert ratio >= 4.5, f"{scheme} tile {key}: {text_color.name()} on {background.name()} is {ratio:.2f}:1"
    summary = style_colors(panel.summary.styleSheet())["color"]
    assert theme.contrast(summary, panel.palette().color(QPalette.ColorRole.Window)) >= 4.5

    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    highlighter = SqlHighlighter(editor.document())
    editor.setPlainText("SELECT count(*) FROM t WHERE name = 'x' -- note")
    base = editor.palette().color(QPalette.ColorRole.Base)
    for name, color in highlighter.colors.items():
        ratio = theme.contrast(color, base)
        assert ratio >= 4.5, f"{scheme} SQL {name}: {color.name()} on {base.name()} is {ratio:.2f}:1"
    keyword = highlighter.keyword_format().foreground().color()
    assert theme.contrast(keyword, base) >= 4.5
    # What the editor really shows for SELECT: the keyword format.
    first = editor.document().firstBlock().layout().formats()[0]
    assert first.start == 0 and first.format.foreground().color() == keyword


def test_chart_lines_and_plan_rows_follow_the_theme(themed, qtbot) -> None:
    theme.apply_theme(themed, "light")
    panel = DashboardPanel()
    qtbot.addWidget(panel)
    panel.add_reading(reading())
    panel.redraw()
    light_background = panel.graphics.backgroundBrush().color()
    theme.apply_theme(themed, "dark")
    dark_background = panel.graphics.backgroundBrush().color()
    assert not theme.is_dark(light_background) and theme.is_dark(dark_background)
    for column, curve in panel.curves.items():
        pen = curve.opts["pen"]
        assert theme.contrast(pen.color(), dark_background) >= theme.LINE_CONTRAST, column
        assert pen.widthF() == pytest.approx(panel.line_width() * (3 if column == WAL_FILE else 1))
    colors = theme.colors()
    assert theme.contrast(colors.danger_text, colors.danger_background) >= 4.5
    assert theme.contrast(colors.notice_text, colors.notice_background) >= 4.5


def test_system_follows_the_platform_palette_again(themed) -> None:
    changes: list[bool] = []
    theme.notifier().changed.connect(lambda: changes.append(True))
    theme.apply_theme(themed, "system")
    platform_window = themed.palette().color(QPalette.ColorRole.Window)
    opposite = "light" if theme.is_dark(platform_window) else "dark"
    theme.apply_theme(themed, opposite)
    assert themed.palette().color(QPalette.ColorRole.Window) != platform_window
    theme.apply_theme(themed, "system")
    assert themed.palette().color(QPalette.ColorRole.Window) == platform_window
    assert len(changes) >= 2
    assert theme.current_choice() == "system"


def test_system_choice_follows_the_desktop_switching_scheme(themed) -> None:
    """What the desktop announces through QStyleHints.colorSchemeChanged is followed at once."""
    theme.apply_theme(themed, "system")
    hints = themed.styleHints()
    try:
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert theme.is_dark(themed.palette().color(QPalette.ColorRole.Window))
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert not theme.is_dark(themed.palette().color(QPalette.ColorRole.Window))
        theme.apply_theme(themed, "light")  # an explicit choice wins over the desktop
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert not theme.is_dark(themed.palette().color(QPalette.ColorRole.Window))
    finally:
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Unknown)


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_ingest_panel_state_error_and_counters_are_readable(themed, qtbot, window, scheme: str) -> None:
    """Switched while the window is on screen, as a desktop switching its scheme does."""
    window.show()
    qtbot.waitExposed(window)
    assert theme.apply_theme(themed, scheme) == scheme
    qtbot.wait(10)  # the new palette reaches the widgets through the event loop
    panel = window.ingest
    background = panel.palette().color(QPalette.ColorRole.Window)
    for state in ("connecting", "connected", "backoff", "paused", "stopped"):
        panel.show_stats(replace(IngestStats.initial(state), received=12_345, last_error="the server went away"))
        color = style_colors(panel.state_label.styleSheet())["color"]
        assert theme.contrast(color, background) >= 4.5, f"{scheme} state {state}: {color.name()}"
    error = style_colors(panel.error_label.styleSheet())["color"]
    assert theme.contrast(error, background) >= 4.5, f"{scheme} error text: {error.name()}"
    for key, label in panel.counter_labels.items():  # as drawn
        drawn = rendered_text_contrast(label, background)
        assert drawn >= 4.5, f"{scheme} counter {key} is drawn at {drawn:.2f}:1"


def rendered_text_contrast(widget, background: QColor) -> float:
    """The best contrast any drawn pixel of `widget` has with `background` (its text's, for a label)."""
    image = widget.grab().toImage()
    return max(
        theme.contrast(image.pixelColor(x, y), background)
        for x in range(image.width())
        for y in range(image.height())
    )
