from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import apsw
import pytest

from desktop_app.core.database import connect_read
from desktop_app.core.demo import DemoServer
from desktop_app.ui.panels.ingest import describe_state
from desktop_app.ui.settings import AppSettings
from tests.processes import alive
from tests.scenarios import free_port, rows, wait_for

from .conftest import open_in, resolve

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






def rows_in(path: Path, table: str) -> int:
    return rows(path, f'SELECT count(*) FROM "{table}"')[0][0]


def test_demo_streams_into_its_own_database_and_keeps_the_users_url(qtbot, qloop, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    panel.url_edit.setText("ws://my.server:9000/feed")
    panel.table_edit.setText("demo_readings")
    panel.demo_rate.setValue(2000)
    started: list = []
    controller.started.connect(started.append)

    async def scenario():
        panel.demo_button.click()
        await wait_for(lambda: bool(started), 30)
        pid = controller.demo_pid
        assert pid is not None and alive(pid)
        assert not panel.demo_button.isEnabled() and panel.stop_button.isEnabled()
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written >= 200)
        await wait_for(lambda: panel.state_label.text() == "connected", 5)
        assert panel.counter_labels["written"].text() not in ("–", "0")
        await wait_for(lambda: window.status_labels["ingest"].text() == "ingest: connected", 5)
        await wait_for(lambda: window.database is not None and window.database.path == window.demo_database_path(), 10)
        finals: list = []
        controller.stopped.connect(finals.append)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)
        await wait_for(lambda: not alive(pid), 10)
        return finals[0]

    final = resolve(qtbot, scenario(), timeout=90_000)
    assert final.state == "stopped" and final.written == final.received - final.dead_letters
    assert rows_in(window.demo_database_path(), "demo_readings") == final.written
    assert panel.url_edit.text() == "ws://my.server:9000/feed"  # the user's URL, not the demo's
    names = {row[0] for row in connect_read(db_path).execute("SELECT name FROM sqlite_schema").fetchall()}
    assert "demo_readings" not in names and "pulse_dead_letters" not in names  # the user's file is untouched
    assert panel.demo_button.isEnabled() and not panel.stop_button.isEnabled()


def test_closing_the_window_stops_the_demo_and_its_server(qtbot, qloop, window) -> None:
    async def scenario():
        window.start_demo(1000)
        await wait_for(lambda: window.ingest_controller.last_stats is not None
                    and window.ingest_controller.last_stats.written > 0, 30)
        pid, worker = window.ingest_controller.demo_pid, window.ingest_controller.worker_pid
        window.shutdown()  # closing the window stops the stream, flushes and ends the server
        await wait_for(lambda: not alive(pid) and not alive(worker), 10)
        await wait_for(lambda: not window.ingest_controller.running, 10)

    resolve(qtbot, scenario(), timeout=90_000)
    assert rows_in(window.demo_database_path(), "readings") > 0


def test_start_asks_then_ingests_from_a_url_in_raw_mode(qtbot, qloop, window, scripted, db_path: Path,
                                                        settings: AppSettings) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    started, finals = [], []
    controller.started.connect(started.append)
    controller.stopped.connect(finals.append)

    async def scenario():
        panel.url_edit.setText(server.url)
        panel.table_edit.setText("raw_messages")
        panel.mode_combo.setCurrentIndex(1)
        panel.start_button.click()
        await wait_for(lambda: bool(started), 10)
        assert started[0].raw and started[0].table == "raw_messages"
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written >= 300)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)

    with ServerThread(count=300) as server:
        resolve(qtbot, scenario(), timeout=90_000)
    assert scripted.confirmations == ["Write into this database?"]  # it named the tables it would create
    assert rows_in(db_path, "raw_messages") == 300
    assert settings.stream_url() == server.url
    assert settings.ingest_table() == "raw_messages"


def test_unreachable_server_shows_backoff_with_a_countdown_and_attempts(qtbot, qloop, window, db_path: Path) -> None:
    open_in(qtbot, window, db_path)
    panel, controller = window.ingest, window.ingest_controller
    finals: list = []
    controller.stopped.connect(finals.append)

    async def scenario():
        panel.url_edit.setText(f"ws://127.0.0.1:{free_port()}")
        panel.start_button.click()
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.state == "backoff", 15)
        await wait_for(lambda: "reconnecting in" in panel.state_label.text(), 5)
        await wait_for(lambda: panel.counter_labels["retry_attempts"].text() not in ("–", "0"), 10)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)

    resolve(qtbot, scenario(), timeout=90_000)
    assert not controller.running
    names = {row[0] for row in connect_read(db_path).execute("SELECT name FROM sqlite_schema").fetchall()}
    assert "pulse_dead_letters" not in names  # a connection that never succeeded created nothing


def test_start_needs_a_writable_database_and_a_websocket_url(qtbot, window, db_path: Path) -> None:
    panel = window.ingest
    assert not panel.start_button.isEnabled()  # nothing open
    open_in(qtbot, window, db_path, read_only=True)
    assert not panel.start_button.isEnabled()
    open_in(qtbot, window, db_path)
    assert panel.start_button.isEnabled()
    panel.url_edit.setText("http://example.invalid/")
    panel.start_button.click()
    assert "not a WebSocket URL" in panel.error_label.text()
    assert not window.ingest_controller.running


