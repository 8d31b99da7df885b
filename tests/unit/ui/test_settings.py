from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray

from desktop_app.ui.settings import DEFAULT_STREAM_URL, MAX_RECENT_FILES, AppSettings

pytestmark = pytest.mark.gui


def test_recent_files_are_most_recent_first_without_duplicates(settings: AppSettings) -> None:
    settings.add_recent_file("/data/a.db")
    settings.add_recent_file("/data/b.db")
    settings.add_recent_file("/data/a.db")
    assert settings.recent_files() == ["/data/a.db", "/data/b.db"]
    settings.remove_recent_file("/data/a.db")
    assert settings.recent_files() == ["/data/b.db"]


def test_recent_files_are_capped(settings: AppSettings) -> None:
    for index in range(MAX_RECENT_FILES + 5):
        settings.add_recent_file(f"/data/{index}.db")
    recent = settings.recent_files()
    assert len(recent) == MAX_RECENT_FILES
    assert recent[0] == f"/data/{MAX_RECENT_FILES + 4}.db"


def test_values_survive_a_new_settings_object(tmp_path: Path) -> None:
    path = tmp_path / "pulse.ini"
    first = AppSettings.at(path)
    first.add_recent_file("/x/one.db")
    first.set_stream_url("ws://127.0.0.1:9000/feed")
    first.add_query("SELECT 1")
    first.add_query("SELECT 2")
    first.add_query("SELECT 1")
    first.save_window(QByteArray(b"geometry"), QByteArray(b"state"))
    first.sync()
    assert path.exists()

    second = AppSettings.at(path)
    assert second.recent_files() == ["/x/one.db"]
    assert second.stream_url() == "ws://127.0.0.1:9000/feed"
    assert second.query_history() == ["SELECT 2", "SELECT 1"]
    assert bytes(second.window_geometry()) == b"geometry"
    assert bytes(second.window_state()) == b"state"


def test_defaults_when_nothing_is_stored(settings: AppSettings) -> None:
    assert settings.recent_files() == []
    assert settings.stream_url() == DEFAULT_STREAM_URL
    assert settings.window_geometry() is None
    assert settings.query_history() == []
    assert settings.add_query("   ") == []


def test_default_settings_live_in_a_temp_config_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    # conftest points XDG_CONFIG_HOME into a temp folder, so tests never touch real settings. (Qt caches the
    # folder on first use in the process, so it is the temp home of whichever test came first.)
    file_name = Path(AppSettings.default().file_name).resolve()
    assert file_name.is_relative_to(tmp_path_factory.getbasetemp().resolve())
    assert file_name.name == "sqlite-pulse.ini"
