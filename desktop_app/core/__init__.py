"""Qt-free core of SQLite Pulse. Nothing here may import PySide6, pyqtgraph or qasync."""
