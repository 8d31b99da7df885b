"""One query tab of the console: its editor, its results, plan and bytecode, and the statement it runs.

Statements run as the session's jobs (reads on its console thread, writes on its one write connection)
and are awaited on the qasync loop; pages of rows arrive on the loop thread and fill a lazy model. A run is
tagged with a generation number (and its session) so late pages of a cancelled run, or of a database closed
since, are dropped. Each tab runs and cancels its own statement; a tab may be backed by a .sql file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QFont, QFontDatabase, QFontMetrics
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.completion import Catalog
from desktop_app.core.errors import PulseError, QueryInterrupted
from desktop_app.core.query import PlanNode, QueryResult, ResultPage
from desktop_app.core.saved_queries import TabState
from desktop_app.core.session import Session
from desktop_app.ui import theme
from desktop_app.ui.aio import spawn
from desktop_app.ui.dialogs import Dialogs, ScriptedDialogs
from desktop_app.ui.export import FILE_FILTERS as EXPORT_FILTERS
from desktop_app.ui.export import ExportBar, describe_failure, describe_result, suggested_name
from desktop_app.ui.grid_tools import GridTools
from desktop_app.ui.models.result_model import ResultModel
from desktop_app.ui.sql_editor import SqlEditor

if TYPE_CHECKING:
    from desktop_app.core.export import ExportResult

T = TypeVar("T")

PLACEHOLDER_SQL = "SELECT * FROM sqlite_schema;"
TAB_RESULTS, TAB_PLAN, TAB_BYTECODE = range(3)


@dataclass(frozen=True)
class ShownResult:
    """The rows the active tab's grid holds: for a chart of them, say."""

    sql: str
    columns: list[str]
    rows: list[tuple]
    truncated: bool


