"""Light and dark: follow the desktop's colour scheme (or the user's choice) and derive every colour we draw
from the application palette, so tiles, charts, SQL keywords and plan rows stay readable on either.

`apply_theme(app, "system" | "light" | "dark")` sets the palette; `notifier().changed` fires after every
change (a user choice or the desktop switching scheme), and themed widgets re-read `colors()` then.
Accent hues are fixed; `readable()` moves their lightness until they reach a contrast ratio against the
background they are drawn on (WCAG 2 formula), so the same code serves both schemes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette

THEMES = ("system", "light", "dark")
TEXT_CONTRAST = 4.5  # WCAG AA for normal text
LINE_CONTRAST = 3.0  # WCAG AA for graphical objects

# Accent hues (light-scheme values); `readable()` adapts them to the background.
SERIES = {
    "ingest": "#2e9e5b",
    "activity": "#2f6fd6",
    "wal_file": "#6b7280",
    "wal_content": "#e37400",
    "db": "#8e44ad",
    "free": "#c0392b",
    "free_percent": "#d35400",
}
SQL = {
    "keyword": "#1a4fa3",
    "type": "#7a3e9d",
    "function": "#00796b",
    "number": "#b35900",
    "identifier": "#5d4037",
    "string": "#2e7d32",
    "comment": "#6a6a6a",
}
DANGER = "#c62828"


def luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(first: QColor, second: QColor) -> float:
    """WCAG contrast ratio, 1 (same) to 21 (black on white)."""
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def is_dark(color: QColor) -> bool:
    return luminance(color) < 0.18


def readable(accent: str | QColor, background: QColor, ratio: float = TEXT_CONTRAST) -> QColor:
    """`accent`'s hue with its lightness moved away from `background` until the contrast reaches `ratio`."""
    color = QColor(accent)
    # PySide6's stub types getHslF() as object: it is (hue, saturation, lightness, alpha).
    hue, saturation, lightness, _alpha = cast(tuple[float, float, float, float], color.getHslF())
    towards_light = is_dark(background)
    step = 0.02 if towards_light else -0.02
    while contrast(color, background) < ratio:
        lightness = min(1.0, max(0.0, lightness + step))
        color = QColor.fromHslF(max(0.0, hue), saturation, lightness)
        if lightness in (0.0, 1.0):
            break
    return color


def mix(first: QColor, second: QColor, amount: float) -> QColor:
    """`amount` of `second` blended into `first`."""
    return QColor.fromRgbF(
        first.redF() + (second.redF() - first.redF()) * amount,
        first.greenF() + (second.greenF() - first.greenF()) * amount,
        first.blueF() + (second.blueF() - first.blueF()) * amount,
    )


@dataclass(frozen=True)
class Colors:
    """Every colour the app draws itself, for one palette."""

    dark: bool
    base: QColor  # chart and editor background
    text: QColor
    muted: QColor  # captions, axis labels: still >= 4.5:1 on `tile_background` and `base`
    axis: QColor
    tile_background: QColor
    series: dict[str, QColor]  # chart lines, >= 3:1 on `base`
    tile_values: dict[str, QColor]  # >= 4.5:1 on `tile_background`
    sql: dict[str, QColor]  # >= 4.5:1 on `base`
    danger_background: QColor
    danger_text: QColor
    notice_background: QColor
    notice_text: QColor


def colors(palette: QPalette | None = None) -> Colors:
    palette = palette if palette is not None else QGuiApplication.palette()
    base = palette.color(QPalette.ColorRole.Base)
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.Text)
    dark = is_dark(window)
    tile_background = mix(window, text, 0.06)
    danger_background = mix(base, QColor(DANGER), 0.18 if dark else 0.1)
    notice_background = mix(base, QColor("#1976d2"), 0.2 if dark else 0.1)
    muted_on = tile_background if contrast(text, tile_background) < contrast(text, base) else base
    return Colors(
        dark=dark,
        base=base,
        text=readable(text, base),
        muted=readable(mix(text, muted_on, 0.35), tile_background if muted_on is base else base),
        axis=readable(mix(text, base, 0.3), base),
        tile_background=tile_background,
        series={key: readable(value, base, LINE_CONTRAST) for key, value in SERIES.items()},
        tile_values={key: readable(text, tile_background) for key in SERIES},
        sql={key: readable(value, base) for key, value in SQL.items()},
        danger_background=danger_background,
        danger_text=readable(DANGER, danger_background),
        notice_background=notice_background,
        notice_text=readable(text, notice_background),
    )


