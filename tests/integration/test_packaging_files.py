"""Packaging pieces that can be checked without building the bundle: desktop entry, MIME XML, icons, the
per-user installer, the bundle policy (what the spec keeps and drops), the ICU trimming and the spec itself.
Building and smoke-running the real bundle is `make package-smoke` (CI runs it)."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import apsw
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
sys.path.insert(0, str(PACKAGING))

import bundle_policy  # noqa: E402
import elf_info  # noqa: E402
import icu_trim  # noqa: E402
import render_icons  # noqa: E402

MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
SQLITE_TYPES = {"application/vnd.sqlite3", "application/x-sqlite3"}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def read_desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def make_sqlite_file(path: Path) -> Path:
    connection = apsw.Connection(str(path))
    connection.execute("CREATE TABLE t(x)")
    connection.close()
    return path


# --- desktop entry, MIME, icons -------------------------------------------------------------------------


def test_desktop_entry_opens_sqlite_files_with_the_app() -> None:
    entry = read_desktop_entry(RESOURCES / "sqlite-pulse.desktop")
    assert entry["Type"] == "Application"
    assert entry["Name"] == "SQLite Pulse"
    assert entry["Exec"] == "sqlite-pulse %f"
    assert entry["Icon"] == "sqlite-pulse"
    assert entry["Terminal"] == "false"
    assert set(filter(None, entry["MimeType"].split(";"))) == SQLITE_TYPES
    from desktop_app.ui.settings import APPLICATION  # Qt puts it in WM_CLASS: docks group windows by it

    assert entry["StartupWMClass"] == APPLICATION
    if shutil.which("desktop-file-validate"):  # desktop-file-utils: the reference validator, when installed
        result = subprocess.run(
            ["desktop-file-validate", str(RESOURCES / "sqlite-pulse.desktop")], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_mime_xml_recognises_sqlite_by_content_and_aliases_the_old_name() -> None:
    root = ET.parse(RESOURCES / "sqlite-pulse-mime.xml").getroot()
    (mime_type,) = root.findall(f"{MIME_NS}mime-type")
    assert mime_type.get("type") == "application/vnd.sqlite3"
    assert mime_type.find(f"{MIME_NS}alias").get("type") == "application/x-sqlite3"
    match = mime_type.find(f"{MIME_NS}magic/{MIME_NS}match")
    assert match.get("offset") == "0" and match.get("value").startswith("SQLite format 3")
    globs = {glob.get("pattern") for glob in mime_type.findall(f"{MIME_NS}glob")}
    assert "*.sqlite3" in globs
    assert "*.db" not in globs  # other formats use .db too: those files are told apart by their header


def test_every_icon_size_is_rendered_at_its_size() -> None:
    svg = ET.parse(RESOURCES / "sqlite-pulse.svg").getroot()
    assert svg.get("viewBox") == "0 0 256 256"
    for size in render_icons.PNG_SIZES:
        assert png_size(render_icons.png_path(size).read_bytes()) == (size, size)
    assert min(render_icons.PNG_SIZES) == 16 and max(render_icons.PNG_SIZES) == 512


def test_windows_icon_holds_each_size_as_png() -> None:
    data = (RESOURCES / "icons" / "sqlite-pulse.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind, count) == (0, 1, len(render_icons.ICO_SIZES))
    sizes = []
    for index in range(count):
        width, _height, _colors, _zero, _planes, _bits, length, offset = struct.unpack_from(
            "<BBBBHHII", data, 6 + 16 * index
        )
        width = width or 256
        assert png_size(data[offset : offset + length]) == (width, width)
        sizes.append(width)
    assert sorted(sizes) == sorted(render_icons.ICO_SIZES)


def test_macos_icon_holds_the_retina_sizes() -> None:
    data = (RESOURCES / "icons" / "sqlite-pulse.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    chunks, position = {}, 8
    while position < len(data):
        kind, length = (
            data[position : position + 4],
            struct.unpack(">I", data[position + 4 : position + 8])[0],
        )
        chunks[kind] = png_size(data[position + 8 : position + length])
        position += length
    assert chunks == {kind: (size, size) for kind, size in render_icons.ICNS_TYPES}


def test_ico_and_icns_builders_round_trip() -> None:
    fake = {16: b"\x89PNG\r\n\x1a\n" + b"\0" * 8 + struct.pack(">II", 16, 16)}
    ico = render_icons.build_ico(fake)
    assert struct.unpack_from("<HHH", ico, 0) == (0, 1, 1)
    assert ico[22:] == fake[16]


# --- the per-user installer -----------------------------------------------------------------------------


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """A stand-in for dist/sqlite-pulse: the installer only copies it and links its launcher."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    launcher = bundle / "sqlite-pulse"
    launcher.write_text('#!/bin/sh\necho "launched with: $*"\n')
    launcher.chmod(0o755)
    (bundle / "_internal").mkdir()
    (bundle / "_internal" / "marker").write_text("bundle content")
    return bundle