def test_describe_state() -> None:
    assert describe_state(None) == "idle"


def test_postgres_target_streams_into_postgresql_and_keeps_passwords_off_screen(qtbot, qloop, window, pg_url: str) -> None:
    import psycopg

    panel, controller = window.ingest, window.ingest_controller
    started, finals = [], []
    controller.started.connect(started.append)
    controller.stopped.connect(finals.append)
    panel.target_combo.setCurrentIndex(panel.target_combo.findData("postgres"))
    assert panel.start_button.isEnabled()  # no SQLite database needs to be open
    assert panel.pg_password_edit.echoMode() == panel.pg_password_edit.EchoMode.Password
    panel.pg_url_edit.setText(pg_url.replace("pulse@", "pulse:hunter2@"))
    panel.url_edit.setText("ws://127.0.0.1:1/")
    panel.start_button.click()
    assert "Password field" in panel.error_label.text()
    assert "hunter2" not in panel.pg_url_edit.text()  # masked in place
    assert not controller.running

    async def scenario():
        panel.url_edit.setText(server.url)
        panel.pg_url_edit.setText(pg_url)
        panel.start_button.click()
        await wait_for(lambda: bool(started), 10)
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written >= 300, 30)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)

    with ServerThread(count=300) as server:
        resolve(qtbot, scenario(), timeout=90_000)
    with psycopg.connect(pg_url) as connection:
        assert connection.execute("SELECT count(*) FROM readings").fetchone()[0] == 300


def test_the_password_field_reaches_the_worker_alone(qtbot, qloop, window, postgres_server) -> None:
    """A role that needs a password: the field's password lets the worker in, and it is in the worker's
    environment only, not this process's (which every later child would inherit)."""
    import psycopg

    from tests.postgres_server import SECRET_PASSWORD, SECRET_USER

    database = postgres_server.new_database("panel_secret")
    postgres_server.sql(f'ALTER DATABASE "{database}" OWNER TO {SECRET_USER}')
    url = postgres_server.url(database, user=SECRET_USER)
    panel, controller = window.ingest, window.ingest_controller
    finals = []
    controller.stopped.connect(finals.append)
    panel.target_combo.setCurrentIndex(panel.target_combo.findData("postgres"))
    panel.pg_url_edit.setText(url)
    panel.pg_password_edit.setText(SECRET_PASSWORD)
    worker_environment: list[bytes] = []

    async def scenario():
        panel.url_edit.setText(server.url)
        panel.start_button.click()
        await wait_for(lambda: controller._worker is not None, 10)
        worker_environment.append(Path(f"/proc/{controller._worker.pid}/environ").read_bytes())
        await wait_for(lambda: controller.last_stats is not None and controller.last_stats.written >= 100, 30)
        panel.stop_button.click()
        await wait_for(lambda: bool(finals), 20)

    with ServerThread(count=100) as server:
        resolve(qtbot, scenario(), timeout=90_000)
    assert f"PGPASSWORD={SECRET_PASSWORD}".encode() in worker_environment[0].split(b"\0")
    assert os.environ.get("PGPASSWORD") != SECRET_PASSWORD
    with psycopg.connect(url, password=SECRET_PASSWORD) as connection:
        assert connection.execute("SELECT count(*) FROM readings").fetchone()[0] == 100


def test_a_stream_that_fits_no_column_is_said_in_the_panel_in_the_terminals_words(
    qtbot, workspace, settings: AppSettings, tmp_path: Path
) -> None:
    from desktop_app.core.ingest import IngestConfig, IngestStats, ingest_file
    from desktop_app.ui.ingest_controller import IngestController
    from desktop_app.ui.panels.ingest import IngestPanel

    db = tmp_path / "fixed.db"
    connection = apsw.Connection(str(db))
    connection.execute("CREATE TABLE readings(a INTEGER, b TEXT)")
    connection.close()
    stream = tmp_path / "s.ndjson"
    stream.write_text("".join(f'{{"device_id": "d{n}", "seq": {n}}}\n' for n in range(5)))
    finals: list[IngestStats] = []  # a real run, on a thread of its own (this one runs the window's loop)
    runner = threading.Thread(target=lambda: finals.append(ingest_file(stream, IngestConfig(url="", db_path=db))))
    runner.start()
    runner.join(30)
    final = finals[0]
    panel = IngestPanel(IngestController(workspace=workspace), settings)
    qtbot.addWidget(panel)
    workspace.ingest.stats.emit(IngestStats.from_dict(final.to_dict()))
    warning = final.all_dead_letters_warning()
    assert warning and warning.startswith("every message so far went to dead letters (5)")
    assert panel.error_label.text().startswith(warning)
    workspace.ingest.stats.emit(IngestStats.from_dict({**final.to_dict(), "written": 1, "state": "connected"}))
    assert panel.error_label.text() == ""  # a row landed: no longer true
