"""The QApplication as SQLite Pulse configures it: names, desktop file, icon. Shared by the window (app.py) and
the smoke test, so neither imports the other."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop_app import __version__
from desktop_app.ui.settings import APPLICATION, ORGANIZATION

BUNDLED_ICON = Path(__file__).resolve().parent.parent.parent / "resources" / "sqlite-pulse.svg"


def create_application(argv: Sequence[str] = ()) -> QApplication:
    # PySide6's stub types instance() as QCoreApplication; in this process it is always a QApplication.
    app: QApplication = QApplication.instance() or QApplication(  # type: ignore[assignment]
        [sys.argv[0] if sys.argv else "sqlite-pulse", *argv]
    )
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("sqlite-pulse")
    # The installed theme icon first; else the SVG beside the package (source tree and bundle share the layout).
    icon = QIcon.fromTheme("sqlite-pulse")
    if icon.isNull():
        icon = QIcon(str(BUNDLED_ICON))
    if not icon.isNull():
        app.setWindowIcon(icon)
    return app
