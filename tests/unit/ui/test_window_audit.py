"""The whole window, audited: no Python code opens the database, its -wal, -shm or -journal.

Runs in a child process (audit hooks cannot be removed) with `tests/file_audit.py`: open a WAL database,
sample, browse, query, EXPLAIN, every Tools action, then close. SQLite opens its files from C (no audit
event), so any recorded open is ours. The one allowed exception is the sampler's own -shm descriptor on
systems where it cannot borrow SQLite's (not Linux): at most one, made by `ShmCounters`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.file_audit import run_audited

pytestmark = pytest.mark.gui

SCENARIO = r'''
import asyncio, os, tempfile
from pathlib import Path
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication
import qasync
from desktop_app.ui.dialogs import ScriptedDialogs
from desktop_app.ui.main_window import MainWindow
from desktop_app.ui.settings import AppSettings
from desktop_app.ui.smoke import next_emission, until

app = QApplication([])
work = Path(tempfile.mkdtemp())
dialogs = ScriptedDialogs()
window = MainWindow(AppSettings.at(work / "settings.ini"), dialogs=dialogs, data_dir=work, sample_interval=0.05)
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)
done = []

async def scenario():
    await window.open_path(DB)
    await until(lambda: window.dashboard.point_count() >= 3, 20, "samples")
    schema, console, tools = window.schema, window.console, window.maintenance
    await until(lambda: "readings" in [o.name for o in schema.objects], 20, "the schema")
    schema.select("readings")
    await until(lambda: schema.model is not None and schema.model.rowCount() > 0, 20, "rows")
    console.editor.setPlainText("SELECT count(*) FROM readings")
    await next_emission(console.query_finished, console.run, 20, "the query")
    await next_emission(console.plan_ready, console.explain_plan, 20, "the plan")
    await next_emission(console.bytecode_ready, console.explain_bytecode, 20, "the bytecode")
    for mode in ("passive", "full", "restart", "truncate"):
        await next_emission(tools.finished, lambda: tools.checkpoint(mode), 20, "a checkpoint")
    await next_emission(tools.finished, tools.integrity_check, 20, "the check")
    await next_emission(tools.finished, tools.run_vacuum, 20, "VACUUM")
    await next_emission(tools.finished, tools.optimize, 20, "optimize")
    await next_emission(tools.finished, lambda: tools.backup_to(work / "copy.db"), 20, "the backup")
    await next_emission(tools.finished, lambda: tools.vacuum_into_path(work / "compact.db"), 20, "VACUUM INTO")
    window.refresh_action.trigger()
    await asyncio.sleep(0.3)
    await window.close_database()
    done.append(True)

with loop:
    loop.run_until_complete(asyncio.wait_for(scenario(), 120))
window.shutdown()
assert done and not dialogs.errors, dialogs.errors
print("SCENARIO-OK")
'''


def test_a_full_window_scenario_opens_none_of_sqlites_files(db_path: Path) -> None:
    result = run_audited(SCENARIO, db_path, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SCENARIO-OK" in result.stdout
    shm = [record for record in result.opens if str(record["path"]).endswith("-shm")]
    others = [record for record in result.opens if record not in shm]
    assert others == [], result.describe()
    assert len(shm) <= 1 and all("ShmCounters" in str(record["stack"]) or "metrics.py" in str(record["stack"]) for record in shm), result.describe()
