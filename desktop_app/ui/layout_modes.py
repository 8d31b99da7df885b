"""Monitor / Browse: who gets the window's height.

Monitor shows the dashboard's charts on top (a database being written: the WAL, the write rate). Browse folds
the dashboard to its tiles and gives the height to the data view and the console (a static file: the data
is what there is to look at). On open the window chooses: Browse for a static file, Monitor when the file
is being written (frames waiting in the WAL at open, another connection committing, or our own ingest);
a layout the user picks for a file (View menu or toolbar) is remembered in the settings and wins from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup

from desktop_app.core.metrics import Sample
from desktop_app.core.session import Session

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget, QMenu, QToolBar

    from desktop_app.ui.panels.dashboard import DashboardPanel
    from desktop_app.ui.settings import AppSettings


class LayoutHost(Protocol):
    """What the layouts need of the window (the main window is one), so this module does not import it."""

    settings: AppSettings
    dashboard: DashboardPanel
    docks: dict[str, QDockWidget]
    panels_built: bool

    def isVisible(self) -> bool: ...  # noqa: N802 (Qt's name)
    def height(self) -> int: ...
    def resizeDocks(self, docks: list, sizes: list[int], orientation: Qt.Orientation) -> None: ...  # noqa: N802

MONITOR, BROWSE = "monitor", "browse"
QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's "no maximum"
CHARTS_SHARE = 0.57  # of the height, in Monitor


class LayoutModes(QObject):
    changed = Signal(str)  # the mode now shown

    def __init__(self, window: LayoutHost) -> None:
        super().__init__(window)  # type: ignore[arg-type]  # the host is a QObject
        self.window = window
        self.mode = MONITOR
        self.picked = False  # the user chose the layout of the open file: never switch by ourselves
        self._session: Session | None = None
        self._resize_on_show = False
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for mode, text, tip in (
            (MONITOR, "&Monitor Layout", "Charts on top: for a database that is being written"),
            (BROWSE, "&Browse Layout", "Dashboard folded to its tiles: the data and the console get the height"),
        ):
            action = QAction(text, self)
            action.setObjectName(f"{mode}LayoutAction")
            action.setCheckable(True)
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.triggered.connect(lambda _checked=False, mode=mode: self.pick(mode))
            self.group.addAction(action)
            self.actions[mode] = action
        self.actions[MONITOR].setChecked(True)

    def install(self, menu: QMenu, toolbar: QToolBar) -> None:
        menu.addSeparator()
        toolbar.addSeparator()
        for action in self.actions.values():
            menu.addAction(action)
            toolbar.addAction(action)

    # Choosing ---------------------------------------------------------------------------------------------
    def attach(self, session: Session) -> None:
        """A file was opened: its remembered layout, or the one its state calls for."""
        self.detach()
        self._session = session
        remembered = self.window.settings.layout_for(session.path)
        self.picked = remembered in (MONITOR, BROWSE)
        if self.picked and remembered is not None:
            self.apply(remembered)
            return
        being_written = session.last_sample is not None and session.last_sample.wal_pending_frames > 0
        self.apply(MONITOR if being_written else BROWSE)
        session.events.data_changed.connect(self._on_outside_write)

    def detach(self) -> None:
        if self._session is not None:
            self._session.events.data_changed.disconnect(self._on_outside_write)
            self._session = None

    def writing_started(self) -> None:
        """Our own ingest writes the open file: show the charts (unless the user chose otherwise). They are
        built now, while the worker starts, so the window is laid out once, before the stream competes for
        the CPU, rather than when the first rows arrive."""
        if not self.picked:
            self.window.dashboard.ensure_charts()
            self.apply(MONITOR)

    def _on_outside_write(self, _sample: Sample) -> None:
        if not self.picked and self.mode != MONITOR:
            self.apply(MONITOR)

    def pick(self, mode: str) -> None:
        """The user's choice: shown now and remembered for the open file."""
        if not self.window.panels_built:
            return
        if self._session is not None:
            self.picked = True
            self.window.settings.set_layout_for(self._session.path, mode)
        self.apply(mode)

    # Showing ----------------------------------------------------------------------------------------------
    def apply(self, mode: str) -> None:
        self.mode = mode
        self.actions[mode].setChecked(True)
        window = self.window
        browse = mode == BROWSE
        window.dashboard.set_folded(browse)
        if not browse:
            window.docks["dashboard"].setMaximumHeight(QWIDGETSIZE_MAX)  # the charts may take any height again
        if browse:
            window.docks["schema"].raise_()  # the data view in front of the console
        if browse:
            QTimer.singleShot(0, self._resize)  # once the dashboard's size hint reflects the fold
        else:
            self._resize()  # now: one layout pass and one paint of the charts, not two
        self.changed.emit(mode)

    def window_shown(self) -> None:
        """The window's first show: size the docks for a layout chosen while it was still hidden."""
        if self._resize_on_show:
            self._resize_on_show = False
            QTimer.singleShot(0, self._resize)

    def _resize(self) -> None:
        window = self.window
        if not window.isVisible():
            self._resize_on_show = True
            return
        dashboard, lower = window.docks["dashboard"], window.docks["console"]
        if not dashboard.isVisible():
            return
        height = window.height()
        if self.mode == BROWSE:
            top = dashboard.widget().minimumSizeHint().height() + 24  # the tiles and their title bar
            dashboard.setMaximumHeight(top)  # a taller (maximised) window gives the rows the height, not the tiles
        else:
            top = int(height * CHARTS_SHARE)
        window.resizeDocks([dashboard, lower], [top, max(height - top, 100)], Qt.Orientation.Vertical)
