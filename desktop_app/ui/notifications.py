"""Desktop notifications for alerts: the freedesktop notification service through `notify-send` (libnotify)
when the desktop has it, else the system tray's balloon, else none (the banner in the window still says it).

`notify-send` is started detached, so a slow or absent notification daemon never holds up the GUI thread.
Every notification is remembered in `sent` (with the way it went out), for the tests.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from PySide6.QtCore import QProcess
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from desktop_app.ui.settings import APPLICATION

EXPIRE_MS = 10_000
MAX_REMEMBERED = 100


@dataclass(frozen=True)
class Notification:
    title: str
    text: str
    channel: str  # "freedesktop", "tray" or "none"


class Notifier:
    def __init__(self, parent: QWidget | None = None) -> None:
        self._parent = parent
        self._tray: QSystemTrayIcon | None = None
        self.sent: list[Notification] = []

    def channel(self) -> str:
        if shutil.which("notify-send"):
            return "freedesktop"
        if QSystemTrayIcon.isSystemTrayAvailable():
            return "tray"
        return "none"

    def notify(self, title: str, text: str) -> Notification:
        channel = self.channel()
        if channel == "freedesktop":
            QProcess.startDetached(
                "notify-send", ["--app-name", APPLICATION, "--icon", "dialog-warning", "--expire-time", str(EXPIRE_MS),
                                "--", title, text],
            )
        elif channel == "tray":
            if self._tray is None:
                self._tray = QSystemTrayIcon(QApplication.windowIcon(), self._parent)
                self._tray.show()
            self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, EXPIRE_MS)
        notification = Notification(title, text, channel)
        self.sent = [*self.sent[-(MAX_REMEMBERED - 1):], notification]
        return notification
