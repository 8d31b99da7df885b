"""An export's format follows the file's name: JSON chosen but foo.csv named writes CSV, and the reverse."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from desktop_app.ui.export import ExportBar, describe_result, format_for

pytestmark = pytest.mark.gui
SQL = "SELECT id, device FROM readings ORDER BY id LIMIT 2"


def export(qtbot, bar: ExportBar, session, destination: Path, fmt: str) -> str:
    with qtbot.waitSignal(bar.finished, timeout=5000) as blocker:
        bar.start(session, SQL, destination, fmt=fmt)
        assert bar.label.text() == f"Exporting to {destination.name} as {format_for(destination, fmt).upper()}…"
    return describe_result(blocker.args[0])


def test_the_file_name_decides_the_format(qtbot, open_session, db_path: Path, tmp_path: Path) -> None:
    session = open_session(db_path)
    bar = ExportBar()
    qtbot.addWidget(bar)

    said = export(qtbot, bar, session, tmp_path / "foo.csv", "json")  # JSON pressed, foo.csv typed
    with (tmp_path / "foo.csv").open(newline="") as handle:
        assert list(csv.reader(handle)) == [["id", "device"], ["1", "dev0"], ["2", "dev1"]]
    assert said.startswith(f"Exported all 2 rows to {tmp_path / 'foo.csv'} as CSV")

    said = export(qtbot, bar, session, tmp_path / "bar.JSON", "csv")
    assert json.loads((tmp_path / "bar.JSON").read_text()) == [{"id": 1, "device": "dev0"}, {"id": 2, "device": "dev1"}]
    assert " as JSON in " in said

    export(qtbot, bar, session, tmp_path / "lines.jsonl", "json")
    assert [json.loads(line) for line in (tmp_path / "lines.jsonl").read_text().splitlines()][0] == {"id": 1, "device": "dev0"}

    said = export(qtbot, bar, session, tmp_path / "rows.txt", "json")  # a name of no known type: as chosen
    assert json.loads((tmp_path / "rows.txt").read_text())[1] == {"id": 2, "device": "dev1"}
    assert " as " not in said.split(" in ")[0]