class ThemeNotifier(QObject):
    changed = Signal()


_notifier: ThemeNotifier | None = None
_platform_palette: QPalette | None = None
_choice = "system"
_applied: QPalette | None = None
_announced = Qt.ColorScheme.Unknown  # the last scheme the desktop announced


def notifier() -> ThemeNotifier:
    global _notifier
    if _notifier is None:
        _notifier = ThemeNotifier()
    return _notifier


def system_scheme() -> str:
    """'dark' or 'light' as the desktop reports it (Qt 6.5+: QStyleHints.colorScheme, or the last scheme its
    colorSchemeChanged announced); else what the platform's own palette looks like."""
    app = cast(QGuiApplication | None, QGuiApplication.instance())  # the stub says QCoreApplication
    scheme = app.styleHints().colorScheme() if app is not None else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Unknown:
        scheme = _announced
    if scheme == Qt.ColorScheme.Dark:
        return "dark"
    if scheme == Qt.ColorScheme.Light:
        return "light"
    return "dark" if _platform_palette is not None and is_dark(_platform_palette.color(QPalette.ColorRole.Window)) else "light"


def current_choice() -> str:
    return _choice


def effective_scheme(choice: str | None = None) -> str:
    choice = choice or _choice
    return system_scheme() if choice == "system" else choice


def apply_theme(app: QGuiApplication, choice: str) -> str:
    """Set the palette for `choice` ('system', 'light', 'dark'); returns the scheme in effect."""
    global _platform_palette, _choice, _applied
    if choice not in THEMES:
        choice = "system"
    first = _platform_palette is None
    if first:
        _platform_palette = QPalette(app.palette())
        app.styleHints().colorSchemeChanged.connect(lambda scheme: _follow_system(app, scheme))
    assert _platform_palette is not None
    _choice = choice
    scheme = effective_scheme(choice)
    platform_dark = is_dark(_platform_palette.color(QPalette.ColorRole.Window))
    if scheme == "dark":
        palette = _platform_palette if platform_dark else dark_palette()
    else:
        palette = light_palette() if platform_dark else _platform_palette
    if palette != app.palette():
        app.setPalette(palette)
    if first or palette is not _applied:
        _applied = palette
        notifier().changed.emit()
    return scheme


def _follow_system(app: QGuiApplication, scheme: Qt.ColorScheme) -> None:
    """The desktop switched between light and dark: with 'system' chosen, the app follows at once."""
    global _announced
    _announced = scheme
    if _choice == "system":
        apply_theme(app, "system")


def dark_palette() -> QPalette:
    palette = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for key, value in (
        (role.Window, "#2b2d30"),
        (role.WindowText, "#e6e6e6"),
        (role.Base, "#1e1f22"),
        (role.AlternateBase, "#26282b"),
        (role.ToolTipBase, "#3a3d41"),
        (role.ToolTipText, "#f0f0f0"),
        (role.PlaceholderText, "#9a9a9a"),
        (role.Text, "#e6e6e6"),
        (role.Button, "#35373b"),
        (role.ButtonText, "#e6e6e6"),
        (role.BrightText, "#ff6b6b"),
        (role.Light, "#4a4d52"),
        (role.Midlight, "#3e4145"),
        (role.Mid, "#2f3134"),
        (role.Dark, "#1a1b1e"),
        (role.Shadow, "#000000"),
        (role.Highlight, "#2f65ca"),
        (role.HighlightedText, "#ffffff"),
        (role.Link, "#6ea8ff"),
        (role.LinkVisited, "#b48aff"),
    ):
        palette.setColor(key, QColor(value))
    for key in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, key, QColor("#7a7a7a"))
    return palette


def light_palette() -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    for key, value in (
        (role.Window, "#efefef"),
        (role.WindowText, "#1b1b1b"),
        (role.Base, "#ffffff"),
        (role.AlternateBase, "#f5f5f5"),
        (role.Text, "#1b1b1b"),
        (role.Button, "#efefef"),
        (role.ButtonText, "#1b1b1b"),
        (role.Highlight, "#308cc6"),
        (role.HighlightedText, "#ffffff"),
        (role.PlaceholderText, "#6b6b6b"),
    ):
        palette.setColor(key, QColor(value))
    return palette
