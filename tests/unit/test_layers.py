"""The package's layers, read from its source (every import, those under TYPE_CHECKING included):

- `core` imports nothing of `ui`, `verbs` or `app` (and no Qt: tests/unit/core/test_core_is_qt_free.py);
- `ui` imports nothing of `app` or `verbs`;
- no two modules import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import desktop_app

PACKAGE = Path(desktop_app.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The desktop_app modules `path` imports (a `from package import name` counts as package.name when that is
    a module of its own)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("desktop_app")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports_of(path) if target in modules and target != name}
            for name, path in modules.items()}


def test_core_knows_nothing_of_the_window_or_the_verbs() -> None:
    offenders = {(name, target) for name, targets in graph().items() if name.startswith("desktop_app.core")
                 for target in targets if target.startswith(("desktop_app.ui", "desktop_app.verbs", "desktop_app.app"))}
    assert not offenders, sorted(offenders)


def test_the_window_modules_do_not_import_the_app_or_the_verbs() -> None:
    offenders = {(name, target) for name, targets in graph().items() if name.startswith("desktop_app.ui")
                 for target in targets if target.startswith(("desktop_app.app", "desktop_app.verbs"))}
    assert not offenders, sorted(offenders)


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components over the module graph: each must be a single module. A package's
    `__init__` importing its own modules is not a circle of the code's design, so packages are left out."""
    edges = graph()
    packages = {name for name in edges if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()}
    edges = {name: targets - packages for name, targets in edges.items() if name not in packages}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not circles, circles
