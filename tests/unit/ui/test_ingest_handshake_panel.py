"""The Ingest panel's handshake fields reach the ingest child, which connects with them; the secret is never on
screen, in the child's command line, or in the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget

from desktop_app.ui.settings import AppSettings
from tests.handshake_server import HandshakeServer
from tests.processes import children_of
from tests.scenarios import wait_for

from .conftest import open_in, resolve
from .test_ingest_panel import rows_in

pytestmark = pytest.mark.gui

SECRET = "panel-s3cret-t0ken"
LITERAL = "typed-literal-v4lue"
SUBSCRIBE = '{"op": "subscribe", "channel": "all"}'


def _visible_text(panel) -> str:
    texts = [widget.text() for widget in panel.findChildren(QLabel)]
    texts += [widget.displayText() for widget in panel.findChildren(QLineEdit)]
    for listing in panel.findChildren(QListWidget):
        texts += [listing.item(row).text() for row in range(listing.count())]
    return "\n".join(texts)


def test_handshake_fields_reach_the_worker(qtbot, qloop, window, db_path: Path, settings: AppSettings,
                                           monkeypatch) -> None:
    monkeypatch.setenv("PULSE_PANEL_TOKEN", SECRET)  # the window's environment, which the worker inherits
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    box = panel.handshake
    finals: list = []
    controller.stopped.connect(finals.append)
    box.toggle_button.click()
    assert box.area.isVisibleTo(panel)
    box.header_name_edit.setText("Authorization")
    box.header_value_edit.setText("Bearer ${PULSE_PANEL_TOKEN}")
    box.add_header_button.click()
    box.header_name_edit.setText("X-Literal")
    box.header_value_edit.setText(LITERAL)
    box.add_header_button.click()
    assert [box.header_list.item(row).text() for row in range(box.header_list.count())] == [
        "Authorization: ••••••", "X-Literal: ••••••"]
    box.header_name_edit.setText("Bad Name")
    box.header_value_edit.setText(LITERAL)
    box.add_header_button.click()
    assert "header name" in panel.error_label.text() and LITERAL not in panel.error_label.text()
    box.subscribe_edit.setText(SUBSCRIBE)
    box.subprotocol_edit.setText("pulse.v1")
    command_lines: list[bytes] = []

    async def scenario() -> None:
        panel.url_edit.setText(server.url)
        panel.table_edit.setText("feed")
        panel.start_button.click()
        await wait_for(lambda: len(server.subscribes) == 1, 30)  # the worker connected with the header
        pid = controller.worker_pid
        assert pid is not None
        for each in (pid, *children_of(pid)):
            command_lines.append(Path(f"/proc/{each}/cmdline").read_bytes())
        server.go.set()
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written >= 80, 30)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)

    with HandshakeServer(authorization=f"Bearer {SECRET}", subscribe=SUBSCRIBE, count=80, subprotocol="pulse.v1",
                         hold=True) as server:
        resolve(qtbot, scenario(), timeout=90_000)
    assert server.subscribes == [SUBSCRIBE] and server.refused == []
    assert all("X-Literal" in names for names in server.header_names)
    assert rows_in(db_path, "feed") == 80
    assert command_lines and not any(SECRET.encode() in line or LITERAL.encode() in line for line in command_lines)
    shown = _visible_text(panel)
    assert SECRET not in shown and LITERAL not in shown
    settings.sync()
    saved = Path(settings.file_name).read_text()
    assert (settings.ingest_subscribe(), settings.ingest_subprotocols()) == (SUBSCRIBE, "pulse.v1")
    assert SECRET not in saved and LITERAL not in saved and "X-Literal" not in saved


def test_a_missing_variable_is_said_before_starting(qtbot, qloop, window, db_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PULSE_PANEL_ABSENT", raising=False)
    open_in(qtbot, window, db_path)
    panel = window.ingest
    panel.handshake.add_header("Authorization", "Bearer ${PULSE_PANEL_ABSENT}")
    panel.url_edit.setText("ws://127.0.0.1:9/")
    panel.start_button.click()
    assert "PULSE_PANEL_ABSENT" in panel.error_label.text()
    assert not window.ingest_controller.running
