"""Measure cold start: time from launching the app to its main window being mapped on an X server.

    .venv/bin/python packaging/measure_startup.py                      # the bundle, dist/sqlite-pulse
    .venv/bin/python packaging/measure_startup.py --source             # python -m desktop_app, for comparison
    .venv/bin/python packaging/measure_startup.py -- path/to/some.db   # open a database at start

Runs a private Xvfb and watches it through Xlib (ctypes): the clock starts just before the process is spawned
and stops at the MapNotify of a top-level window whose title contains "SQLite Pulse", i.e. when the window is
shown. Each run gets a fresh HOME (no saved settings). Cold runs first drop the app's own files from the
page cache (posix_fadvise, per file: system libraries and everything else running stay cached, as on a
desktop that is already up); warm runs follow. Also times `--version` (process start to exit) as the
floor of any start. Run under the benchmark lock:
    flock /tmp/pulse-bench.lock .venv/bin/python packaging/measure_startup.py
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP_NOTIFY = 19
PROPERTY_NOTIFY = 28
SUBSTRUCTURE_NOTIFY_MASK = 1 << 19
PROPERTY_CHANGE_MASK = 1 << 22
ANY_PROPERTY_TYPE = 0


class XMapEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("event", ctypes.c_ulong),
        ("window", ctypes.c_ulong),
        ("override_redirect", ctypes.c_int),
    ]


class XPropertyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("atom", ctypes.c_ulong),
        ("time", ctypes.c_ulong),
        ("state", ctypes.c_int),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("xmap", XMapEvent), ("xproperty", XPropertyEvent), ("pad", ctypes.c_long * 24)]


# Windows can vanish between an event and our look at them (splashes, dialogs): ignore the BadWindow errors
# that Xlib's default handler would turn into an exit.
X_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(lambda _display, _event: 0)


class XServer:
    """A private Xvfb plus an Xlib connection that reports top-level windows as they are mapped."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 10)
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                self.process.kill()
                raise RuntimeError("Xvfb did not start")
            number += chunk
        os.close(read_fd)
        self.display_name = f":{number.decode().strip()}"
        self.xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        self.xlib.XOpenDisplay.restype = ctypes.c_void_p
        self.xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.xlib.XDefaultRootWindow.restype = ctypes.c_ulong
        self.xlib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.xlib.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
        self.xlib.XConnectionNumber.argtypes = [ctypes.c_void_p]
        self.xlib.XPending.argtypes = [ctypes.c_void_p]
        self.xlib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(XEvent)]
        self.xlib.XInternAtom.restype = ctypes.c_ulong
        self.xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.xlib.XGetWindowProperty.argtypes = [
            ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_long, ctypes.c_long, ctypes.c_int,
            ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_void_p),
        ]  # fmt: skip
        self.xlib.XFree.argtypes = [ctypes.c_void_p]
        self.xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self.xlib.XSetErrorHandler.argtypes = [X_ERROR_HANDLER.__class__]
        self.xlib.XSetErrorHandler(X_ERROR_HANDLER)
        self.display = self.xlib.XOpenDisplay(self.display_name.encode())
        if not self.display:
            self.close()
            raise RuntimeError(f"cannot connect to Xvfb {self.display_name}")
        root = self.xlib.XDefaultRootWindow(self.display)
        self.xlib.XSelectInput(self.display, root, SUBSTRUCTURE_NOTIFY_MASK)
        self.net_wm_name = self.xlib.XInternAtom(self.display, b"_NET_WM_NAME", 0)
        self.wm_name = self.xlib.XInternAtom(self.display, b"WM_NAME", 0)

    def title(self, window: int) -> str:
        for atom in (self.net_wm_name, self.wm_name):
            actual_type, actual_format = ctypes.c_ulong(), ctypes.c_int()
            count, remaining, data = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_void_p()
            status = self.xlib.XGetWindowProperty(
                self.display, window, atom, 0, 1024, 0, ANY_PROPERTY_TYPE, ctypes.byref(actual_type),
                ctypes.byref(actual_format), ctypes.byref(count), ctypes.byref(remaining), ctypes.byref(data),
            )  # fmt: skip
            if status == 0 and data.value:
                text = ctypes.string_at(data.value, count.value).decode("utf-8", "replace")
                self.xlib.XFree(data)
                if text:
                    return text
        return ""

    def wait_for_window(self, title: str, deadline: float, process: subprocess.Popen) -> tuple[float, str]:
        """(monotonic time, title) when a mapped top-level window first has a title containing `title`: at its
        MapNotify, or at the PropertyNotify that retitles it (an app may show its window, then the file)."""
        event = XEvent()
        connection = self.xlib.XConnectionNumber(self.display)
        seen: list[str] = []
        while time.monotonic() < deadline:
            while self.xlib.XPending(self.display):
                self.xlib.XNextEvent(self.display, ctypes.byref(event))
                happened_at = time.monotonic()
                if event.type == MAP_NOTIFY and not event.xmap.override_redirect:
                    window = event.xmap.window
                    self.xlib.XSelectInput(self.display, window, PROPERTY_CHANGE_MASK)  # later retitles
                    name = self.title(window)
                    if title.lower() in name.lower():
                        return happened_at, name
                    seen.append(name)
                elif event.type == PROPERTY_NOTIFY and event.xproperty.atom in (self.net_wm_name, self.wm_name):
                    name = self.title(event.xproperty.window)
                    if title.lower() in name.lower():
                        return happened_at, name
                    seen.append(name)
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with code {process.returncode} before showing a window")
            select.select([connection], [], [], 0.005)
        raise TimeoutError(f"no window titled {title!r} within the time limit (mapped: {seen})")

    def close(self) -> None:
        if getattr(self, "display", None):
            self.xlib.XCloseDisplay(self.display)
            self.display = None
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def clean_environment(home: Path, display: str | None) -> dict[str, str]:
    runtime = home / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    environment = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime),
        "QT_QPA_PLATFORM": "xcb" if display else "offscreen",
    }
    if display:
        environment["DISPLAY"] = display
    return environment


