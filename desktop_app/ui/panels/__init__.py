"""Dock panels of the main window: dashboard, schema browser, query console, ingest."""
