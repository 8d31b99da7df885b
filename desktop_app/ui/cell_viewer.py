"""A non-modal window that shows one value whole: long text, JSON pretty-printed, a BLOB's size and hex dump,
and a PNG / JPEG / GIF BLOB as the picture it is. It follows the grid's current cell while it is open."""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.cells import ValueView, blob_text, describe

PREVIEW_WIDTH, PREVIEW_HEIGHT = 480, 360


class CellViewer(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cellViewer")
        self.setWindowTitle("Value")
        self.setModal(False)
        self.setWindowFlag(Qt.WindowType.Tool, True)
        self.value: object = None
        self.view: ValueView = describe(None)
        self.image: QImage | None = None

        self.title = QLabel("")
        self.title.setObjectName("cellTitle")
        self.summary = QLabel("")
        self.summary.setObjectName("cellSummary")
        self.text = QPlainTextEdit()
        self.text.setObjectName("cellText")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.hex = QPlainTextEdit()
        self.hex.setObjectName("cellHex")
        self.hex.setReadOnly(True)
        self.hex.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.hex.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.picture = QLabel()
        self.picture.setObjectName("cellImage")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.wrap_button = QPushButton("Wrap lines")
        self.wrap_button.setCheckable(True)
        self.wrap_button.setChecked(True)
        self.wrap_button.toggled.connect(self._set_wrap)
        self.copy_button = QPushButton("Copy value")
        self.copy_button.setToolTip("The whole value (a BLOB as base64)")
        self.copy_button.clicked.connect(self.copy)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)

        buttons = QHBoxLayout()
        buttons.addWidget(self.wrap_button)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(self.picture)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.hex, 1)
        layout.addLayout(buttons)
        self.resize(640, 480)

    def show_value(self, value: object, *, column: str = "", row: int | None = None) -> None:
        """Show `value` (and where it comes from), and the window if it is hidden."""
        self.value = value
        self.view = view = describe(value)
        where = " · ".join(part for part in (column, f"row {row:,}" if row is not None else "") if part)
        self.title.setText(f"<b>{where}</b>" if where else "")
        self.setWindowTitle(f"Value — {where}" if where else "Value")
        self.summary.setText(view.summary)
        is_blob = view.kind in ("blob", "image")
        self.text.setVisible(not is_blob)
        self.text.setPlainText(view.text if view.kind != "null" else "")
        self.text.setPlaceholderText("NULL" if view.kind == "null" else "")
        self.hex.setVisible(is_blob)
        self.hex.setPlainText(view.hex)
        self.image = None
        self.picture.clear()
        self.picture.setVisible(False)
        if view.image_format:
            image = QImage()
            if image.loadFromData(cast(bytes, value)):  # an image format is only ever found in a BLOB  # a BLOB that only starts like an image shows its hex alone
                self.image = image
                pixmap = QPixmap.fromImage(image)
                if image.width() > PREVIEW_WIDTH or image.height() > PREVIEW_HEIGHT:
                    pixmap = pixmap.scaled(
                        PREVIEW_WIDTH, PREVIEW_HEIGHT, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                self.picture.setPixmap(pixmap)
                self.picture.setVisible(True)
                self.summary.setText(f"{view.summary} · {image.width()}×{image.height()} px")
        if not self.isVisible():
            self.show()

    def clear(self) -> None:
        """Forget the value shown and hide (another file opened: its old cell must not stay on screen)."""
        self.value, self.view, self.image = None, describe(None), None
        for label in (self.title, self.summary, self.picture):
            label.clear()
        self.text.clear()
        self.text.setPlaceholderText("")
        self.hex.clear()
        self.setWindowTitle("Value")
        self.hide()

    def copy_text(self) -> str:
        if isinstance(self.value, bytes):
            return blob_text(self.value)
        return "" if self.value is None else self.view.text if self.view.kind != "json" else str(self.value)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.copy_text())

    def _set_wrap(self, on: bool) -> None:
        mode = QPlainTextEdit.LineWrapMode.WidgetWidth if on else QPlainTextEdit.LineWrapMode.NoWrap
        self.text.setLineWrapMode(mode)