def installer_env(tmp_path: Path, path: str | None = None) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "HOME": str(home),
        "PATH": path or os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_BIN_HOME": str(tmp_path / "bin"),
        "LANG": "C.UTF-8",
    }


def run_installer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(PACKAGING / "install-linux.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def path_without_xdg_utils(tmp_path: Path) -> str:
    """A PATH with every command of this one except xdg-utils' (xdg-mime, xdg-open …), as on a machine
    without the package: one folder of links, first match wins as in a PATH search."""
    folder = tmp_path / "path-without-xdg-utils"
    folder.mkdir()
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name.startswith("xdg-") or link.exists() or link.is_symlink():
                continue
            if os.access(entry.path, os.X_OK) and not entry.is_dir():
                link.symlink_to(entry.path)
    return str(folder)


def installer_path(tmp_path: Path, xdg_utils: str) -> str:
    if xdg_utils == "without":
        return path_without_xdg_utils(tmp_path)
    if shutil.which("xdg-mime") is None:
        pytest.skip("xdg-utils is not installed here; the run without it covers the installer's own fallback")
    return os.environ.get("PATH", "/usr/bin:/bin")


def read_mimeapps(path: Path) -> dict[str, dict[str, list[str]]]:
    """mimeapps.list as the spec reads it: sections of `type=app.desktop;other.desktop;` (the trailing `;`
    is optional, and xdg-mime writes none), values split on `;` with empties ignored."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), strict=False)
    parser.optionxform = str  # MIME types and desktop ids are case-sensitive
    parser.read(path, encoding="utf-8")
    return {
        section: {
            key: [item for item in value.split(";") if item.strip()] for key, value in parser[section].items()
        }
        for section in parser.sections()
    }


def run_exec_like_xdg_open(entry: dict[str, str], target: Path) -> subprocess.CompletedProcess:
    """What xdg-open's generic mode does with Exec: split on spaces, the first word is the program taken
    literally (quotes would stay part of its name), field codes replaced by the file."""
    program, *arguments = entry["Exec"].split(" ")
    assert Path(program).is_absolute(), f"Exec program {program!r} is not an absolute path"
    assert os.access(program, os.X_OK), f"Exec program {program!r} does not exist or is not executable"
    arguments = [str(target) if argument in ("%f", "%F", "%u", "%U") else argument for argument in arguments]
    return subprocess.run([program, *arguments], capture_output=True, text=True, timeout=30)


def assert_desktop_file_valid(path: Path) -> None:
    if shutil.which("desktop-file-validate"):  # desktop-file-utils: the reference validator, when installed
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("xdg_utils", ["without", "with"])
def test_installer_installs_for_the_current_user_and_uninstalls(
    tmp_path: Path, fake_bundle: Path, xdg_utils: str
) -> None:
    env = installer_env(tmp_path, installer_path(tmp_path, xdg_utils))
    assert (shutil.which("xdg-mime", path=env["PATH"]) is None) == (xdg_utils == "without")
    config = tmp_path / "config"
    config.mkdir()
    (config / "mimeapps.list").write_text(
        "[Default Applications]\ntext/plain=editor.desktop;\napplication/vnd.sqlite3=other.desktop;\n"
    )

    result = run_installer(env, "--bundle", str(fake_bundle))
    assert result.returncode == 0, result.stderr

    data = tmp_path / "data"
    app_dir = data / "sqlite-pulse"
    assert (app_dir / "_internal" / "marker").read_text() == "bundle content"  # a copy, not a link
    launcher = tmp_path / "bin" / "sqlite-pulse"
    assert launcher.is_symlink() and Path(os.readlink(launcher)) == app_dir / "sqlite-pulse"
    assert (
        subprocess.run([str(launcher), "x.db"], capture_output=True, text=True).stdout
        == "launched with: x.db\n"
    )

    desktop_file = data / "applications" / "sqlite-pulse.desktop"
    entry = read_desktop_entry(desktop_file)
    # Absolute (a desktop PATH may lack ~/.local/bin) and unquoted (xdg-open's generic mode keeps quotes).
    assert entry["Exec"] == f"{app_dir / 'sqlite-pulse'} %f"
    assert entry["TryExec"] == str(app_dir / "sqlite-pulse")
    assert run_exec_like_xdg_open(entry, tmp_path / "x.db").stdout == f"launched with: {tmp_path / 'x.db'}\n"
    assert_desktop_file_valid(desktop_file)
    assert set(filter(None, entry["MimeType"].split(";"))) == SQLITE_TYPES
    for size in render_icons.PNG_SIZES:
        icon = data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "sqlite-pulse.png"
        assert png_size(icon.read_bytes()) == (size, size)
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "sqlite-pulse.svg").is_file()
    assert (data / "mime" / "packages" / "sqlite-pulse.xml").is_file()
    if shutil.which("update-desktop-database"):
        cache = read_mimeapps(data / "applications" / "mimeinfo.cache")
        assert "sqlite-pulse.desktop" in cache["MIME Cache"]["application/vnd.sqlite3"]

    defaults = read_mimeapps(config / "mimeapps.list")["Default Applications"]
    assert defaults["application/vnd.sqlite3"] == ["sqlite-pulse.desktop"]  # replaces other.desktop
    assert defaults["application/x-sqlite3"] == ["sqlite-pulse.desktop"]
    assert defaults["text/plain"] == ["editor.desktop"]  # other associations untouched

    result = run_installer(env, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not app_dir.exists() and not launcher.exists() and not launcher.is_symlink()
    assert not desktop_file.exists()
    assert not list((data / "icons").rglob("sqlite-pulse.*"))
    assert not (data / "mime" / "packages" / "sqlite-pulse.xml").exists()
    remaining = read_mimeapps(config / "mimeapps.list")
    assert not any(
        "sqlite-pulse.desktop" in apps for section in remaining.values() for apps in section.values()
    )
    assert remaining["Default Applications"]["text/plain"] == ["editor.desktop"]


def test_exec_needs_no_quotes_when_the_data_folder_has_a_space(tmp_path: Path, fake_bundle: Path) -> None:
    """~/.local/share under a home with a space: Exec points at the ~/.local/bin link instead, unquoted."""
    env = installer_env(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "my data")
    result = run_installer(env, "--bundle", str(fake_bundle))
    assert result.returncode == 0, result.stderr
    desktop_file = tmp_path / "my data" / "applications" / "sqlite-pulse.desktop"
    entry = read_desktop_entry(desktop_file)
    assert entry["Exec"] == f"{tmp_path / 'bin' / 'sqlite-pulse'} %f"
    assert (
        run_exec_like_xdg_open(entry, tmp_path / "a b.db").stdout == f"launched with: {tmp_path / 'a b.db'}\n"
    )
    assert_desktop_file_valid(desktop_file)
    assert "warning" not in result.stderr


def test_exec_is_quoted_by_the_spec_and_warns_when_no_clean_path_exists(
    tmp_path: Path, fake_bundle: Path
) -> None:
    env = installer_env(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "my data")
    env["XDG_BIN_HOME"] = str(tmp_path / "my bin")
    result = run_installer(env, "--bundle", str(fake_bundle))
    assert result.returncode == 0, result.stderr
    desktop_file = tmp_path / "my data" / "applications" / "sqlite-pulse.desktop"
    program = tmp_path / "my data" / "sqlite-pulse" / "sqlite-pulse"
    assert read_desktop_entry(desktop_file)["Exec"] == f'"{program}" %f'
    assert_desktop_file_valid(desktop_file)
    assert "warning" in result.stderr and "xdg-open" in result.stderr


def test_installer_refuses_a_path_that_cannot_be_written_in_exec(tmp_path: Path, fake_bundle: Path) -> None:
    env = installer_env(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / 'say "hi"')
    result = run_installer(env, "--bundle", str(fake_bundle))
    assert result.returncode != 0
    assert "install path contains a quote" in result.stderr
    assert not (tmp_path / 'say "hi"').exists()


def test_installer_can_leave_the_default_app_alone(tmp_path: Path, fake_bundle: Path) -> None:
    env = installer_env(tmp_path)
    result = run_installer(env, "--bundle", str(fake_bundle), "--no-default")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "applications" / "sqlite-pulse.desktop").is_file()
    mimeapps = tmp_path / "config" / "mimeapps.list"
    assert not mimeapps.exists() or "sqlite-pulse" not in mimeapps.read_text()


def test_installer_refuses_to_replace_a_command_it_did_not_make(tmp_path: Path, fake_bundle: Path) -> None:
    env = installer_env(tmp_path)
    (tmp_path / "bin").mkdir()
    foreign = tmp_path / "bin" / "sqlite-pulse"
    foreign.write_text("#!/bin/sh\n")
    result = run_installer(env, "--bundle", str(fake_bundle))
    assert result.returncode != 0
    assert "not a link this script made" in result.stderr
    assert foreign.read_text() == "#!/bin/sh\n"


def test_installer_explains_a_missing_bundle(tmp_path: Path) -> None:
    result = run_installer(installer_env(tmp_path), "--bundle", str(tmp_path / "nowhere"))
    assert result.returncode != 0
    assert "make package" in result.stderr


def test_installed_mime_data_maps_a_sqlite_db_file_to_the_app_type(tmp_path: Path, fake_bundle: Path) -> None:
    """The double-click chain: a SQLite .db file is typed by its header, and that type opens the app."""
    env = installer_env(tmp_path)
    assert run_installer(env, "--bundle", str(fake_bundle)).returncode == 0
    sqlite_db = make_sqlite_file(tmp_path / "readings.db")
    other_db = tmp_path / "other.db"
    other_db.write_bytes(b"\x00\x06\x15\x61" + b"\0" * 4092)  # another format that also ends in .db
    probe = (
        "import sys\n"
        "from PySide6.QtCore import QMimeDatabase\n"
        "db = QMimeDatabase()\n"
        "for path in sys.argv[1:]:\n"
        "    print(db.mimeTypeForFile(path).name())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(sqlite_db), str(other_db)],
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    sqlite_type, other_type = result.stdout.split()
    assert sqlite_type in SQLITE_TYPES
    assert other_type not in SQLITE_TYPES
    entry = read_desktop_entry(tmp_path / "data" / "applications" / "sqlite-pulse.desktop")
    assert sqlite_type in entry["MimeType"].split(";")


APP_LAUNCHER = """#!/bin/sh
echo "$$ $*" > {marker}
exec {python} -m desktop_app "$@"
"""


@pytest.mark.xvfb
def test_xdg_open_starts_the_app_on_a_sqlite_file(tmp_path: Path) -> None:
    """The double-click path outside GNOME/KDE/XFCE: `xdg-open file.db` in its generic mode, on a real X
    server, with the entry installed in a temporary XDG_DATA_HOME, starts the app on that file."""
    import measure_startup

    if shutil.which("xdg-open") is None:
        pytest.skip("xdg-open is not installed here (xdg-utils); the Exec line is checked without it above")
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is needed for this test (apt-get install xvfb)")
    marker = tmp_path / "launched"
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    launcher = bundle / "sqlite-pulse"  # the real app from this source tree, behind the bundle's name
    launcher.write_text(APP_LAUNCHER.format(marker=marker, python=sys.executable))
    launcher.chmod(0o755)
    env = installer_env(tmp_path)
    result = run_installer(env, "--bundle", str(bundle))
    assert result.returncode == 0, result.stderr
    database = make_sqlite_file(tmp_path / "readings.db")

    server = measure_startup.XServer()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    open_env = {
        **env,  # no XDG_CURRENT_DESKTOP, KDE_FULL_SESSION or GNOME_DESKTOP_SESSION_ID: xdg-open's generic mode
        "DISPLAY": server.display_name,
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHONPATH": str(ROOT),
        "QT_QPA_PLATFORM": "xcb",
    }
    opener = subprocess.Popen(
        ["xdg-open", str(database)],
        env=open_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the app runs in xdg-open's group: one killpg ends both
    )
    try:
        _mapped_at, title = server.wait_for_window("SQLite Pulse", time.monotonic() + 60, opener)
        pid, _space, arguments = marker.read_text().strip().partition(" ")
        assert arguments == str(database)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the app has the database itself open, not just its window
            try:
                fds = [os.readlink(fd) for fd in (Path("/proc") / pid / "fd").iterdir()]
            except FileNotFoundError:
                fds = []
            if str(database) in fds:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the app (pid {pid}, window {title!r}) never opened {database}")
    finally:
        measure_startup.stop(opener)
        stderr = opener.stderr.read().decode(errors="replace")
        opener.stderr.close()
        server.close()
    assert "Permission denied" not in stderr and "not found" not in stderr, stderr


# --- what the bundle keeps --------------------------------------------------------------------------------


def test_version_is_read_from_the_package() -> None:
    import desktop_app

    assert bundle_policy.read_version(ROOT / "desktop_app" / "__init__.py") == desktop_app.__version__
    assert bundle_policy.version_tuple("1.2.3") == (1, 2, 3, 0)
    assert bundle_policy.version_tuple("0.4.0rc1+local") == (0, 4, 0, 1)


def qt_modules_imported_by(package_dir: Path) -> set[str]:
    found = set()
    for source in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "PySide6":
                    found |= {alias.name for alias in node.names if alias.name.startswith("Qt")}
                elif node.module.startswith("PySide6."):
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("PySide6.")}
    return found


KEPT_ONLY_PROBE = """
import importlib, pkgutil, sys
KEPT = {kept!r}

class BlockExcludedQt:
    # Excluded Qt modules are absent, as in the bundle, where only the runtime hooks' finders supply them.
    def find_spec(self, name, path=None, target=None):
        parts = name.split(".")
        if parts[0] == "PySide6" and len(parts) > 1 and parts[1].startswith("Qt") and parts[1] not in KEPT:
            for finder in sys.meta_path:
                if type(finder).__module__ == "__runtime_hook__":
                    spec = finder.find_spec(name, path, target)
                    if spec is not None:
                        return spec
            raise ImportError(f"{{name}} is excluded from the bundle")
        return None

sys.meta_path.insert(0, BlockExcludedQt())
for hook in {hooks!r}:  # what the bundle runs before the app
    exec(compile(open(hook).read(), hook, "exec"), {{"__name__": "__runtime_hook__"}})
import desktop_app
for module in pkgutil.walk_packages(desktop_app.__path__, "desktop_app."):
    importlib.import_module(module.name)
import PySide6.QtOpenGL as placeholder
try:
    placeholder.QOpenGLBuffer
except AttributeError as exc:
    print("placeholder:", exc)
"""


def test_the_bundle_keeps_every_qt_module_the_app_imports() -> None:
    imported = qt_modules_imported_by(ROOT / "desktop_app")
    missing = imported - bundle_policy.KEPT_QT_MODULES
    assert not missing, f"desktop_app imports {missing}: add them to KEPT_QT_MODULES in bundle_policy.py"
    # Dependencies count too (pyqtgraph imports QtOpenGL for its curves): import every app module with the
    # excluded Qt modules blocked, as in the bundle.
    probe = KEPT_ONLY_PROBE.format(
        kept=sorted(bundle_policy.KEPT_QT_MODULES), hooks=[str(hook) for hook in bundle_policy.RUNTIME_HOOKS]
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "placeholder: PySide6.QtOpenGL.QOpenGLBuffer is not in this bundle" in result.stdout


def test_the_app_never_turns_on_opengl_rendering() -> None:
    """The bundle's QtOpenGL is a placeholder: pyqtgraph's OpenGL mode would fail there."""
    offenders = []
    for source in (ROOT / "desktop_app").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for marker in ("useOpenGL", "enableExperimental", "QtOpenGL.", "import QtOpenGL", "QtOpenGL import"):
            if marker in text:
                offenders.append(f"{source.relative_to(ROOT)}: {marker}")
    assert not offenders, "OpenGL use needs PySide6.QtOpenGL in KEPT_QT_MODULES: " + "; ".join(offenders)


def test_heavy_qt_modules_are_excluded() -> None:
    excluded = bundle_policy.excluded_qt_modules(bundle_policy.available_pyside6_modules())
    assert "PySide6.QtQml" in excluded and "PySide6.QtQuick" in excluded
    assert "PySide6.QtWebEngineCore" in excluded and "PySide6.QtMultimedia" in excluded
    assert not any(name.endswith((".QtCore", ".QtGui", ".QtWidgets")) for name in excluded)


@pytest.mark.parametrize(
    ("dest_name", "unwanted"),
    [
        ("PySide6/Qt/plugins/platforms/libqxcb.so", False),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", True),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),  # the desktop's palette and dark scheme
        ("PySide6/Qt/plugins/imageformats/libqpdf.so", True),
        ("PySide6/Qt/plugins/imageformats/libqsvg.so", False),
        ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", True),
        ("PySide6/Qt/translations/qtbase_de.qm", True),
        ("PySide6/Qt/lib/libQt6Qml.so.6", True),
        ("PySide6/Qt/lib/libQt6Quick.so.6", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", False),
        ("PySide6/plugins/platforms/qwindows.dll", False),
        ("libQt6Pdf.so.6", True),
        ("libgtk-3.so.0", True),
        ("numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so", False),
    ],
)
def test_unwanted_files_are_recognised(dest_name: str, unwanted: bool) -> None:
    assert bundle_policy.is_unwanted_file(dest_name) is unwanted


def test_the_gtk3_theme_ships_without_gtk() -> None:
    """The gtk3 platform theme (the GTK desktop's palette and light/dark scheme) ships; GTK and the stack only
    it links to stay the desktop's, so a bundled copy can never clash with the one GTK loads."""
    binaries = [
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/x/libqgtk3.so", "BINARY"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/x/libQt6Gui.so.6", "BINARY"),
        ("libcairo.so.2", "/x/libcairo.so.2", "BINARY"),
        ("libpixman-1.so.0", "/x/libpixman-1.so.0", "BINARY"),
        ("libglib-2.0.so.0", "/x/libglib-2.0.so.0", "BINARY"),
    ]
    links = {
        "/x/libqgtk3.so": ["libQt6Gui.so.6", "libgtk-3.so.0", "libcairo.so.2"],
        "/x/libQt6Gui.so.6": ["libglib-2.0.so.0"],
        "/x/libcairo.so.2": ["libpixman-1.so.0"],
    }
    kept, dropped = bundle_policy.prune_libraries(binaries, lambda source: links.get(source, []))
    kept_names = {entry[0] for entry in kept}
    assert "PySide6/Qt/plugins/platformthemes/libqgtk3.so" in kept_names
    assert "libglib-2.0.so.0" in kept_names  # Qt itself links it
    assert {"libcairo.so.2", "libpixman-1.so.0"} <= set(dropped)


def test_pruning_keeps_what_extensions_and_plugins_link_and_drops_the_rest() -> None:
    binaries = [
        ("PySide6/QtGui.abi3.so", "/x/QtGui.abi3.so", "EXTENSION"),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "/x/libqxcb.so", "BINARY"),
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/x/libQt6Gui.so.6", "BINARY"),
        ("libxcb-cursor.so.0", "/x/libxcb-cursor.so.0", "BINARY"),
        ("libfontconfig.so.1", "/x/libfontconfig.so.1", "BINARY"),
        ("libfreetype.so.6", "/x/libfreetype.so.6", "BINARY"),
        ("libcairo.so.2", "/x/libcairo.so.2", "BINARY"),  # was linked by a plugin the spec dropped
        ("libpython3.11.so.1.0", "/x/libpython3.11.so.1.0", "BINARY"),
    ]
    links = {
        "/x/QtGui.abi3.so": ["libQt6Gui.so.6"],
        "/x/libqxcb.so": ["libQt6Gui.so.6", "libxcb-cursor.so.0"],
        "/x/libQt6Gui.so.6": ["libfontconfig.so.1", "libc.so.6"],
        "/x/libfontconfig.so.1": ["libfreetype.so.6"],  # reached only through a system-provided library
    }
    kept, dropped = bundle_policy.prune_libraries(binaries, lambda path: links.get(path, []))
    assert [Path(entry[0]).name for entry in kept] == [
        "QtGui.abi3.so",
        "libqxcb.so",
        "libQt6Gui.so.6",
        "libxcb-cursor.so.0",
        "libpython3.11.so.1.0",
    ]
    assert sorted(dropped) == ["libcairo.so.2", "libfontconfig.so.1", "libfreetype.so.6"]


