#!/usr/bin/env bash
# Build the double-clickable bundle: dist/sqlite-pulse/ (one folder), or dist/onefile/sqlite-pulse with --onefile.
# Usage: packaging/build.sh <python of the project venv> [--onefile]
# Installs what a fresh Debian/Ubuntu machine lacks (binutils for PyInstaller, the '.[package]' extra),
# then builds, checks the bundle's contents and prints its size and the build time.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${1:?usage: packaging/build.sh <python> [--onefile]}"
shift
onefile=0
for arg in "$@"; do
    case "$arg" in
        --onefile) onefile=1 ;;
        *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

# PyInstaller reads shared-library dependencies with objdump (binutils) on Linux.
if [[ "$(uname -s)" == Linux ]] && ! command -v objdump >/dev/null; then
    if [[ "$(id -u)" == 0 ]]; then
        echo "build.sh: installing binutils"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null
    else
        echo "build.sh: PyInstaller needs objdump. Run: sudo apt-get install -y binutils" >&2
        exit 1
    fi
fi

# The 'package' extra of pyproject.toml; reinstalled only when missing or outside its version range, so a
# build does not disturb an editable install that tests are using.
if ! "$PY" - <<'EOF' 2>/dev/null
import importlib.metadata
import tomllib

from packaging.requirements import Requirement

with open("pyproject.toml", "rb") as handle:
    wanted = tomllib.load(handle)["project"]["optional-dependencies"]["package"]
for requirement in map(Requirement, wanted):
    assert requirement.specifier.contains(importlib.metadata.version(requirement.name), prereleases=True)
EOF
then
    echo "build.sh: installing the packaging tools (pip install -e '.[package]')"
    "$PY" -m pip install --quiet -e '.[package]'
fi

started=$SECONDS
if [[ $onefile == 1 ]]; then
    PULSE_ONEFILE=1 "$PY" -m PyInstaller --noconfirm --log-level WARN \
        --distpath dist/onefile --workpath build/pyinstaller-onefile packaging/sqlite-pulse.spec
    built=dist/onefile/sqlite-pulse
    executable=$built
    size_mib=$(du -sm "$built" | cut -f1)
else
    "$PY" -m PyInstaller --noconfirm --log-level WARN \
        --distpath dist --workpath build/pyinstaller packaging/sqlite-pulse.spec
    built=dist/sqlite-pulse
    executable=$built/sqlite-pulse
    "$PY" packaging/check_bundle.py "$built"
    size_mib=$(du -sm "$built" | cut -f1)
fi
elapsed=$((SECONDS - started))

"$executable" --version
echo "build.sh: built $built: ${size_mib} MiB on disk, in ${elapsed} s"
