"""Run by test_native.py in a subprocess: the window on a real 1600x1000 Xvfb screen with QT_SCALE_FACTOR=2.

Prints one JSON line: the screen's available geometry, the first window's frame (nothing saved), the frame
after restoring a geometry saved on a larger screen, the device pixel ratio and the charts' pen width.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path


def start_xvfb() -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 15
    while not number.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], 1)
        if ready:
            number += os.read(read_fd, 16)
    os.close(read_fd)
    if not number.endswith(b"\n"):
        process.kill()
        raise SystemExit("Xvfb did not start")
    return process, f":{number.decode().strip()}"


def main() -> int:
    settings_path = Path(sys.argv[1])
    xvfb, display = start_xvfb()
    os.environ.update(DISPLAY=display, QT_QPA_PLATFORM="xcb")
    try:
        from PySide6.QtCore import QRect
        from PySide6.QtTest import QTest

        from desktop_app.core.activity import Activity
        from desktop_app.ui.application import create_application
        from desktop_app.ui.dialogs import ScriptedDialogs
        from desktop_app.ui.main_window import MainWindow
        from desktop_app.ui.panels.dashboard import ACTIVITY, Reading
        from desktop_app.ui.settings import AppSettings

        app = create_application()

        def shown(window: MainWindow) -> list[int]:
            window.show()
            QTest.qWaitForWindowExposed(window, 10_000)
            for _ in range(20):
                app.processEvents()
                time.sleep(0.01)
            frame = window.frameGeometry()
            return [frame.x(), frame.y(), frame.width(), frame.height()]

        settings = AppSettings.at(settings_path)
        first = MainWindow(settings, dialogs=ScriptedDialogs(), data_dir=settings_path.parent)
        first_frame = shown(first)
        screen = first.screen()
        available = screen.availableGeometry()
        ratio = first.devicePixelRatioF()
        first.dashboard.add_reading(Reading(time.time(), 1.0, Activity("WAL frames/s", 1.0), 0, 0, 4096, 1, 0, 0.0))
        first.dashboard.redraw()
        pen_width = first.dashboard.curves[ACTIVITY].opts["pen"].widthF()
        # A geometry saved on a larger, unscaled screen: 1360x860 logical at (300, 200).
        first.setGeometry(QRect(300, 200, 1360, 860))
        first.shutdown()  # saves it
        first.close()

        second = MainWindow(AppSettings.at(settings_path), dialogs=ScriptedDialogs(), data_dir=settings_path.parent)
        restored_frame = shown(second)
        second.shutdown()
        second.close()
        print(json.dumps({
            "available": [available.x(), available.y(), available.width(), available.height()],
            "first": first_frame,
            "restored": restored_frame,
            "device_pixel_ratio": ratio,
            "pen_width": pen_width,
        }))  # fmt: skip
        return 0
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
