"""Preferences: theme, sampling interval, chart window, grid and editor font sizes.

The dialog edits a `Preferences` value; the window stores it with the other settings (AppSettings) and
applies it at once (`MainWindow.apply_preferences`). Every change applies live, so the user sees the
effect before closing the dialog; Cancel puts back what was there when it opened.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.ui.settings import CHART_WINDOWS, Preferences

THEME_LABELS = {"system": "Follow the desktop", "light": "Light", "dark": "Dark"}
WINDOW_LABELS = {60: "1 minute", 300: "5 minutes", 3600: "1 hour"}


class PreferencesDialog(QDialog):
    def __init__(self, current: Preferences, apply: Callable[[Preferences], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self._original = current
        self._apply = apply

        self.theme = QComboBox()
        self.theme.setObjectName("themeChoice")
        for key, label in THEME_LABELS.items():
            self.theme.addItem(label, key)
        self.interval = QDoubleSpinBox()
        self.interval.setObjectName("sampleInterval")
        self.interval.setRange(0.1, 10.0)
        self.interval.setSingleStep(0.25)
        self.interval.setDecimals(2)
        self.interval.setSuffix(" s")
        self.interval.setToolTip("How often the open database is sampled (stats, charts, red flags)")
        self.chart_window = QComboBox()
        self.chart_window.setObjectName("chartWindow")
        for seconds in CHART_WINDOWS:
            self.chart_window.addItem(WINDOW_LABELS[seconds], seconds)
        self.grid_font = self._font_box("gridFontSize")
        self.editor_font = self._font_box("editorFontSize")

        form = QFormLayout()
        form.addRow("&Theme:", self.theme)
        form.addRow("&Sample every:", self.interval)
        form.addRow("&Chart window:", self.chart_window)
        form.addRow("&Grid font size:", self.grid_font)
        form.addRow("&Editor font size:", self.editor_font)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

        self.show_values(current)
        for signal in (self.theme.currentIndexChanged, self.chart_window.currentIndexChanged):
            signal.connect(lambda _index: self._changed())
        for box in (self.interval, self.grid_font, self.editor_font):
            box.valueChanged.connect(lambda _value: self._changed())

    @staticmethod
    def _font_box(name: str) -> QSpinBox:
        box = QSpinBox()
        box.setObjectName(name)
        box.setRange(0, 48)
        box.setSuffix(" pt")
        box.setSpecialValueText("desktop default")
        return box

    def show_values(self, preferences: Preferences) -> None:
        self.theme.setCurrentIndex(max(0, self.theme.findData(preferences.theme)))
        self.interval.setValue(preferences.sample_interval)
        index = self.chart_window.findData(preferences.chart_window)
        self.chart_window.setCurrentIndex(index if index >= 0 else 0)
        self.grid_font.setValue(preferences.grid_font_size)
        self.editor_font.setValue(preferences.editor_font_size)

    def value(self) -> Preferences:
        return Preferences(
            theme=str(self.theme.currentData()),
            sample_interval=round(self.interval.value(), 2),
            chart_window=int(self.chart_window.currentData()),
            grid_font_size=self.grid_font.value(),
            editor_font_size=self.editor_font.value(),
        )

    def _changed(self) -> None:
        self._apply(self.value())

    def reject(self) -> None:
        self._apply(self._original)
        super().reject()