class QueryTab(QWidget):
    query_finished = Signal(object)  # QueryResult
    query_failed = Signal(object)  # PulseError
    plan_ready = Signal(object)  # list[PlanNode]
    bytecode_ready = Signal(object)  # ResultPage
    database_changed_by_query = Signal()
    exported = Signal(object)  # Path
    busy_changed = Signal(bool)
    title_changed = Signal()

    def __init__(
        self,
        title: str,
        dialogs: Dialogs | ScriptedDialogs,
        catalog: Callable[[], Catalog],
        remember: Callable[[str], None],
        allow_writes: Callable[[], bool],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("queryTab")
        self.dialogs = dialogs
        self._remember = remember
        self._allow_writes = allow_writes
        self.name = title  # what the user calls it (a file-backed tab shows its file name)
        self.file: Path | None = None
        self._saved_text: str | None = ""  # the file's text as last read or written (None: not known)
        self._session: Session | None = None
        self._task: asyncio.Task | None = None
        self._generation = 0
        self._busy = False
        self._clock = QElapsedTimer()
        self.last_result: QueryResult | None = None
        self.last_error: PulseError | None = None
        self.last_plan: list[PlanNode] = []
        self._current_sql = ""
        self._kind = "run"
        self._result_sql = ""  # the statement whose rows the grid shows (what an export runs again)

        self.editor = SqlEditor(catalog)
        self.editor.setPlainText(PLACEHOLDER_SQL)
        self.editor.textChanged.connect(self.title_changed)

        self.export_csv_button = QPushButton("Export CSV…")
        self.export_json_button = QPushButton("Export JSON…")
        self.export_ndjson_button = QPushButton("Export NDJSON…")
        for button in (self.export_csv_button, self.export_json_button, self.export_ndjson_button):
            button.setToolTip("Run the statement again and write ALL its rows to a file, in the background")
        self.export_bar = ExportBar()
        self.export_bar.finished.connect(self._exported)
        self.export_bar.failed.connect(self._export_failed)
        self.export_csv_button.clicked.connect(lambda: self.export("csv"))
        self.export_json_button.clicked.connect(lambda: self.export("json"))
        self.export_ndjson_button.clicked.connect(lambda: self.export("ndjson"))

        self.result_model = ResultModel()
        self.result_view = self._make_table_view("resultGrid")
        self.result_view.setModel(self.result_model)
        self.result_tools = GridTools(self.result_view, name="result")
        self.bytecode_model = ResultModel()
        self.bytecode_view = self._make_table_view("bytecodeGrid")
        self.bytecode_view.setModel(self.bytecode_model)
        self.plan_tree = QTreeWidget()
        self.plan_tree.setObjectName("planTree")
        self.plan_tree.setHeaderLabels(["Step", "id"])
        self.plan_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.plan_tree.header().setStretchLastSection(False)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.result_view, "Results")
        self.tabs.addTab(self.plan_tree, "Query plan")
        self.tabs.addTab(self.bytecode_view, "Bytecode")

        self.error_label = QLabel()
        self.error_label.setObjectName("queryError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.status_label = QLabel("No database open.")
        self.status_label.setObjectName("queryStatus")

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.error_label)
        lower_layout.addWidget(self.tabs, 1)
        footer = QHBoxLayout()
        footer.addWidget(self.status_label, 1)
        footer.addWidget(self.export_csv_button)
        footer.addWidget(self.export_json_button)
        footer.addWidget(self.export_ndjson_button)
        lower_layout.addLayout(footer)
        lower_layout.addWidget(self.export_bar)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.editor)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter, 1)

        self._ticker = QTimer(self)
        self._ticker.setInterval(100)
        self._ticker.timeout.connect(self._show_progress)
        self._update_buttons()
        self.apply_theme()

    # Title and file ---------------------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        """The text differs from its file's (always False for a tab with no file)."""
        return self.file is not None and (self._saved_text is None or self.editor.toPlainText() != self._saved_text)

    def title(self) -> str:
        if self.file is None:
            return self.name
        return self.file.name + (" *" if self.modified else "")

    def attach_file(self, path: Path, text: str) -> None:
        """The tab now holds `text` as saved in `path`."""
        self.file = path
        self._saved_text = text
        if self.editor.toPlainText() != text:
            self.editor.setPlainText(text)
        self.title_changed.emit()

    def state(self) -> TabState:
        return TabState(self.name, self.editor.toPlainText(), str(self.file) if self.file else None, self.modified)

    def restore(self, state: TabState) -> None:
        self.name = state.title
        self.editor.setPlainText(state.text)
        if state.file is not None:
            self.file = Path(state.file)
            # The file is not read back on reopen: a tab stored as modified stays so until it is saved.
            self._saved_text = None if state.modified else state.text
        self.title_changed.emit()

    # Look -------------------------------------------------------------------------------------------------
    def apply_theme(self) -> None:
        """Error and full-scan colours from the palette (readable on light and dark schemes)."""
        colors = theme.colors()
        self.error_label.setStyleSheet(
            f"color: {colors.danger_text.name()}; background: {colors.danger_background.name()};"
            " padding: 4px; border-radius: 3px;"
        )
        self.full_scan_colors = (colors.danger_background, colors.danger_text)
        self._recolor_plan(self.plan_tree.invisibleRootItem())

    def _recolor_plan(self, parent: QTreeWidgetItem) -> None:
        for index in range(parent.childCount()):
            item = parent.child(index)
            if item is None:  # never, for an index below the count (the stub allows it)
                continue
            if item.data(0, Qt.ItemDataRole.UserRole):
                self._paint_full_scan(item)
            self._recolor_plan(item)

    def _paint_full_scan(self, item: QTreeWidgetItem) -> None:
        background, foreground = self.full_scan_colors
        for column in range(2):
            item.setBackground(column, QBrush(background))
            item.setForeground(column, QBrush(foreground))

    def set_font_sizes(self, editor_points: int, grid_points: int) -> None:
        """Editor and result grid font sizes in points (0: the desktop's size)."""
        editor_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        if editor_points > 0:
            editor_font.setPointSize(editor_points)
        self.editor.setFont(editor_font)
        for view in (self.result_view, self.bytecode_view, self.plan_tree):
            font = QFont(self.font())
            if grid_points > 0:
                font.setPointSize(grid_points)
            view.setFont(font)
            if isinstance(view, QTableView):
                view.verticalHeader().setDefaultSectionSize(max(22, QFontMetrics(font).height() + 6))

    @staticmethod
    def _make_table_view(name: str) -> QTableView:
        view = QTableView()
        view.setObjectName(name)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.verticalHeader().setDefaultSectionSize(22)
        view.horizontalHeader().setDefaultSectionSize(120)
        return view

    # Session ----------------------------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Work on `session` (None: nothing open). Results, plan, bytecode and errors of the last one go."""
        self._generation += 1  # anything still on its way belongs to the old database
        if self._task is not None and not self._task.done():
            self._task.cancel()  # interrupts its statement
        self._task = None
        self._session = session
        self._set_busy(False)
        self.export_bar.cancel()
        self._clear_results()
        if session is not None:
            self.status_label.setText(f"Ready: {session.path.name}{' (read-only)' if session.read_only else ''}.")
        else:
            self.status_label.setText("No database open.")
        self._update_buttons()

    def _clear_results(self) -> None:
        self.result_model = ResultModel()
        self.result_view.setModel(self.result_model)
        self.bytecode_model = ResultModel()
        self.bytecode_view.setModel(self.bytecode_model)
        self.plan_tree.clear()
        self.error_label.hide()
        self.error_label.clear()
        self.last_result = None
        self.last_error = None
        self.last_plan = []
        self._result_sql = ""

    @property
    def busy(self) -> bool:
        return self._busy

    def current_result(self) -> ShownResult | None:
        """The columns and rows of the last run's result that the grid holds (None before a run)."""
        if self.last_result is None or not self.result_model.columns:
            return None
        return ShownResult(self._result_sql, list(self.result_model.columns), self.result_model.rows(), self.last_result.truncated)

    # Actions ----------------------------------------------------------------------------------------------
    def statement_text(self) -> str:
        """The selection if there is one, else the whole editor."""
        selected = self.editor.textCursor().selectedText()
        text = selected if selected.strip() else self.editor.toPlainText()
        return text.replace("\u2029", "\n")  # Qt's paragraph separator in selections

    def run(self, sql: str | None = None) -> asyncio.Task | None:
        session = self._start("run", sql)
        if session is None:
            return None
        self.result_model = ResultModel()
        self.result_view.setModel(self.result_model)
        self._result_sql = ""
        self.tabs.setCurrentIndex(TAB_RESULTS)
        generation, model = self._generation, self.result_model

        def page(result_page: ResultPage) -> None:
            if generation == self._generation:
                model.add_page(result_page)

        allow_writes = self._allow_writes()
        return self._launch(
            generation,
            lambda: session.run_query(self._current_sql, allow_writes=allow_writes, on_page=page),
            self._on_done,
        )

    def explain_plan(self, sql: str | None = None) -> asyncio.Task | None:
        session = self._start("plan", sql)
        if session is None:
            return None
        return self._launch(self._generation, lambda: session.explain_plan(self._current_sql), self._on_plan)

    def explain_bytecode(self, sql: str | None = None) -> asyncio.Task | None:
        session = self._start("bytecode", sql)
        if session is None:
            return None
        return self._launch(self._generation, lambda: session.explain(self._current_sql), self._on_bytecode)

    def _launch(
        self, generation: int, work: Callable[[], Awaitable[T]], on_result: Callable[[int, T], None]
    ) -> asyncio.Task:
        # `work()` makes its coroutine inside the task: cancelled before it starts, none is left un-awaited.
        async def settle() -> None:
            try:
                result = await work()
            except PulseError as error:
                self._on_error(generation, error)
            else:
                on_result(generation, result)

        def ended(task: asyncio.Task) -> None:  # Cancel: this tab's statement only (even before it started)
            if task.cancelled():
                self._on_error(generation, QueryInterrupted("Cancelled."))

        self._task = spawn(settle())
        self._task.add_done_callback(ended)
        return self._task

    def cancel(self) -> None:
        """Interrupt this tab's statement (another tab's keeps running)."""
        if self._busy and self._task is not None and not self._task.done():
            self._task.cancel()
            self.status_label.setText("Cancelling…")

    def _start(self, kind: str, sql: str | None) -> Session | None:
        if self._session is None:
            self.show_error("Open a database first.")
            return None
        if self._busy:
            self.status_label.setText("A statement is still running: cancel it first.")
            return None
        text = (sql if sql is not None else self.statement_text()).strip()
        if not text:
            self.show_error("There is no SQL to run.")
            return None
        self.editor.hide_completions()
        self._current_sql = text
        self._generation += 1
        self.error_label.hide()
        self.last_error = None
        if kind == "run":
            self._remember(text)
        self._kind = kind
        self._set_busy(True)
        return self._session

    # Results (GUI thread) ---------------------------------------------------------------------------------
    def _on_done(self, generation: int, result: QueryResult) -> None:
        if generation != self._generation:
            return
        self._result_sql = self._current_sql
        self._set_busy(False)
        self.result_model.set_columns(result.columns)
        self.last_result = result
        parts = [f"{result.row_count:,} row{'s' if result.row_count != 1 else ''}"]
        if result.truncated:
            parts[0] = f"showing the first {result.row_count:,} rows (a display limit); Export writes all of them"
        if result.changes:
            parts.append(f"{result.changes:,} changed")
        parts.append(f"{result.elapsed_ms:,.1f} ms")
        self.status_label.setText(" · ".join(parts))
        self.query_finished.emit(result)
        if result.changes or not result.columns:
            self.database_changed_by_query.emit()

    def _on_plan(self, generation: int, roots: list[PlanNode]) -> None:
        if generation != self._generation:
            return
        self._set_busy(False)
        self.last_plan = roots
        self.plan_tree.clear()
        scans = self._add_plan_nodes(self.plan_tree.invisibleRootItem(), roots)
        self.plan_tree.expandAll()
        self.tabs.setCurrentIndex(TAB_PLAN)
        note = f" · {scans} full scan{'s' if scans != 1 else ''} (in red)" if scans else " · no full scans"
        self.status_label.setText(f"Query plan: {count_nodes(roots)} steps{note}")
        self.plan_ready.emit(roots)

    def _add_plan_nodes(self, parent: QTreeWidgetItem, nodes: list[PlanNode]) -> int:
        scans = 0
        for node in nodes:
            item = QTreeWidgetItem(parent, [("⚠ " if node.full_scan else "") + node.detail, str(node.id)])
            if node.full_scan:
                scans += 1
                item.setData(0, Qt.ItemDataRole.UserRole, True)
                self._paint_full_scan(item)
                item.setToolTip(0, "Full scan: every row is read. An index on the filtered or joined column helps.")
            scans += self._add_plan_nodes(item, node.children)
        return scans

    def _on_bytecode(self, generation: int, page: ResultPage) -> None:
        if generation != self._generation:
            return
        self._set_busy(False)
        self.bytecode_model = ResultModel(page.columns)
        self.bytecode_model.add_page(page)
        self.bytecode_view.setModel(self.bytecode_model)
        self.tabs.setCurrentIndex(TAB_BYTECODE)
        self.status_label.setText(f"Bytecode: {len(page.rows):,} instructions")
        self.bytecode_ready.emit(page)

    def _on_error(self, generation: int, error: PulseError) -> None:
        if generation != self._generation:
            return
        self._set_busy(False)
        self.last_error = error
        if isinstance(error, QueryInterrupted):
            self.status_label.setText(f"Cancelled after {self._clock.elapsed():,} ms.")
        else:
            self.status_label.setText("Failed.")
            self.show_error(str(error))
        self.query_failed.emit(error)

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def _set_busy(self, busy: bool) -> None:
        changed = busy != self._busy
        self._busy = busy
        if busy:
            self._clock.start()
            self._ticker.start()
            self.status_label.setText("Running…")
        else:
            self._ticker.stop()
        self._update_buttons()
        if changed:
            self.busy_changed.emit(busy)

    def _show_progress(self) -> None:
        seconds = self._clock.elapsed() / 1000.0
        received = self.result_model.received_count if self._kind == "run" else 0
        rows = f" · {received:,} rows so far" if received else ""
        self.status_label.setText(f"Running… {seconds:.1f} s{rows}")

    def _update_buttons(self) -> None:
        has_rows = self.result_model.received_count > 0 or bool(self.result_model.columns)
        for button in (self.export_csv_button, self.export_json_button, self.export_ndjson_button):
            button.setEnabled(has_rows and not self._busy and bool(self._result_sql))

    # Export -----------------------------------------------------------------------------------------------
    def export(self, fmt: str) -> None:
        """Run the shown result's statement again and stream ALL its rows to a file (not the rows loaded)."""
        if self._session is None or not self._result_sql or not self.result_model.columns:
            self.show_error("Run a query first: there is nothing to export.")
            return
        if self.export_bar.running:
            self.status_label.setText("An export is still running: cancel it first.")
            return
        session, sql = self._session, self._result_sql
        self.dialogs.ask_save_path(
            f"Export all rows as {fmt.upper()}…",
            lambda path: self.export_bar.start(session, sql, path, fmt=fmt) if session is self._session else None,
            suggested=suggested_name("result", fmt),
            file_filter=EXPORT_FILTERS[fmt],
        )

    def _exported(self, result: ExportResult) -> None:
        self.status_label.setText(describe_result(result))
        self.exported.emit(result.path)

    def _export_failed(self, error: PulseError) -> None:
        self.status_label.setText(describe_failure(error))
        if not isinstance(error, QueryInterrupted):
            self.show_error(str(error))


def count_nodes(nodes: list[PlanNode]) -> int:
    return sum(1 + count_nodes(node.children) for node in nodes)
