"""Persistent settings (recent files, window geometry, last stream URL, console history) over QSettings.

The QSettings object is passed in, so tests point it at a file under tmp_path and never touch the real
settings; `AppSettings.default()` is the per-user INI file (under XDG_CONFIG_HOME on Linux).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "SQLitePulse"
APPLICATION = "SQLite Pulse"
MAX_RECENT_FILES = 10
MAX_HISTORY = 200
MAX_LAYOUT_FILES = 100
DEFAULT_STREAM_URL = "ws://127.0.0.1:8765"


class AppSettings:
    def __init__(self, store: QSettings) -> None:
        self._store = store

    @classmethod
    def default(cls) -> AppSettings:
        return cls(QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, "sqlite-pulse"))

    @classmethod
    def at(cls, path: Path) -> AppSettings:
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @property
    def file_name(self) -> str:
        return self._store.fileName()

    def sync(self) -> None:
        self._store.sync()

    # Recent files, most recent first.
    def recent_files(self) -> list[str]:
        return self._string_list("files/recent")

    def add_recent_file(self, path: Path | str) -> list[str]:
        text = str(path)
        recent = [text] + [item for item in self.recent_files() if item != text]
        self._store.setValue("files/recent", recent[:MAX_RECENT_FILES])
        return self.recent_files()

    def remove_recent_file(self, path: Path | str) -> None:
        self._store.setValue("files/recent", [item for item in self.recent_files() if item != str(path)])

    def clear_recent_files(self) -> None:
        self._store.setValue("files/recent", [])

    # Window geometry and dock layout.
    def window_geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    def window_state(self) -> QByteArray | None:
        return self._bytes("window/state")

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._store.setValue("window/geometry", geometry)
        self._store.setValue("window/state", state)

    # Ingest.
    def stream_url(self) -> str:
        return str(self._store.value("ingest/url", DEFAULT_STREAM_URL))

    def set_stream_url(self, url: str) -> None:
        self._store.setValue("ingest/url", url)

    def ingest_table(self) -> str:
        return str(self._store.value("ingest/table", "readings"))

    def set_ingest_table(self, table: str) -> None:
        self._store.setValue("ingest/table", table)

    # Console history, oldest first.
    def query_history(self) -> list[str]:
        return self._string_list("console/history")

    def add_query(self, sql: str) -> list[str]:
        sql = sql.strip()
        if not sql:
            return self.query_history()
        history = [item for item in self.query_history() if item != sql] + [sql]
        self._store.setValue("console/history", history[-MAX_HISTORY:])
        return self.query_history()

    # Monitor / Browse layout the user picked for a database (the window chooses for the others).
    def layout_for(self, path: Path | str) -> str | None:
        for item in self._string_list("layout/picked"):
            mode, _, where = item.partition("|")
            if where == str(path):
                return mode
        return None

    def set_layout_for(self, path: Path | str, mode: str) -> None:
        kept = [item for item in self._string_list("layout/picked") if item.partition("|")[2] != str(path)]
        self._store.setValue("layout/picked", [f"{mode}|{path}", *kept][:MAX_LAYOUT_FILES])

    def _string_list(self, key: str) -> list[str]:
        value = self._store.value(key, [])
        if value is None:
            return []
        if isinstance(value, str):  # QSettings hands back a one-element list as a bare string
            return [value] if value else []
        return [str(item) for item in value]

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None
