"""What goes into the SQLite Pulse bundle, and a check of what actually went in.

Used by `sqlite-pulse.spec` at build time and by `check_bundle.py` afterwards. Plain Python (no PyInstaller
import) so the tests can exercise the policy without building anything.

Why a check after the build: PyInstaller's `excludes` only stops Python imports. Shared libraries arrive through
plugins and linker dependencies, so the spec filters the binary list and this module then verifies the
result on disk.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import re
import sysconfig
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "sqlite-pulse"
DISPLAY_NAME = "SQLite Pulse"
BUNDLE_IDENTIFIER = "io.sqlitepulse.SQLitePulse"
SIZE_LIMIT_BYTES = 150_000_000  # the "<= 150 MB" for the one-folder build, read strictly (decimal MB)

PACKAGING_DIR = Path(__file__).resolve().parent
ROOT = PACKAGING_DIR.parent
RESOURCES = ROOT / "resources"

# Qt bindings the app and pyqtgraph actually load. Everything else in PySide6 is excluded; a test imports
# every app module with only these available (plus the QtOpenGL placeholder below).
KEPT_QT_MODULES = frozenset({"QtCore", "QtGui", "QtWidgets", "QtSvg", "QtSvgWidgets", "QtOpenGLWidgets"})
# pyqtgraph imports QtOpenGL at load time but uses it only for OpenGL rendering, which the app leaves off:
# the bundle carries a placeholder module (runtime_hooks/qtopengl_placeholder.py) instead of 8.5 MiB.
PLACEHOLDER_QT_MODULES = frozenset({"QtOpenGL"})
RUNTIME_HOOKS = (PACKAGING_DIR / "runtime_hooks" / "qtopengl_placeholder.py",)

# Python packages that are optional imports of our dependencies and are never used by the app.
EXCLUDED_PYTHON_MODULES = (
    "tkinter",
    "readline",  # only interactive prompts use it (pdb, code); pulls libreadline and libtinfo
    "_tkinter",
    "pyqtgraph.examples",
    "pyqtgraph.opengl",
    "pyqtgraph.jupyter",
    "IPython",
    "matplotlib",
    "scipy",
    "h5py",
    "cupy",
    "numba",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "apsw.tests",
    "apsw.speedtest",
    "apsw.trace",
    "apsw.shell",  # the interactive shell (pulls readline); the app has its own console
    "apsw.__main__",
    # Not apsw.unicode: apsw.ext (query_info, quote_name; the query series and the audit) imports it.
    # psycopg's optional speedups bundle their own libpq and OpenSSL (~10 MB): the app uses pure-Python psycopg
    # over the system's libpq5 (loaded by ctypes at run time), so these must never ride along from a dev venv.
    "psycopg_binary",
    "psycopg_c",
    "psycopg_pool",
)

# Qt plugins worth shipping, as "<plugin type>/<file>" globs. Anything else under plugins/ is dropped.
KEPT_QT_PLUGINS = (
    "platforms/libqxcb.so",  # X11 and XWayland
    "platforms/libqwayland.so",  # native Wayland sessions (Qt's default there)
    "platforms/libqoffscreen.so",  # headless smoke runs
    "platforms/libqminimal.so",
    "xcbglintegrations/*",  # probed by the xcb platform at start
    "wayland-shell-integration/libxdg-shell.so",
    "wayland-decoration-client/libbradient.so",
    "wayland-graphics-integration-client/libqt-plugin-wayland-egl.so",
    "wayland-graphics-integration-client/libshm-emulation-server.so",
    "platformthemes/libqxdgdesktopportal.so",  # native file dialogs and colour scheme through the portal
    # GNOME, XFCE, Cinnamon, MATE...: Qt picks this theme there and takes the GTK theme's palette and light/dark
    # scheme from it. 0.24 MB; GTK itself and its stack are the desktop's (GTK_THEME_LIBRARIES below), and
    # where GTK is missing Qt skips the plugin and uses its built-in theme.
    "platformthemes/libqgtk3.so",
    "platforminputcontexts/libcomposeplatforminputcontextplugin.so",  # dead keys
    "platforminputcontexts/libibusplatforminputcontextplugin.so",
    "imageformats/libqsvg.so",
    "imageformats/libqico.so",
    "imageformats/libqjpeg.so",
    "iconengines/libqsvgicon.so",
    # Windows / macOS equivalents, for builds on those systems.
    "platforms/qwindows.dll",
    "platforms/qoffscreen.dll",
    "platforms/qminimal.dll",
    "platforms/libqcocoa.dylib",
    "platforms/libqoffscreen.dylib",
    "platforms/libqminimal.dylib",
    "styles/*",
    "imageformats/qsvg.dll",
    "imageformats/qico.dll",
    "imageformats/qjpeg.dll",
    "imageformats/libqsvg.dylib",
    "imageformats/libqjpeg.dylib",
    "iconengines/qsvgicon.dll",
    "iconengines/libqsvgicon.dylib",
)

# Shared libraries that must never be in the bundle: heavy Qt modules we do not use, and GTK (only the gtk3
# platform theme would pull it, and a bundled GTK clashes with the desktop's own).
FORBIDDEN_LIBRARY_PATTERNS = (
    "*Qt6Qml*",
    "*Qt6Quick*",
    "*Qt6WebEngine*",
    "*Qt6WebView*",
    "*Qt63D*",
    "*Qt6Multimedia*",
    "*Qt6Pdf*",
    "*Qt6Designer*",
    "*Qt6VirtualKeyboard*",
    "*Qt6Charts*",
    "*Qt6Graphs*",
    "*Qt6DataVisualization*",
    "*Qt6Lottie*",
    "*Qt6Sql*",
    "*Qt6Help*",
    "*Qt6UiTools*",
    "*Qt6Network*",
    "*Qt6Test*",
    "*Qt6Xml*",
    "*Qt6WaylandCompositor*",
    "*Qt6EglFS*",
    "*pyside6qml*",
    "libgtk-3*",
    "libgdk-3*",
)

# Libraries the bundle leaves to the desktop, as AppImage-style bundles do: fontconfig and freetype must match
# the system's font configuration, libX11 the X server side, and libdbus-1 (with libsystemd and its
# compression/crypto libraries behind it) is part of every desktop session. `make system-deps` installs them.
SYSTEM_PROVIDED_LIBRARIES = (
    "libfontconfig.so*",
    "libfreetype.so*",
    "libX11.so*",
    "libX11-xcb.so*",
    "libexpat.so*",
    "libdbus-1.so*",
)
# What only the gtk3 platform theme links to: present wherever GTK 3 is, and a copy of ours beside the
# desktop's GTK would clash with it.
GTK_THEME_LIBRARIES = (
    "libgtk-3.so*",
    "libgdk-3.so*",
    "libpango-1.0.so*",
    "libpangocairo-1.0.so*",
    "libpangoft2-1.0.so*",
    "libatk-1.0.so*",
    "libcairo.so*",
    "libcairo-gobject.so*",
    "libgdk_pixbuf-2.0.so*",
    "libgio-2.0.so*",
    "libgobject-2.0.so*",
    "libgmodule-2.0.so*",
    "libharfbuzz.so*",
    "libfribidi.so*",
    "libthai.so*",
    "libgraphite2.so*",
    "libpixman-1.so*",
    "libXrender.so*",
    "libXext.so*",
)
SYSTEM_PROVIDED_LIBRARIES += GTK_THEME_LIBRARIES

# Top-level folders of the bundle that hold our desktop files and the licence texts.
DESKTOP_DIR = "desktop"
LICENSES_DIR = "licenses"

# Third-party Python distributions whose code ships in the bundle, with their licence for the notices file.
BUNDLED_DISTRIBUTIONS = (
    "PySide6_Essentials",
    "shiboken6",
    "numpy",
    "pyqtgraph",
    "websockets",
    "qasync",
    "apsw",
    "psycopg",  # LGPL-3.0: pure Python, unmodified; the libpq it loads is the system's
    "prometheus_client",
)
LICENSE_FILE_PATTERN = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE)[^/]*$", re.IGNORECASE)
# The Qt wheels carry no licence file: their terms come from the committed texts (component, file name).
# ICU-LICENSE.txt is the Unicode licence as shipped with ICU 72.1; ICU 73 in the Qt wheel has the same terms.
STATIC_LICENSE_TEXTS = (("Qt", "LGPL-3.0.txt"), ("Qt", "GPL-3.0.txt"), ("ICU", "ICU-LICENSE.txt"))


def read_version(init_file: Path) -> str:
    """`__version__` from desktop_app/__init__.py, parsed rather than imported (no side effects at build)."""
    tree = ast.parse(init_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    raise ValueError(f"{init_file}: no __version__ = '...' assignment")


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """Four numbers for Windows version resources: '0.1.0' -> (0, 1, 0, 0); pre-release tags are dropped."""
    numbers = [int(part) for part in re.findall(r"\d+", version.split("+")[0])[:4]]
    return tuple((numbers + [0, 0, 0, 0])[:4])  # type: ignore[return-value]


def excluded_qt_modules(available: Iterable[str]) -> list[str]:
    """Fully qualified PySide6 modules to exclude: everything available that the app does not use."""
    return sorted(f"PySide6.{name}" for name in set(available) - KEPT_QT_MODULES)


def available_pyside6_modules() -> set[str]:
    """Every PySide6 binding module name this install knows about (stubs list addon modules too)."""
    import PySide6

    package_dir = Path(PySide6.__file__).parent
    names = {path.name.split(".")[0] for path in package_dir.glob("Qt*.pyi")}
    names |= {path.name.split(".")[0] for path in package_dir.glob("Qt*.abi3.*")}
    names |= {path.name.split(".")[0] for path in package_dir.glob("Qt*.pyd")}
    return {name for name in names if name.startswith("Qt")}


def _qt_relative(dest_name: str) -> str | None:
    """The part of a bundle path after 'Qt/' or 'Qt6/' inside PySide6 ('plugins/platforms/libqxcb.so'), if any."""
    parts = Path(dest_name).as_posix().split("/")
    for index, part in enumerate(parts[:-1]):
        if part == "PySide6" and index + 1 < len(parts) and parts[index + 1] in ("Qt", "Qt6"):
            return "/".join(parts[index + 2 :])
    if parts[0] == "PySide6":  # Windows wheels keep plugins directly under PySide6/
        return "/".join(parts[1:])
    return None


def is_unwanted_file(dest_name: str) -> bool:
    """True for a collected file (binary or data) the bundle should not carry."""
    relative = _qt_relative(dest_name)
    name = Path(dest_name).name
    if relative is not None:
        if relative.startswith("plugins/"):
            plugin = relative[len("plugins/") :]
            return not any(fnmatch.fnmatch(plugin, pattern) for pattern in KEPT_QT_PLUGINS)
        if relative.startswith(("translations/", "qml/", "libexec/", "metatypes/")):
            return True  # English-only UI; no QML, no WebEngine helper processes
    return any(fnmatch.fnmatch(name, pattern) for pattern in FORBIDDEN_LIBRARY_PATTERNS)


def filter_toc(entries: Iterable[tuple]) -> list[tuple]:
    """Drop unwanted entries from a PyInstaller TOC (tuples of dest_name, src_name, typecode)."""
    return [entry for entry in entries if not is_unwanted_file(entry[0])]


def _is_root_binary(entry: tuple) -> bool:
    """Binaries loaded by name at run time: Python extensions, Qt plugins, libpython. The rest are link deps."""
    dest_name, _source, typecode = entry[:3]
    relative = _qt_relative(dest_name) or ""
    return (
        typecode == "EXTENSION"
        or relative.startswith("plugins/")
        or Path(dest_name).name.startswith(("libpython", "python3", "Python"))
    )


def is_system_provided(library_name: str) -> bool:
    return any(fnmatch.fnmatch(library_name, pattern) for pattern in SYSTEM_PROVIDED_LIBRARIES)


def prune_libraries(
    binaries: list[tuple], needed: Callable[[str], Iterable[str]]
) -> tuple[list[tuple], list[str]]:
    """Keep the shared libraries that a kept extension or plugin reaches through DT_NEEDED links.

    PyInstaller resolves link dependencies before the spec can drop a plugin, so a dropped plugin's libraries
    (GTK's cairo/pango for the gtk3 theme, eglfs support, ...) would otherwise stay; libraries the desktop must
    provide (SYSTEM_PROVIDED_LIBRARIES) are dropped along with what only they link to. `needed(source_path)`
    returns the direct DT_NEEDED names of a binary. Returns (kept entries, dropped destination names).
    """
    by_name = {Path(entry[0]).name: entry for entry in binaries if not _is_root_binary(entry)}
    reached: set[str] = set()
    pending = [entry for entry in binaries if _is_root_binary(entry)]
    while pending:
        entry = pending.pop()
        for name in needed(entry[1]):
            if name in by_name and name not in reached and not is_system_provided(name):
                reached.add(name)
                pending.append(by_name[name])
    kept = [entry for entry in binaries if _is_root_binary(entry) or Path(entry[0]).name in reached]
    dropped = [entry[0] for entry in binaries if not (_is_root_binary(entry) or Path(entry[0]).name in reached)]
    return kept, dropped


def resource_datas() -> list[tuple[str, str]]:
    """(source, destination folder) pairs so the running app finds its icon at <bundle data>/resources/ and
    Help ▸ Read Me finds README.md at the top (the source tree's layout)."""
    pairs = [(str(RESOURCES / "sqlite-pulse.svg"), "resources"), (str(RESOURCES.parent / "README.md"), ".")]
    pairs += [(str(path), "resources/icons") for path in sorted((RESOURCES / "icons").glob("*.png"))]
    return pairs


@dataclass(frozen=True)
class LicenseFile:
    component: str
    source: Path
    destination: str  # path relative to the licenses folder


def distribution_license_files(names: Iterable[str] = BUNDLED_DISTRIBUTIONS) -> list[LicenseFile]:
    """Licence/notice files that each installed distribution ships in its metadata or package."""
    found: list[LicenseFile] = []
    for name in names:
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or ():
            if LICENSE_FILE_PATTERN.search(str(file)) and "dist-info" in str(file):
                source = Path(str(file.locate()))
                relative = str(file).split("dist-info/", 1)[1].removeprefix("licenses/")
                found.append(LicenseFile(name, source, f"{name}/{relative}"))
    python_license = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if python_license.is_file():
        found.append(LicenseFile("Python", python_license, "Python/LICENSE.txt"))
    try:
        pyinstaller = importlib.metadata.distribution("pyinstaller")
    except importlib.metadata.PackageNotFoundError:
        pass  # only the build machine has it; the notices file still names the bootloader
    else:
        for file in pyinstaller.files or ():
            if str(file).endswith("COPYING.txt") and "dist-info" in str(file):
                found.append(LicenseFile("PyInstaller", Path(str(file.locate())), "PyInstaller/COPYING.txt"))
    for component, text in STATIC_LICENSE_TEXTS:
        found.append(LicenseFile(component, PACKAGING_DIR / "licenses" / text, f"{component}/{text}"))
    return found


def _license_expression(name: str) -> str:
    metadata = importlib.metadata.metadata(name)
    expression = metadata.get("License-Expression") or ""
    if expression:
        return expression
    classifiers = [c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or () if "License ::" in c]
    return ", ".join(classifiers) or (metadata.get("License") or "see licence file").splitlines()[0]


def notices_text(app_version: str) -> str:
    """THIRD-PARTY-NOTICES.txt: every bundled component, its version, licence and where its source lives."""
    lines = [
        f"{DISPLAY_NAME} {app_version} - third-party components",
        "=" * 60,
        "",
        f"{DISPLAY_NAME} itself is MIT licensed (see LICENSE in this folder).",
        "This bundle contains the following third-party software. The full licence texts are in the",
        "sub-folders named after each component.",
        "",
    ]
    for name in BUNDLED_DISTRIBUTIONS:
        metadata = importlib.metadata.metadata(name)
        home = metadata.get("Home-page") or ""
        for url in metadata.get_all("Project-URL") or ():
            home = home or url.split(",", 1)[-1].strip()
        licence = _license_expression(name)
        if name in ("PySide6_Essentials", "shiboken6"):
            licence += " (used under LGPL-3.0; texts in Qt/)"
        lines += [f"* {metadata['Name']} {metadata['Version']}", f"  Licence: {licence}"]
        if home:
            lines.append(f"  Source: {home}")
        lines.append("")
    lines += [
        "* Qt 6 (libQt6*.so, plugins) and its bundled third-party code (HarfBuzz, libpng, PCRE2, zlib, ...)",
        "  Licence: LGPL-3.0-only (texts in Qt/). The Qt libraries are shipped as separate, unmodified shared",
        "  libraries in this folder, so you may replace them with your own build of the same Qt version.",
        "  Source: https://download.qt.io/official_releases/qt/ and the PySide6 sources at",
        "  https://download.qt.io/official_releases/QtForPython/",
        "",
        "* ICU (libicuuc, libicui18n, libicudata) - Unicode License (ICU/ICU-LICENSE.txt)",
        "  libicudata is rebuilt with a subset of its data (legacy converters, localised display names,",
        "  transliteration and word-break dictionaries removed) to keep the download small; the code libraries",
        "  are unmodified. Source: https://github.com/unicode-org/icu",
        "",
        "* Python runtime (libpython, standard library) - PSF License (Python/LICENSE.txt)",
        "",
        "* PyInstaller bootloader - GPL-2.0-or-later with an exception that allows distributing it with any",
        "  program (PyInstaller/COPYING.txt).",
        "",
        "* System libraries copied from the build machine (X11/xcb helpers, fontconfig, freetype, ...): their",
        "  copyright files are in system/<package>/ when the build machine is Debian-based.",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class BundleReport:
    total_bytes: int
    file_count: int
    problems: list[str]
    largest: list[tuple[int, str]]


def inspect_bundle(bundle_dir: Path, *, size_limit: int = SIZE_LIMIT_BYTES) -> BundleReport:
    """Walk a built one-folder bundle: size, forbidden libraries, required pieces."""
    problems: list[str] = []
    sizes: list[tuple[int, str]] = []
    for path in bundle_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(bundle_dir).as_posix()
            sizes.append((path.stat().st_size, relative))
            if any(fnmatch.fnmatch(path.name, pattern) for pattern in FORBIDDEN_LIBRARY_PATTERNS):
                problems.append(f"forbidden library in bundle: {relative}")
            elif relative.endswith(".qm"):
                problems.append(f"translation file in bundle: {relative}")
    names = {relative for _size, relative in sizes}
    required = {
        "executable": [APP_NAME, f"{APP_NAME}.exe"],
        "xcb or windows platform plugin": ["*/platforms/libqxcb.so", "*/platforms/qwindows.dll", "*/libqcocoa.dylib"],
        "offscreen platform plugin": ["*/platforms/libqoffscreen.*", "*/platforms/qoffscreen.dll"],
        "project licence": [f"{LICENSES_DIR}/LICENSE"],
        "third-party notices": [f"{LICENSES_DIR}/THIRD-PARTY-NOTICES.txt"],
        "Qt LGPL text": [f"{LICENSES_DIR}/Qt/LGPL-3.0.txt"],
        "ICU licence text": [f"{LICENSES_DIR}/ICU/ICU-LICENSE.txt"],
        "app icon": ["*resources/sqlite-pulse.svg"],
        "README (Help ▸ Read Me)": ["README.md", "*/README.md"],
        "desktop colour scheme (gtk3 or portal theme)": ["*/platformthemes/libqgtk3.so", "*/platformthemes/libqxdgdesktopportal.so",
                                                        "*/platforms/qwindows.dll", "*/libqcocoa.dylib"],
    }
    for what, patterns in required.items():
        if not any(fnmatch.fnmatch(name, pattern) for name in names for pattern in patterns):
            problems.append(f"missing from bundle: {what}")
    total = sum(size for size, _ in sizes)
    if total > size_limit:
        problems.append(f"bundle is {total / 1e6:.1f} MB, over the {size_limit / 1e6:.0f} MB limit")
    return BundleReport(total, len(sizes), problems, sorted(sizes, reverse=True)[:15])
