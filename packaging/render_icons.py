"""Render the app icon (resources/sqlite-pulse.svg) into the PNG sizes, the Windows .ico and the macOS .icns.

The outputs are committed so a build machine needs nothing but PyInstaller; rerun this after editing the SVG:
    .venv/bin/python packaging/render_icons.py
Rendering uses Qt's own SVG renderer (offscreen), so no image tool has to be installed.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SVG = RESOURCES / "sqlite-pulse.svg"
ICON_DIR = RESOURCES / "icons"
ICON_NAME = "sqlite-pulse"

# hicolor theme sizes installed on Linux (16..512).
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
# Windows shows 16..256; each entry embeds a PNG (supported since Vista).
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# macOS icns chunk types and their pixel sizes (the @2x types reuse the doubled size).
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"icp6", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic09", 512),
    (b"ic10", 1024),
    (b"ic11", 32),
    (b"ic12", 64),
    (b"ic13", 256),
    (b"ic14", 512),
)


def png_path(size: int) -> Path:
    return ICON_DIR / f"{ICON_NAME}-{size}.png"


def render_png(svg: Path, size: int) -> bytes:
    """PNG bytes of the SVG rendered into a size x size transparent square."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit(f"could not encode a {size}px PNG")
    buffer.close()
    return bytes(data.data())


def build_ico(pngs: dict[int, bytes]) -> bytes:
    """ICONDIR + one ICONDIRENTRY per size, each pointing at an embedded PNG (0 in a size byte means 256)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        byte_size = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", byte_size, byte_size, 0, 0, 1, 32, len(blob), offset)
        blobs += blob
        offset += len(blob)
    return header + entries + blobs


def build_icns(pngs: dict[int, bytes]) -> bytes:
    """'icns' container of PNG chunks: 4-byte type, 4-byte big-endian length (including the 8-byte chunk header)."""
    chunks = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(chunks)) + chunks


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    needed = set(PNG_SIZES) | set(ICO_SIZES) | {size for _kind, size in ICNS_TYPES}
    pngs = {size: render_png(SVG, size) for size in sorted(needed)}
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    for size in PNG_SIZES:
        png_path(size).write_bytes(pngs[size])
    (ICON_DIR / f"{ICON_NAME}.ico").write_bytes(build_ico({size: pngs[size] for size in ICO_SIZES}))
    (ICON_DIR / f"{ICON_NAME}.icns").write_bytes(build_icns(pngs))
    del app
    print(f"wrote {len(PNG_SIZES)} PNGs, {ICON_NAME}.ico and {ICON_NAME}.icns to {ICON_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
