"""Your numbers: the user's query series of the open database, their latest values and alerts, and the
series offered by presets that recognise the file's layout.

The panel owns the list of series of the open file: it loads it from the app's settings when a file opens
(never from or into the file itself), hands it to the session (which samples it), and saves every change.
`series_changed` tells the window to redraw the dashboard; `alerts_changed` carries the firing alerts for the
banner; a rule that starts firing is also sent as a desktop notification.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.alerts import AlertState, parse_rule
from desktop_app.core.errors import PulseError, QueryError
from desktop_app.core.query_series import MIN_INTERVAL, QuerySeries, QueryValue
from desktop_app.core.session import Session
from desktop_app.core.workspace import Workspace
from desktop_app.ui.aio import spawn
from desktop_app.ui.notifications import Notifier
from desktop_app.ui.panels import follow_workspace
from desktop_app.ui.settings import AppSettings

if TYPE_CHECKING:
    from desktop_app.core.presets import Match

SERIES_ROLE = Qt.ItemDataRole.UserRole


def suggested_name(sql: str, taken: set[str]) -> str:
    """A free name for a new series: the first table the SQL names, else 'series'."""
    words = sql.replace("(", " ").replace(")", " ").split()
    lowered = [word.lower() for word in words]
    base = "series"
    if "from" in lowered and lowered.index("from") + 1 < len(words):
        candidate = "".join(ch for ch in words[lowered.index("from") + 1] if ch.isalnum() or ch == "_")
        if candidate and candidate[0].isalpha():
            base = candidate[:40]
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


class SeriesEditor(QDialog):
    """Create or edit one series; OK checks the SQL on the open database (prepared, not run) before saving."""

    saved = Signal(object)  # QuerySeries

    def __init__(
        self, parent: QWidget | None, *, check: Callable[[str], Any], taken: set[str],
        series: QuerySeries | None = None, sql: str = "",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("seriesEditor")
        self.setWindowTitle("Edit series" if series else "Chart this query")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._check = check
        self._taken = taken - ({series.name} if series else set())
        start = series or QuerySeries(suggested_name(sql, taken), sql or "SELECT count(*) FROM …")
        self.name = QLineEdit(start.name)
        self.sql = QPlainTextEdit(start.sql)
        self.sql.setMinimumHeight(90)
        self.interval = QDoubleSpinBox()
        self.interval.setRange(MIN_INTERVAL, 86_400.0)
        self.interval.setDecimals(1)
        self.interval.setSuffix(" s")
        self.interval.setValue(start.interval)
        self.budget = QSpinBox()
        self.budget.setRange(1, 60_000)
        self.budget.setSuffix(" ms")
        self.budget.setValue(int(start.budget_ms))
        self.budget.setToolTip("A run taking longer is interrupted and flagged: a slow query costs at most this")
        self.unit = QLineEdit(start.unit)
        self.rule = QLineEdit(start.rule)
        self.rule.setPlaceholderText("none · > 1000 · < 1 · rising for 5m · unchanged for 10m")
        self.error = QLabel()
        self.error.setObjectName("seriesError")
        self.error.setWordWrap(True)
        self.error.hide()
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("SQL (a number, or rows of label, number)", self.sql)
        form.addRow("Every", self.interval)
        form.addRow("Time budget", self.budget)
        form.addRow("Unit", self.unit)
        form.addRow("Alert when", self.rule)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(lambda: spawn(self.submit()))
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(560, 380)

    def series(self) -> QuerySeries:
        """What the form says, validated (QueryError says what is wrong)."""
        series = QuerySeries(
            self.name.text().strip(), self.sql.toPlainText().strip(), interval=self.interval.value(),
            budget_ms=float(self.budget.value()), unit=self.unit.text().strip(), rule=self.rule.text().strip(),
        )
        if series.name in self._taken:
            raise QueryError(f"A series named {series.name} exists already: pick another name.")
        if series.rule:
            parse_rule(series.rule, query=series.name)
        return series

    async def submit(self) -> bool:
        self.buttons.setEnabled(False)
        try:
            series = self.series()
            await self._check(series.sql)
        except PulseError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return False
        finally:
            self.buttons.setEnabled(True)
        self.saved.emit(series)
        self.accept()
        return True


class NumbersPanel(QWidget):
    series_changed = Signal(object)  # tuple[QuerySeries, ...]
    alerts_changed = Signal(object)  # list[AlertState]: the firing ones
    presets_found = Signal(object)  # list[Match]

    def __init__(
        self, settings: AppSettings, dialogs: Any = None, parent: QWidget | None = None, *,
        workspace: Workspace | None = None, notifier: Notifier | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("numbers")
        self._settings = settings
        self.dialogs = dialogs
        self.notifier = notifier or Notifier(self)
        self._session: Session | None = None
        self.series: tuple[QuerySeries, ...] = ()
        self.matches: list[Match] = []
        self.editor: SeriesEditor | None = None

        self.list = QListWidget()
        self.list.setObjectName("seriesList")
        self.list.itemDoubleClicked.connect(lambda _item: self.edit_selected())
        self.list.currentRowChanged.connect(lambda _row: self._update_buttons())
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Chart a query of your own: a number, or rows of label, number")
        self.add_button.clicked.connect(lambda: self.open_editor())
        self.edit_button = QPushButton("Edit…")
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.up_button = QPushButton("Up")
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button = QPushButton("Down")
        self.down_button.clicked.connect(lambda: self.move_selected(1))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.add_button, self.edit_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.presets_label = QLabel()
        self.presets_label.setObjectName("presetsNote")
        self.presets_label.setWordWrap(True)
        self.presets_label.hide()
        self.presets_bar = QHBoxLayout()
        self.presets_bar.setContentsMargins(0, 0, 0, 0)
        self.preset_buttons: dict[str, QPushButton] = {}

        self.note = QLabel("Open a database to chart its numbers: outbox backlog, dead letters, projection lag…")
        self.note.setObjectName("numbersNote")
        self.note.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.note)
        layout.addWidget(self.presets_label)
        layout.addLayout(self.presets_bar)
        layout.addLayout(buttons)
        layout.addWidget(self.list, 1)
        self._update_buttons()
        if workspace is not None:  # each file the workspace opens (or closes) arrives here by itself
            follow_workspace(self, workspace, self.set_session, self._let_go)

    # The open file -----------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self._let_go()
        self._session = session
        self.matches = []
        self._show_presets()
        if session is None:
            self.series = ()
            self.note.setText("Open a database to chart its numbers: outbox backlog, dead letters, projection lag…")
        else:
            self.series = tuple(self._settings.query_series_for(session.path))
            self.note.setText(f"Your numbers for {session.path.name}: sampled read-only, saved in the app's settings.")
            session.events.queries.connect(self._on_queries)
            session.events.alerts.connect(self._on_alerts)
            session.events.schema_changed.connect(self._on_schema_changed)  # an ingest may create the tables later
            spawn(self._find_presets(session))
        self._apply(save=False)

    def _on_schema_changed(self, _objects: object) -> None:
        if self._session is not None:
            spawn(self._find_presets(self._session))

    def _let_go(self) -> None:
        """Stop listening to the session's values, alerts and schema (also when the panel is deleted first)."""
        if self._session is not None:
            self._session.events.queries.disconnect(self._on_queries)
            self._session.events.alerts.disconnect(self._on_alerts)
            self._session.events.schema_changed.disconnect(self._on_schema_changed)
            self._session = None

    async def _find_presets(self, session: Session) -> None:
        from desktop_app.core import presets  # noqa: PLC0415 (loaded when a file opens, not with the window)

        try:
            matches = await session.browse(presets.detect)
        except PulseError:  # the file went away or is locked: no offer, nothing else lost
            return
        if session is self._session:
            self.matches = matches
            self._show_presets()
            self.presets_found.emit(matches)

    def _show_presets(self) -> None:
        for button in self.preset_buttons.values():
            self.presets_bar.removeWidget(button)
            button.deleteLater()
        self.preset_buttons = {}
        names = {series.name for series in self.series}
        offers = [match for match in self.matches if any(s.name not in names for s in match.series)]
        self.presets_label.setVisible(bool(offers))
        if offers:
            self.presets_label.setText("This file looks like " + ", ".join(m.preset.title for m in offers) + ":")
        for match in offers:
            button = QPushButton(f"Add {match.preset.title} series ({len(match.series)})")
            button.setObjectName(f"preset_{match.preset.key}")
            button.setToolTip(html.escape(match.preset.description) + "<br>" + "<br>".join(
                html.escape(s.name) for s in match.series))
            button.clicked.connect(lambda _checked=False, m=match: self.add_preset(m))
            self.preset_buttons[match.preset.key] = button
            self.presets_bar.addWidget(button)

    def add_preset(self, match: Match) -> None:
        names = {series.name for series in self.series}
        self.series = (*self.series, *(series for series in match.series if series.name not in names))
        self._apply()

    # Editing -----------------------------------------------------------------------------------------------
    def open_editor(self, series: QuerySeries | None = None, sql: str = "") -> SeriesEditor | None:
        session = self._session
        if session is None or session.closed:
            return None
        editor = SeriesEditor(
            self.window(), check=session.check_query, taken={s.name for s in self.series}, series=series, sql=sql
        )
        editor.saved.connect(lambda new: self._saved(series, new))
        self.editor = editor
        editor.open()
        return editor

    def _saved(self, old: QuerySeries | None, new: QuerySeries) -> None:
        if old is None:
            self.series = (*self.series, new)
        else:
            self.series = tuple(new if series == old else series for series in self.series)
        self._apply()

    def selected(self) -> QuerySeries | None:
        item = self.list.currentItem()
        return None if item is None else item.data(SERIES_ROLE)

    def edit_selected(self) -> None:
        if (series := self.selected()) is not None:
            self.open_editor(series)

    def remove_selected(self) -> None:
        if (series := self.selected()) is not None:
            self.series = tuple(item for item in self.series if item != series)
            self._apply()

    def move_selected(self, step: int) -> None:
        row = self.list.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < len(self.series):
            return
        items = list(self.series)
        items[row], items[target] = items[target], items[row]
        self.series = tuple(items)
        self._apply()
        self.list.setCurrentRow(target)

    def _apply(self, *, save: bool = True) -> None:
        """The list to the session (sampled from the next pass), the settings and the dashboard."""
        session = self._session
        if session is not None and not session.closed:
            session.set_query_series(self.series)
            if save:
                self._settings.set_query_series_for(session.path, self.series)
        self._fill_list()
        self._show_presets()
        self.series_changed.emit(self.series)
        self.alerts_changed.emit([])

    # Values and alerts -------------------------------------------------------------------------------------
    def _fill_list(self) -> None:
        row = self.list.currentRow()
        self.list.clear()
        for series in self.series:
            item = QListWidgetItem()
            item.setData(SERIES_ROLE, series)
            self.list.addItem(item)
        self._refresh_items()
        if self.series:
            self.list.setCurrentRow(min(max(row, 0), len(self.series) - 1))
        self._update_buttons()

    def _refresh_items(self) -> None:
        session = self._session
        values = session.query_values if session is not None else {}
        firing = {state.rule.query for state in (session.alerts.firing() if session is not None else [])}
        for index in range(self.list.count()):
            item = self.list.item(index)
            series: QuerySeries = item.data(SERIES_ROLE)
            text = f"{series.name} = {describe_value(values.get(series.name))}"
            if series.rule:
                text += f"   · alert when {series.rule}"
            if series.name in firing:
                text = "⚠ " + text
            if item.text() != text:
                item.setText(text)
            item.setToolTip(series.sql)

    def _on_queries(self, _values: list[QueryValue]) -> None:
        self._refresh_items()

    def _on_alerts(self, changed: list[AlertState]) -> None:
        session = self._session
        if session is None:
            return
        for state in changed:
            if state.firing:
                self.notifier.notify(f"SQLite Pulse: {state.rule.text}", f"{session.path.name}: {state.message}")
        self._refresh_items()
        self.alerts_changed.emit(session.alerts.firing())

    def _update_buttons(self) -> None:
        has_session = self._session is not None
        selected = self.list.currentRow() >= 0
        self.add_button.setEnabled(has_session)
        for button in (self.edit_button, self.remove_button, self.up_button, self.down_button):
            button.setEnabled(has_session and selected)


def describe_value(value: QueryValue | None) -> str:
    if value is None:
        return "…"
    if value.over_budget or (value.value is None and value.error):
        return f"⚠ {value.error}"
    if value.labels is not None:
        top = sorted(value.labels.items(), key=lambda item: -item[1])[:4]
        return ", ".join(f"{label}: {number:,.6g}" for label, number in top) or "no rows"
    return "no value" if value.value is None else f"{value.value:,.6g}"

