"""The desktop window: PySide6 + pyqtgraph widgets over the Qt-free core. Widgets never do I/O themselves."""
