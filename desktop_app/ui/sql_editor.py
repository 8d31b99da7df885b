"""The console's SQL editor: highlighting and a completion popup.

The popup offers what core/completion.py finds in the text around the cursor against the catalog the
console keeps (read once per schema change), so typing never waits for the database. It opens on
Ctrl+Space, after a `.` and after two characters of a word; Tab or Enter takes the highlighted name,
Escape closes it. Ctrl+W in the editor closes its tab (the window's Ctrl+W closes the database elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QStringListModel, Qt, Signal
from PySide6.QtGui import QFontDatabase, QKeyEvent, QKeySequence, QTextCursor
from PySide6.QtWidgets import QAbstractItemView, QCompleter, QPlainTextEdit, QWidget

from desktop_app.core.completion import WINDOW_CHARS, Catalog, Completion, complete
from desktop_app.ui.sql_highlighter import SqlHighlighter

POPUP_KEYS = frozenset({Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Escape})
RUN_KEYS = frozenset({Qt.Key.Key_Return, Qt.Key.Key_Enter})
CLOSE_TAB = QKeySequence("Ctrl+W")
POPUP_ROWS = 12


def _sequence(event: QKeyEvent) -> QKeySequence:
    return QKeySequence(event.keyCombination())


class SqlEditor(QPlainTextEdit):
    close_requested = Signal()  # Ctrl+W
    run_requested = Signal()  # Ctrl+Enter while the popup has the keyboard (the Run shortcut does not see it)
    completion_shown = Signal(object)  # the Completion the popup shows

    def __init__(self, catalog: Callable[[], Catalog], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sqlEditor")
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setPlaceholderText("Type SQL here. Ctrl+Enter runs it (or just the selected part); Ctrl+Space completes.")
        self.setTabChangesFocus(False)
        self.highlighter = SqlHighlighter(self.document())
        self.completion_enabled = True
        self._catalog = catalog
        self._completion: Completion | None = None
        self._model = QStringListModel(self)
        self.completer = QCompleter(self._model, self)
        self.completer.setWidget(self)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setMaxVisibleItems(POPUP_ROWS)
        self.completer.activated.connect(self.accept_completion)
        self._popup().setObjectName("completionPopup")

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # QCompleter makes one on first use
        return popup

    @property
    def popup_visible(self) -> bool:
        return self._popup().isVisible()

    def completions(self) -> list[str]:
        """What the popup offers now (empty when it is closed)."""
        return self._model.stringList() if self.popup_visible else []

    # Keys ---------------------------------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        # Claim Ctrl+W before the window's shortcut map sees it: in the editor it closes the tab.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) and _sequence(event) == CLOSE_TAB:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if _sequence(event) == CLOSE_TAB:
            self.close_requested.emit()
            return
        if self.popup_visible and event.key() in POPUP_KEYS:
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier and event.key() in RUN_KEYS:
                self.hide_completions()
                self.run_requested.emit()
                return
            event.ignore()  # the completer takes it: Tab and Enter accept, Escape closes
            return
        if event.key() == Qt.Key.Key_Space and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.show_completions(forced=True)
            return
        super().keyPressEvent(event)
        typed = event.text()
        if not self.completion_enabled:
            return
        word_typed = typed == "." or (typed and (typed.isalnum() or typed in "_$"))
        erased = self.popup_visible and event.key() in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete)
        if word_typed or erased:
            self.show_completions(forced=False)
        elif self.popup_visible and typed:
            self._popup().hide()

    # Completion ---------------------------------------------------------------------------------------------
    def show_completions(self, *, forced: bool = True) -> Completion:
        """Open (or refresh) the popup for the word at the cursor; it closes when there is nothing to offer."""
        text, position, offset = self._text_around_cursor()
        found = complete(self._catalog(), text, position, forced=forced)
        completion = Completion(found.start + offset, found.prefix, found.items, found.qualifier)
        self._completion = completion
        popup = self._popup()
        if not completion.items:
            popup.hide()
            return completion
        self._model.setStringList(completion.items)
        self.completer.setCompletionPrefix("")  # the items are already the matches, in our order
        rect = self.cursorRect()
        rect.setWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width() + 8)
        self.completer.complete(rect)
        popup.setCurrentIndex(self._model.index(0, 0))
        self.completion_shown.emit(completion)
        return completion

    def _text_around_cursor(self) -> tuple[str, int, int]:
        """The lines around the cursor (about WINDOW_CHARS each way; a long script is not copied whole on
        each keystroke), the cursor's position in them, and where they start in the document."""
        here = self.textCursor()
        first = last = here.block()
        before = here.positionInBlock()
        while before < WINDOW_CHARS and first.previous().isValid():
            first = first.previous()
            before += first.length()
        after = last.length() - here.positionInBlock()
        while after < WINDOW_CHARS and last.next().isValid():
            last = last.next()
            after += last.length()
        lines = [first.text()]
        block = first
        while block != last:
            block = block.next()
            lines.append(block.text())
        return "\n".join(lines), here.position() - first.position(), first.position()

    def hide_completions(self) -> None:
        self._popup().hide()

    def accept_completion(self, text: str) -> None:
        """Put `text` in place of the word being typed."""
        completion = self._completion
        if completion is None:
            return
        cursor = self.textCursor()
        cursor.setPosition(completion.start)
        cursor.setPosition(completion.start + len(completion.prefix), QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(text)
        self.setTextCursor(cursor)
        self._completion = None
