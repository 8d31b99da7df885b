"""A REAL shows with at most 15 significant digits in the grids; copying and exporting keep its exact value."""

from __future__ import annotations

import csv
import io
import json

import apsw
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTableView

from desktop_app.core import cells
from desktop_app.core.export import export_rows
from desktop_app.core.query import ResultPage
from desktop_app.ui.grid_tools import GridTools
from desktop_app.ui.models.result_model import ResultModel

pytestmark = pytest.mark.gui
NOISY = 1261.3999999999999  # 1261.1 + 0.3 in binary


def test_short_float_drops_binary_noise_and_stays_a_real() -> None:
    assert cells.short_float(NOISY) == "1261.4"
    assert cells.short_float(0.1 + 0.2) == "0.3"
    assert cells.short_float(3.0) == "3.0" and cells.short_float(-2.0) == "-2.0"
    assert cells.short_float(1e20) == "1e+20" and cells.short_float(1.5e-7) == "1.5e-07"
    assert cells.short_float(0.123456789012345678) == "0.123456789012346"


def test_the_grid_shows_1261_4_and_ctrl_c_and_export_keep_the_exact_value(qtbot, tmp_path) -> None:
    model = ResultModel()
    model.add_page(ResultPage(["total", "n"], [(NOISY, 3.0)]))
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    GridTools(view)
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DisplayRole) == "1261.4"
    assert model.data(model.index(0, 1), Qt.ItemDataRole.DisplayRole) == "3.0"

    view.show()
    view.activateWindow()
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=5000)  # Copy is the grid's own shortcut: it needs the focus
    view.selectRow(0)
    QTest.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "1261.3999999999999\t3.0"
    assert cells.describe(NOISY).text == "1261.3999999999999"  # the cell viewer too

    connection = apsw.Connection(str(tmp_path / "sums.db"))
    connection.execute("CREATE TABLE t(v REAL); INSERT INTO t VALUES (1261.1 + 0.3)")
    for fmt in ("csv", "json"):
        out = io.BytesIO()
        export_rows(connection, "SELECT v FROM t", out, fmt=fmt)
        text = out.getvalue().decode()
        value = float(next(csv.reader(text.splitlines()[1:]))[0]) if fmt == "csv" else json.loads(text)[0]["v"]
        assert value == NOISY and "1261.3999999999999" in text
    connection.close()