def test_elf_reader_lists_real_link_dependencies() -> None:
    import PySide6

    qt_gui = next((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libQt6Gui.so.*"))
    needed = elf_info.needed_libraries(qt_gui)
    assert any(name.startswith("libQt6Core.so") for name in needed)
    assert elf_info.soname(qt_gui).startswith("libQt6Gui.so")
    assert elf_info.needed_libraries(RESOURCES / "sqlite-pulse.svg") == []


def make_bundle_tree(root: Path, extra: dict[str, int]) -> Path:
    files = {
        "sqlite-pulse": 10,
        "_internal/PySide6/Qt/plugins/platforms/libqxcb.so": 10,
        "_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so": 10,
        "_internal/resources/sqlite-pulse.svg": 10,
        "_internal/README.md": 10,
        "_internal/PySide6/Qt/plugins/platformthemes/libqgtk3.so": 10,
        "licenses/LICENSE": 10,
        "licenses/THIRD-PARTY-NOTICES.txt": 10,
        "licenses/Qt/LGPL-3.0.txt": 10,
        "licenses/ICU/ICU-LICENSE.txt": 10,
        **extra,
    }
    for relative, size in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    return root


def test_bundle_inspection_accepts_a_complete_bundle(tmp_path: Path) -> None:
    report = bundle_policy.inspect_bundle(make_bundle_tree(tmp_path, {}))
    assert report.problems == []
    assert report.file_count == 10 and report.total_bytes == 100


def test_bundle_inspection_reports_forbidden_missing_and_oversized(tmp_path: Path) -> None:
    bundle = make_bundle_tree(
        tmp_path,
        {"_internal/PySide6/Qt/lib/libQt6Quick.so.6": 10, "_internal/PySide6/Qt/translations/qt_de.qm": 10},
    )
    (bundle / "licenses" / "Qt" / "LGPL-3.0.txt").unlink()
    report = bundle_policy.inspect_bundle(bundle, size_limit=50)
    text = "\n".join(report.problems)
    assert "forbidden library in bundle: _internal/PySide6/Qt/lib/libQt6Quick.so.6" in text
    assert "translation file in bundle" in text
    assert "missing from bundle: Qt LGPL text" in text
    assert "over the" in text


def test_licence_texts_of_bundled_components_are_found() -> None:
    files = bundle_policy.distribution_license_files()
    components = {license_file.component for license_file in files}
    assert {"numpy", "pyqtgraph", "websockets", "qasync", "apsw", "Qt", "ICU", "Python"} <= components
    assert all(license_file.source.is_file() for license_file in files)
    notices = bundle_policy.notices_text("9.9.9")
    for name in ("PySide6", "numpy", "pyqtgraph", "websockets", "qasync", "apsw", "LGPL-3.0", "ICU"):
        assert name.lower() in notices.lower()


def test_spec_and_packaging_scripts_are_valid() -> None:
    compile((PACKAGING / "sqlite-pulse.spec").read_text(encoding="utf-8"), "sqlite-pulse.spec", "exec")
    for script in ("build.sh", "smoke.sh", "install-linux.sh"):
        assert subprocess.run(["bash", "-n", str(PACKAGING / script)]).returncode == 0, script


# --- ICU data trimming ------------------------------------------------------------------------------------


def qt_icu_data_library() -> Path:
    import PySide6

    return next((Path(PySide6.__file__).parent / "Qt" / "lib").glob("libicudata.so.*"))


def test_icu_package_survives_a_parse_and_rebuild() -> None:
    elf = qt_icu_data_library().read_bytes()
    symbol = icu_trim.find_data_symbol(elf)
    blob = elf[symbol.file_offset : symbol.file_offset + symbol.size]
    package = icu_trim.parse_package(blob)
    assert len(package.items) > 1000
    rebuilt = icu_trim.parse_package(icu_trim.build_package(package))
    assert rebuilt.items == package.items  # each item keeps its bytes (its padding is already 16-aligned)
    trimmed = icu_trim.trim(package)
    names = {name.split("/", 1)[1] for name in trimmed.items}
    assert {
        "coll/root.res",
        "coll/de.res",
        "zoneinfo64.res",
        "coll/ucadata.icu",
        "nfkc.nrm",
        "zone/en.res",
    } <= names
    assert not any(name.endswith(".cnv") or name.startswith(("lang/de", "curr/fr")) for name in names)


ICU_PROBE = """
from PySide6.QtCore import QCollator, QLocale
mapped = {line.split()[-1] for line in open("/proc/self/maps") if "libicudata" in line}
collator = QCollator(QLocale("de_DE"))
print(sorted(mapped))
print(sorted(["zebra", "Äpfel", "apple", "Zoo", "Öl", "ober"], key=collator.sortKey))
print(QLocale("de_DE").toUpper("straße"), QLocale("tr_TR").toUpper("i"))
"""


def test_qt_runs_on_the_trimmed_icu_data(tmp_path: Path) -> None:
    if not (shutil.which("as") and shutil.which("ld")):
        pytest.fail(
            "binutils (as, ld) are needed to build the bundle; install them: apt-get install binutils"
        )
    source = qt_icu_data_library()
    trimmed = tmp_path / source.name
    before, after = icu_trim.trim_library(source, trimmed)
    assert after < before * 0.4
    assert elf_info.soname(trimmed) == elf_info.soname(source)

    def probe(library_path: str | None) -> list[str]:
        env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
        if library_path:
            env["LD_LIBRARY_PATH"] = library_path  # wins over the Qt libraries' $ORIGIN runpath
        result = subprocess.run(
            [sys.executable, "-c", ICU_PROBE], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    original, with_trimmed = probe(None), probe(str(tmp_path))
    assert str(trimmed) in with_trimmed[0]
    assert with_trimmed[1:] == original[1:]
    assert "STRASSE" in with_trimmed[2]


# --- the startup timer ------------------------------------------------------------------------------------

STUB_WINDOW = """
import sys
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv)
window = QMainWindow()
window.setWindowTitle("SQLite Pulse (stub)")
window.show()
sys.exit(app.exec())
"""


@pytest.mark.xvfb
def test_startup_timer_sees_the_window_map_on_a_real_x_server(tmp_path: Path) -> None:
    import measure_startup

    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is needed for the startup timer (apt-get install xvfb)")
    script = tmp_path / "stub_window.py"
    script.write_text(STUB_WINDOW)
    server = measure_startup.XServer()
    try:
        elapsed_ms, title = measure_startup.time_window(
            server, [sys.executable, str(script)], "SQLite Pulse", 60
        )
    finally:
        server.close()
    assert title == "SQLite Pulse (stub)"
    assert 0 < elapsed_ms < 60_000
    assert server.process.poll() is not None  # the private X server is gone


def test_page_cache_eviction_covers_every_file(tmp_path: Path) -> None:
    import measure_startup

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "lib.so").write_bytes(b"x" * 8192)
    (tmp_path / "exe").write_bytes(b"y" * 100)
    (tmp_path / "link").symlink_to(tmp_path / "exe")
    assert measure_startup.evict_from_page_cache(tmp_path) == 8192 + 100
