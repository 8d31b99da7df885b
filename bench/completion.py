"""How long the console's completion popup takes to appear on a 500-table schema (10 columns each).

A real database in a temp folder; its catalog is read once (`read_catalog`, as the console does on each
schema change: timed too). Then the real editor (offscreen) holds a 40-statement script with the cursor in
the middle, and for `--trials` keystrokes each we time from the key press to the popup on screen:
  - `.` after an alias (`SELECT a.` … `FROM t250 AS a`): that table's columns,
  - a second character of a word (`FROM t4` + `9`): the tables, functions and keywords that fit,
  - Ctrl+Space on an empty word: everything in scope (~800 names),
  - `.` after an alias in a 1 MB script (22,000 statements).
Baseline from the same run: the same editor inserting one character with completion off. Target: the
popup within 50 ms (median and p95); the ratio to the baseline says what completion adds to a keystroke.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/completion.py [--trials 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import apsw  # noqa: E402
from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import percentile  # noqa: E402

from desktop_app.core.completion import Catalog, read_catalog  # noqa: E402
from desktop_app.ui.sql_editor import SqlEditor  # noqa: E402

TARGET_MS = 50.0
TABLES, COLUMNS = 500, 10
BIG_SCRIPT = 22_000  # statements: about 1 MB
BIG_CASE = "dot in 1 MB script"


def build(path: Path) -> None:
    connection = apsw.Connection(str(path))
    columns = ", ".join(f"c{i} TEXT" for i in range(COLUMNS))
    connection.execute("BEGIN; " + "".join(f"CREATE TABLE t{n}(id INTEGER PRIMARY KEY, {columns});" for n in range(TABLES)) + " COMMIT")
    connection.close()


def script(middle: str, statements: int = 40) -> tuple[str, int]:
    """`statements` statements with `middle` halfway; and the cursor position where `middle` has its `¦`."""
    head = "".join(f"SELECT c1, c2 FROM t{n % TABLES} WHERE id > {n} ORDER BY c3;\n" for n in range(statements // 2))
    tail = "".join(f"UPDATE t{n % TABLES} SET c4 = 'x' WHERE id = {n};\n" for n in range(statements // 2))
    return head + middle.replace("¦", "") + "\n" + tail, len(head) + middle.index("¦")


def place(editor: SqlEditor, text: str, position: int) -> None:
    editor.setPlainText(text)
    cursor = editor.textCursor()
    cursor.setPosition(position)
    editor.setTextCursor(cursor)


def time_keys(
    editor: SqlEditor, trials: int, middle: str, press: Callable[[], None], *, popup: bool, statements: int = 40
) -> list[float]:
    """ms from each key press to its effect (the popup shown, or the character in the text)."""
    text, position = script(middle, statements)
    samples = []
    for _ in range(trials):
        place(editor, text, position)
        editor.completer.popup().hide()
        QApplication.processEvents()
        started = time.perf_counter()
        press()
        if popup and not editor.popup_visible:
            raise RuntimeError(f"no popup for {middle!r}")
        samples.append((time.perf_counter() - started) * 1000.0)
    editor.completer.popup().hide()
    return samples


def summary(samples: list[float], baseline: float) -> dict[str, float]:
    median = statistics.median(samples)
    return {
        "median_ms": round(median, 3),
        "p95_ms": round(percentile(samples, 0.95), 3),
        "ratio_to_baseline": round(median / baseline, 1) if baseline > 0 else float("inf"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    # The offscreen platform says it cannot grab the keyboard or raise a window each time a popup opens.
    def quiet(kind: QtMsgType, _context: object, message: str) -> None:
        if "This plugin does not support" not in message and kind != QtMsgType.QtDebugMsg:
            print(message, file=sys.stderr)

    qInstallMessageHandler(quiet)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wide.db"
        build(path)
        connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        started = time.perf_counter()
        catalog: Catalog = read_catalog(connection)
        catalog_ms = (time.perf_counter() - started) * 1000.0
        connection.close()

    editor = SqlEditor(lambda: catalog)
    editor.resize(900, 600)
    editor.show()
    editor.setFocus()
    app.processEvents()

    def key(key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> Callable[[], None]:
        return lambda: QTest.keyClick(editor, key, modifier)

    editor.completion_enabled = False
    baseline = time_keys(editor, args.trials, "SELECT a¦ FROM t250 AS a;", key(Qt.Key.Key_X), popup=False)
    big_trials = max(10, args.trials // 10)
    baseline_big = time_keys(
        editor, big_trials, "SELECT a¦ FROM t250 AS a;", key(Qt.Key.Key_X), popup=False, statements=BIG_SCRIPT
    )
    editor.completion_enabled = True
    cases = {
        "alias dot": time_keys(editor, args.trials, "SELECT a¦ FROM t250 AS a;", key(Qt.Key.Key_Period), popup=True),
        "second character": time_keys(editor, args.trials, "SELECT * FROM t4¦;", key(Qt.Key.Key_9), popup=True),
        "ctrl+space": time_keys(
            editor, args.trials, "SELECT ¦ FROM t250 AS a;", key(Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier),
            popup=True,
        ),
        # A 1 MB script: only the lines around the cursor are read.
        BIG_CASE: time_keys(
            editor, big_trials, "SELECT a¦ FROM t250 AS a;", key(Qt.Key.Key_Period), popup=True, statements=BIG_SCRIPT
        ),
    }
    baseline_ms = statistics.median(baseline)

    def baseline_for(case: str) -> float:  # the same editor text, completion off
        return statistics.median(baseline_big) if case == BIG_CASE else baseline_ms

    result: dict[str, object] = {
        "tables": TABLES,
        "columns_per_table": COLUMNS,
        "catalog_read_ms": round(catalog_ms, 1),
        "baseline_insert_char_ms": {"median_ms": round(baseline_ms, 3), "p95_ms": round(percentile(baseline, 0.95), 3)},
        "baseline_insert_char_1mb_ms": {"median_ms": round(statistics.median(baseline_big), 3)},
        **{name: summary(samples, baseline_for(name)) for name, samples in cases.items()},
        "target_ms": TARGET_MS,
    }
    worst = max(percentile(samples, 0.95) for samples in cases.values())
    result["meets_target"] = worst <= TARGET_MS
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{TABLES} tables × {COLUMNS} columns; catalog read once per schema change in {catalog_ms:.1f} ms")
        print(
            f"baseline (insert a character, completion off): median {baseline_ms:.3f} ms, "
            f"in the 1 MB script {statistics.median(baseline_big):.3f} ms"
        )
        for name, samples in cases.items():
            line = summary(samples, baseline_for(name))
            print(
                f"{name:>18}: keystroke → popup median {line['median_ms']:.2f} ms, p95 {line['p95_ms']:.2f} ms "
                f"({line['ratio_to_baseline']}× the baseline)"
            )
        print(f"target ≤ {TARGET_MS:.0f} ms: {'met' if result['meets_target'] else 'MISSED'} (worst p95 {worst:.2f} ms)")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
