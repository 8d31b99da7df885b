"""Persistent settings (recent files, window geometry, last stream URL, console history, preferences) over QSettings.

The QSettings object is passed in, so tests point it at a file under tmp_path and never touch the real
settings; `AppSettings.default()` is the per-user INI file (under XDG_CONFIG_HOME on Linux).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QByteArray, QSettings

from desktop_app.core.errors import QueryError
from desktop_app.core.query_series import QuerySeries
from desktop_app.core.saved_queries import SavedQuery, saved_queries_from, saved_queries_to

ORGANIZATION = "SQLitePulse"
APPLICATION = "SQLite Pulse"
MAX_RECENT_FILES = 10
MAX_HISTORY = 200
MAX_LAYOUT_FILES = 100
DEFAULT_STREAM_URL = "ws://127.0.0.1:8765"
CHART_WINDOWS = (60, 300, 3600)


@dataclass(frozen=True)
class Preferences:
    theme: str = "system"  # system, light or dark
    sample_interval: float = 0.25  # seconds between samples of the open database
    chart_window: int = 60  # seconds of history the charts show (one of CHART_WINDOWS)
    grid_font_size: int = 0  # points; 0 follows the desktop's font
    editor_font_size: int = 0


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

    # Preferences (the Preferences dialog; applied live by the window).
    def preferences(self) -> Preferences:
        defaults = Preferences()
        theme = str(self._store.value("view/theme", defaults.theme))
        return Preferences(
            theme=theme if theme in ("system", "light", "dark") else defaults.theme,
            sample_interval=self._number("view/sample_interval", defaults.sample_interval, 0.05, 10.0),
            chart_window=int(self._number("view/chart_window", defaults.chart_window, 60, 3600)),
            grid_font_size=int(self._number("view/grid_font_size", defaults.grid_font_size, 0, 48)),
            editor_font_size=int(self._number("view/editor_font_size", defaults.editor_font_size, 0, 48)),
        )

    def set_preferences(self, preferences: Preferences) -> None:
        self._store.setValue("view/theme", preferences.theme)
        self._store.setValue("view/sample_interval", preferences.sample_interval)
        self._store.setValue("view/chart_window", preferences.chart_window)
        self._store.setValue("view/grid_font_size", preferences.grid_font_size)
        self._store.setValue("view/editor_font_size", preferences.editor_font_size)

    # First run: the demo's welcome note shows until dismissed.
    def welcome_dismissed(self) -> bool:
        return str(self._store.value("view/welcome_dismissed", "false")).lower() == "true"

    def set_welcome_dismissed(self, dismissed: bool = True) -> None:
        self._store.setValue("view/welcome_dismissed", "true" if dismissed else "false")

    # Ingest.
    def stream_url(self) -> str:
        return str(self._store.value("ingest/url", DEFAULT_STREAM_URL))

    def set_stream_url(self, url: str) -> None:
        self._store.setValue("ingest/url", url)

    def ingest_table(self) -> str:
        return str(self._store.value("ingest/table", "readings"))

    def set_ingest_table(self, table: str) -> None:
        self._store.setValue("ingest/table", table)

    # The handshake's subscribe message and subprotocols; never its headers, whose values may be secrets.
    def ingest_subscribe(self) -> str:
        return str(self._store.value("ingest/subscribe", "") or "")

    def ingest_subprotocols(self) -> str:
        return str(self._store.value("ingest/subprotocols", "") or "")

    def set_ingest_handshake(self, subscribe: str, subprotocols: str) -> None:
        self._store.setValue("ingest/subscribe", subscribe)
        self._store.setValue("ingest/subprotocols", subprotocols)

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

    # The user's query series, per database (never in the database file itself).
    def query_series_for(self, path: Path | str) -> list[QuerySeries]:
        saved = self._for_file("queries/by_file", path) or []
        series = []
        for item in saved if isinstance(saved, list) else []:
            try:
                series.append(QuerySeries.from_dict(item))
            except (QueryError, TypeError, AttributeError):  # a hand-edited or foreign entry: skipped
                continue
        return series

    def set_query_series_for(self, path: Path | str, series: Iterable[QuerySeries]) -> None:
        self._set_for_file("queries/by_file", path, [item.to_dict() for item in series])

    # The console's open tabs and its saved queries, per database (never in the database file itself).
    def console_state_for(self, path: Path | str) -> Any:
        return self._for_file("console/tabs_by_file", path)

    def set_console_state_for(self, path: Path | str, state: dict[str, Any]) -> None:
        self._set_for_file("console/tabs_by_file", path, state)

    def saved_queries_for(self, path: Path | str) -> list[SavedQuery]:
        return saved_queries_from(self._for_file("console/saved_by_file", path))

    def set_saved_queries_for(self, path: Path | str, queries: list[SavedQuery]) -> None:
        self._set_for_file("console/saved_by_file", path, saved_queries_to(queries))

    def _for_file(self, key: str, path: Path | str) -> Any:
        """The JSON value kept under `key` for the database at `path` (None when there is none)."""
        return self._json_object(key).get(str(path))

    def _set_for_file(self, key: str, path: Path | str, value: Any) -> None:
        """Keep `value` under `key` for `path` (an empty value removes it); the most recently changed
        files come first, and past MAX_LAYOUT_FILES the oldest are dropped."""
        saved = self._json_object(key)
        saved.pop(str(path), None)
        if value:
            saved = {str(path): value, **saved}
        self._store.setValue(key, json.dumps(dict(list(saved.items())[:MAX_LAYOUT_FILES])))

    def _json_object(self, key: str) -> dict[str, Any]:
        try:
            value = json.loads(str(self._store.value(key, "{}") or "{}"))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _string_list(self, key: str) -> list[str]:
        value = self._store.value(key, [])
        if value is None:
            return []
        if isinstance(value, str):  # QSettings hands back a one-element list as a bare string
            return [value] if value else []
        return [str(item) for item in cast("Iterable[object]", value)]  # QSettings: a list

    def _number(self, key: str, default: float, low: float, high: float) -> float:
        try:
            value = float(cast(Any, self._store.value(key, default)))  # whatever the INI holds
        except (TypeError, ValueError):  # a hand-edited or foreign INI value
            return default
        return min(high, max(low, value))

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None
