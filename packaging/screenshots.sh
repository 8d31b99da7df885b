#!/usr/bin/env bash
# The README's screenshots: the window with the demo streaming, light and dark, on a private Xvfb display.
# Usage: PYTHONPATH=$PWD packaging/screenshots.sh [python]   ->  resources/screenshot-light.png, -dark.png
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
command -v xvfb-run >/dev/null || { echo "screenshots.sh: needs xvfb-run (apt-get install xvfb xauth)" >&2; exit 1; }
for theme in light dark; do
    env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=xcb \
        xvfb-run -a -s "-screen 0 1400x900x24 -nolisten tcp" \
        "$PY" -m desktop_app smoke --seconds 12 --theme "$theme" --size 1280x800 \
        --screenshot "resources/screenshot-$theme.png"
done
ls -l resources/screenshot-light.png resources/screenshot-dark.png
