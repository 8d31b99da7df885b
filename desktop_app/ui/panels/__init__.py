"""Dock panels of the main window: dashboard, schema browser, query console, ingest, your numbers, space, health,
dead letters."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from desktop_app.core.session import Session
    from desktop_app.core.workspace import Workspace


def follow_workspace(
    panel: QWidget, workspace: Workspace, set_session: Callable[[Session | None], object],
    let_go: Callable[[], object] | None = None,
) -> None:
    """`set_session` with the workspace's open file now and with each file it opens (or None); when the panel is
    deleted before the workspace closes (a test's teardown, a rebuilt window), it stops listening first and
    `let_go()` drops what it holds of the session (its event subscriptions, a running job). `let_go` runs while
    Qt destroys the widget: it must touch no widget."""
    workspace.session_changed.connect(set_session)
    set_session(workspace.session)

    def deleted(*_args: object) -> None:
        workspace.session_changed.disconnect(set_session)
        if let_go is not None:
            let_go()

    panel.destroyed.connect(deleted)
