"""What File ▸ Import offers: (menu label, file filter) per kind. Apart from the dialog, so building the
window's menus does not load the importer (CSV, JSON and SQL readers) before the window shows."""

KINDS = {
    "csv": ("&CSV/TSV…", "CSV and TSV files (*.csv *.tsv *.tab *.txt);;All files (*)"),
    "json": ("&JSON…", "JSON files (*.json *.ndjson *.jsonl);;All files (*)"),
    "sql": ("&SQL script…", "SQL scripts (*.sql);;All files (*)"),
}
