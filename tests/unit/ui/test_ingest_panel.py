from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path

import pytest

from desktop_app.core.database import connect_read
from desktop_app.core.demo import DemoServer
from desktop_app.ui.panels.ingest import describe_state
from desktop_app.ui.settings import AppSettings

from .conftest import open_in

pytestmark = pytest.mark.gui


class ServerThread:
    """The demo stream server on its own thread and loop, for as long as the `with` block lasts."""

    def __init__(self, **options: object) -> None:
        self.options = options
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with DemoServer(**self.options) as server:
            self.url = server.url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "demo server did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(")")[1].split()[0] != "Z"


def rows_in(path: Path, table: str) -> int:
    connection = connect_read(path)
    try:
        return connection.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]
    finally:
        connection.close()


def test_demo_button_streams_into_the_open_database_and_stop_ends_the_server(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    panel.table_edit.setText("demo_readings")
    panel.demo_rate.setValue(2000)
    with qtbot.waitSignal(controller.started, timeout=30_000):
        panel.demo_button.click()
    pid = controller.demo_pid
    assert pid is not None and process_alive(pid)
    assert not panel.demo_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: controller.last_stats is not None and controller.last_stats.written >= 200, timeout=20_000)  # noqa: E501
    qtbot.waitUntil(lambda: panel.state_label.text() == "connected", timeout=5000)
    assert panel.counter_labels["written"].text() not in ("–", "0")
    assert window.status_labels["ingest"].text() == "ingest: connected"
    qtbot.waitUntil(lambda: window.dashboard.latest()["ingest_rows_per_s"] > 0, timeout=5000)
    with qtbot.waitSignal(controller.stopped, timeout=20_000) as blocker:
        panel.stop_button.click()
    final = blocker.args[0]
    assert final.state == "stopped" and final.written == final.received - final.dead_letters
    assert rows_in(db_path, "demo_readings") == final.written
    qtbot.waitUntil(lambda: not process_alive(pid), timeout=10_000)
    assert panel.demo_button.isEnabled() and not panel.stop_button.isEnabled()


def test_demo_without_a_database_creates_the_demo_database(qtbot, window) -> None:
    with qtbot.waitSignal(window.ingest_controller.started, timeout=30_000):
        window.start_demo(1000)
    assert window.database.path == window.demo_database_path()
    qtbot.waitUntil(lambda: window.ingest_controller.poll().written > 0, timeout=20_000)
    pid = window.ingest_controller.demo_pid
    window.shutdown()  # closing the window stops the stream, flushes and ends the server
    assert not window.ingest_controller.running
    qtbot.waitUntil(lambda: not process_alive(pid), timeout=10_000)
    assert rows_in(window.demo_database_path(), "readings") > 0


def test_start_ingests_from_a_url_in_raw_mode(qtbot, window, db_path: Path, settings: AppSettings) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    with ServerThread(count=300) as server:
        panel.url_edit.setText(server.url)
        panel.table_edit.setText("raw_messages")
        panel.mode_combo.setCurrentIndex(1)
        with qtbot.waitSignal(controller.started, timeout=10_000) as blocker:
            panel.start_button.click()
        assert blocker.args[0].raw and blocker.args[0].table == "raw_messages"
        qtbot.waitUntil(lambda: controller.poll().written >= 300, timeout=20_000)
        with qtbot.waitSignal(controller.stopped, timeout=20_000):
            panel.stop_button.click()
    assert rows_in(db_path, "raw_messages") == 300
    assert settings.stream_url() == server.url
    assert settings.ingest_table() == "raw_messages"


def test_unreachable_server_shows_backoff_with_a_countdown(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    panel.url_edit.setText(f"ws://127.0.0.1:{free_port()}")
    panel.start_button.click()
    qtbot.waitUntil(lambda: controller.last_stats is not None and controller.last_stats.state == "backoff", timeout=15_000)
    qtbot.waitUntil(lambda: "reconnecting in" in panel.state_label.text(), timeout=5000)
    with qtbot.waitSignal(controller.stopped, timeout=20_000):
        panel.stop_button.click()
    assert not controller.running


def test_start_needs_a_writable_database_and_a_websocket_url(qtbot, window, db_path: Path) -> None:
    panel = window.ingest
    assert not panel.start_button.isEnabled()  # nothing open
    open_in(qtbot, window, db_path, read_only=True)
    assert not panel.start_button.isEnabled() and not panel.demo_button.isEnabled()
    open_in(qtbot, window, db_path)
    assert panel.start_button.isEnabled()
    panel.url_edit.setText("http://example.invalid/")
    panel.start_button.click()
    assert "not a WebSocket URL" in panel.error_label.text()
    assert not window.ingest_controller.running


def test_describe_state() -> None:
    assert describe_state(None) == "idle"


def test_messages_that_do_not_fit_the_table_are_explained(qtbot, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)  # its `readings` table has other columns than the demo messages
    panel, controller = window.ingest, window.ingest_controller
    panel.table_edit.setText("readings")
    with qtbot.waitSignal(controller.started, timeout=30_000):
        panel.demo_button.click()
    qtbot.waitUntil(lambda: controller.poll().dead_letters >= 20, timeout=20_000)
    qtbot.waitUntil(lambda: "dead letter" in panel.error_label.text(), timeout=5000)
    assert panel.counter_labels["dead_letters"].text() != "0"
    with qtbot.waitSignal(controller.stopped, timeout=20_000):
        panel.stop_button.click()
