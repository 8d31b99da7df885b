#!/usr/bin/env bash
# Smoke-test the built bundle the way a user runs it: copied out of the source tree, started from another
# directory with a PATH that holds no Python, a scratch HOME, and no PYTHON* variables. Runs the app's
# `smoke` self-test offscreen and on a real X server (Xvfb), plus `--version` and a headless verb.
# Exits non-zero when any run fails. Screenshots land in dist/smoke/ for a look.
#
# Usage: packaging/smoke.sh [BUNDLE_DIR]        (default: dist/sqlite-pulse)
#   SMOKE_SECONDS=N    how long the smoke self-test streams demo data (default 6)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$(cd "${1:-$repo/dist/sqlite-pulse}" 2>/dev/null && pwd)" || {
    echo "smoke.sh: no bundle at ${1:-dist/sqlite-pulse}; build it with: make package" >&2
    exit 1
}
seconds="${SMOKE_SECONDS:-6}"
[[ -x "$bundle/sqlite-pulse" ]] || { echo "smoke.sh: $bundle/sqlite-pulse is missing" >&2; exit 1; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/sqlite-pulse-smoke.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/home" "$scratch/runtime" "$scratch/work" "$scratch/empty-bin" "$repo/dist/smoke"
chmod 700 "$scratch/runtime"
cp -a "$bundle" "$scratch/app"
app="$scratch/app/sqlite-pulse"
case "$app" in "$repo"/*) echo "smoke.sh: the copy must live outside the source tree" >&2; exit 1 ;; esac

# The environment every run gets: nothing inherited except the X display that xvfb-run provides.
cat > "$scratch/run" <<EOF
#!/bin/bash
cd "$scratch/work"
exec env -i HOME="$scratch/home" PATH="$scratch/empty-bin" LANG=C.UTF-8 \\
    XDG_RUNTIME_DIR="$scratch/runtime" XDG_CONFIG_HOME="$scratch/home/.config" \\
    XDG_DATA_HOME="$scratch/home/.local/share" XDG_CACHE_HOME="$scratch/home/.cache" \\
    \${DISPLAY:+DISPLAY="\$DISPLAY"} \${XAUTHORITY:+XAUTHORITY="\$XAUTHORITY"} \\
    QT_QPA_PLATFORM="\$QT_QPA_PLATFORM" "$app" "\$@"
EOF
chmod +x "$scratch/run"

if env -i PATH="$scratch/empty-bin" /bin/sh -c 'command -v python3 || command -v python' >/dev/null; then
    echo "smoke.sh: a python is reachable on the smoke PATH" >&2
    exit 1
fi

failures=0
step() {  # step <label> <command...>: run, time, report
    local label="$1" started=$SECONDS status=0
    shift
    echo "== $label"
    "$@" || status=$?
    if [[ $status == 0 ]]; then
        echo "   ok ($((SECONDS - started)) s)"
    else
        echo "   FAILED with exit code $status ($((SECONDS - started)) s)" >&2
        failures=$((failures + 1))
    fi
}

check_version() {
    local output
    output="$(QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" --version)"
    echo "   $output"
    [[ "$output" =~ ^SQLite\ Pulse\ [0-9] ]]
}

check_headless_stats() {
    : > "$scratch/work/empty.db"  # SQLite treats an empty file as an empty database
    local output
    output="$(QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" stats "$scratch/work/empty.db" --json)"
    echo "   ${output:0:160}"
    [[ "$output" == *page_size* ]]
}

check_headless_query() {
    : > "$scratch/work/empty.db"
    local output
    output="$(QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" query "$scratch/work/empty.db" \
        "SELECT ? AS word, x'00ff' AS bytes, NULL AS missing" --param "crème" --ndjson)"
    echo "   $output"
    [[ "$output" == '{"word":"crème","bytes":"AP8=","missing":null}' ]]
}

check_headless_space_and_audit() {  # apsw.ext and dbstat from the bundle: the parts add up, the audit runs
    local db="$scratch/work/space.db" output
    : > "$db"
    QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" query "$db" --write \
        "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body TEXT)" >/dev/null
    output="$(QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" space "$db" --json)"
    echo "   ${output:0:120}"
    [[ "$output" == *'"total_bytes"'* ]] || return 1
    local status=0
    QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" audit "$db" --json >/dev/null || status=$?
    echo "   audit exit $status"
    [[ $status == 0 || $status == 1 ]]
}

smoke_offscreen() {
    QT_QPA_PLATFORM=offscreen timeout --kill-after=10 180 "$scratch/run" smoke --seconds "$seconds" \
        --screenshot "$scratch/work/offscreen.png"
    cp "$scratch/work/offscreen.png" "$repo/dist/smoke/offscreen.png"
}

smoke_xvfb() {
    QT_QPA_PLATFORM=xcb timeout --kill-after=10 180 xvfb-run -a -s "-screen 0 1400x900x24 -nolisten tcp" \
        "$scratch/run" smoke --seconds "$seconds" --screenshot "$scratch/work/xvfb.png"
    cp "$scratch/work/xvfb.png" "$repo/dist/smoke/xvfb.png"
}

verbs="$(QT_QPA_PLATFORM=offscreen timeout 60 "$scratch/run" --help || true)"
step "sqlite-pulse --version" check_version
if [[ "$verbs" == *stats* ]]; then
    step "sqlite-pulse stats (headless verb, no display)" check_headless_stats
fi
if [[ "$verbs" == *query* ]]; then
    step "sqlite-pulse query (streaming export, no display)" check_headless_query
fi
if [[ "$verbs" == *audit* ]]; then
    step "sqlite-pulse space and audit (no display)" check_headless_space_and_audit
fi
step "sqlite-pulse smoke, offscreen" smoke_offscreen
if command -v xvfb-run >/dev/null; then
    step "sqlite-pulse smoke, under Xvfb" smoke_xvfb
else
    echo "smoke.sh: xvfb-run is missing (apt-get install xvfb xauth)" >&2
    failures=$((failures + 1))
fi

if [[ $failures != 0 ]]; then
    echo "smoke.sh: $failures step(s) failed" >&2
    exit 1
fi
echo "smoke.sh: the bundle passed (screenshots in dist/smoke/)"