def stop(process: subprocess.Popen) -> None:
    """End the app and anything it started (it runs in its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def evict_from_page_cache(directory: Path) -> int:
    """Drop the cached pages of every file under `directory` (posix_fadvise DONTNEED; no root needed, and
    nothing else's cache is touched), so the next start reads the app from disk. Returns bytes evicted."""
    total = 0
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(descriptor)  # dirty pages cannot be dropped
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                total += path.stat().st_size
            finally:
                os.close(descriptor)
    return total


def time_window(
    server: XServer,
    command: list[str],
    title: str,
    timeout: float,
    extra_env: dict[str, str] | None = None,
    stderr_lines: list[str] | None = None,
    until_line: str | None = None,
) -> tuple[float, str]:
    """Milliseconds from spawning `command` to a top-level window titled with `title`, and that title.
    With `stderr_lines`, the process's stderr lines are collected into it; with `until_line` too, the process
    runs on after the window appears until it prints a line ending so (or `timeout`)."""
    with tempfile.TemporaryDirectory(prefix="pulse-start-") as home:
        environment = clean_environment(Path(home), server.display_name) | (extra_env or {})
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=environment, cwd=home, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            shown, name = server.wait_for_window(title, started + timeout, process)
        except (RuntimeError, TimeoutError) as exc:
            stop(process)
            errors = process.stderr.read().decode("utf-8", "replace")[-2000:] if process.stderr else ""
            raise SystemExit(f"measure_startup: {exc}\n{errors}") from None
        if stderr_lines is not None and process.stderr:
            deadline = started + timeout
            while until_line is not None and time.monotonic() < deadline:
                ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
                line = process.stderr.readline() if ready else b""
                if not line:
                    break
                stderr_lines.append(line.decode("utf-8", "replace").rstrip("\n"))
                if stderr_lines[-1].endswith(until_line):
                    break
        stop(process)
        if process.stderr:
            if stderr_lines is not None:
                stderr_lines.extend(process.stderr.read().decode("utf-8", "replace").splitlines())
            process.stderr.close()
        return (shown - started) * 1000, name


def time_version(command: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="pulse-start-") as home:
        started = time.monotonic()
        subprocess.run([*command, "--version"], env=clean_environment(Path(home), None), check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        return (time.monotonic() - started) * 1000


def describe(label: str, values: list[float]) -> str:
    first, rest = values[0], values[1:] or values
    return (
        f"{label}: first {first:.0f} ms; then median {statistics.median(rest):.0f} ms "
        f"(min {min(rest):.0f}, max {max(rest):.0f}, {len(rest)} runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time from launch to a shown main window.")
    parser.add_argument("--executable", type=Path, default=ROOT / "dist" / "sqlite-pulse" / "sqlite-pulse")
    parser.add_argument("--source", action="store_true", help="run `python -m desktop_app` instead of the bundle")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--title", default="SQLite Pulse", help="part of the window title to wait for")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--target-ms", type=float, default=2000.0)
    parser.add_argument("app_args", nargs="*", help="arguments for the app (after --)")
    args = parser.parse_args(argv)

    if args.source:
        command = [sys.executable, "-m", "desktop_app"]
        label = "source (python -m desktop_app)"
    else:
        if not os.access(args.executable, os.X_OK):
            raise SystemExit(f"measure_startup: no executable at {args.executable}; run make package first")
        command = [str(args.executable.resolve())]
        label = f"bundle ({args.executable})"

    # What a cold start must read from disk: the bundle folder, or the venv and the source tree.
    app_files = [args.executable.resolve().parent] if not args.source else [Path(sys.prefix), ROOT / "desktop_app"]
    version_times = [time_version(command) for _ in range(args.runs)]
    server = XServer()
    try:
        cold_times, warm_times, titles = [], [], set()
        for _ in range(args.runs):
            evicted = sum(evict_from_page_cache(folder) for folder in app_files)
            elapsed, title = time_window(server, [*command, *args.app_args], args.title, args.timeout)
            cold_times.append(elapsed)
            titles.add(title)
        for _ in range(args.runs):
            elapsed, title = time_window(server, [*command, *args.app_args], args.title, args.timeout)
            warm_times.append(elapsed)
    finally:
        server.close()

    print(label)
    print(describe("  --version (start to exit)        ", version_times))
    print(describe("  cold: app files evicted, to window", cold_times))
    print(describe("  warm: to shown window             ", warm_times))
    print(f"  evicted {evicted / 2**20:.0f} MiB of app files from the page cache before each cold run")
    print(f"  window title(s): {', '.join(sorted(titles))}")
    worst = max(cold_times + warm_times)
    verdict = "within" if worst <= args.target_ms else "OVER"
    print(f"  slowest start {worst:.0f} ms: {verdict} the {args.target_ms:.0f} ms target")
    return 0 if worst <= args.target_ms else 1


if __name__ == "__main__":
    sys.exit(main())
