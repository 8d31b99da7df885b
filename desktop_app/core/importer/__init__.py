"""Import files into SQLite: CSV/TSV, NDJSON and JSON arrays, SQL scripts.

    preview = inspect_file(path, ImportOptions())          # format, encoding, delimiter, header, typed columns
    plan = preview.plan.with_types({"zip": "TEXT"})        # the user may change what was guessed
    result = run_import(connection, plan, "orders", append=False, progress=report, cancelled=flag.is_set)

Everything runs in one transaction on the caller's write connection (the session's writer in the window, a
direct connection in the `import` verb): an error or a cancel rolls it back and leaves the file as it was.
Files are streamed (an NDJSON or CSV file of any size keeps memory flat); SQL scripts go through
core/sql_script.py.
"""

from desktop_app.core.importer.plan import (
    FORMATS,
    ImportOptions,
    ImportProgress,
    ImportResult,
    Plan,
    Preview,
    default_table_name,
    inspect_file,
    run_import,
)

__all__ = [
    "FORMATS",
    "ImportOptions",
    "ImportProgress",
    "ImportResult",
    "Plan",
    "Preview",
    "default_table_name",
    "inspect_file",
    "run_import",
]
