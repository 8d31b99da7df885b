"""Bundle runtime hook: a placeholder for PySide6.QtOpenGL.

pyqtgraph imports PySide6.QtOpenGL when it loads, but touches it only in its OpenGL rendering mode, which
SQLite Pulse never turns on (a packaging test checks the app does not). The real binding is 8.5 MiB, so the
bundle leaves it out and this hook supplies an empty module in its place. Any use raises AttributeError
naming the cause. The finder is appended to sys.meta_path, so a bundled real module would still win.
"""

import importlib.abc
import importlib.machinery
import sys
import types

PLACEHOLDER_NAME = "PySide6.QtOpenGL"


class _QtOpenGLPlaceholder(types.ModuleType):
    def __getattr__(self, name: str):
        raise AttributeError(
            f"{PLACEHOLDER_NAME}.{name} is not in this bundle: SQLite Pulse draws its charts without OpenGL"
        )


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == PLACEHOLDER_NAME:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return _QtOpenGLPlaceholder(spec.name)

    def exec_module(self, module):
        module.__file__ = None


sys.meta_path.append(_PlaceholderFinder())
