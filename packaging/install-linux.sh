#!/usr/bin/env bash
# Install SQLite Pulse for the current user, no root needed: the app folder, a `sqlite-pulse` command,
# a menu entry with its icon, and the association with SQLite files so double-clicking a .db opens it.
#
# Usage: install-linux.sh [--bundle DIR] [--no-default] [--uninstall]
#   --bundle DIR   the one-folder bundle to install (default: the folder holding this script when it ships
#                  inside the bundle, else dist/sqlite-pulse of the source tree)
#   --no-default   offer SQLite Pulse in "Open with" but leave the default app for SQLite files alone
#   --uninstall    remove what this script installed
# Honours XDG_DATA_HOME (default ~/.local/share), XDG_CONFIG_HOME (default ~/.config) and
# XDG_BIN_HOME (default ~/.local/bin), so it can be pointed at a scratch directory.
set -euo pipefail

APP=sqlite-pulse
MIME_TYPES=(application/vnd.sqlite3 application/x-sqlite3)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -f "$here/desktop/$APP.desktop" ]]; then  # running from inside a bundle
    bundle="$here"
    resources="$here/desktop"
else  # running from the source tree
    bundle="$here/../dist/$APP"
    resources="$here/../resources"
fi

action=install
make_default=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bundle) bundle="${2:?--bundle needs a directory}"; shift 2 ;;
        --no-default) make_default=0; shift ;;
        --uninstall) action=uninstall; shift ;;
        -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-linux.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
bin_home="${XDG_BIN_HOME:-$HOME/.local/bin}"
app_dir="$data_home/$APP"
launcher="$bin_home/$APP"
desktop_file="$data_home/applications/$APP.desktop"
mime_file="$data_home/mime/packages/$APP.xml"
icon_root="$data_home/icons/hicolor"

die() { echo "install-linux.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

refresh_caches() {
    if have update-desktop-database; then update-desktop-database -q "$data_home/applications" || true; fi
    if have update-mime-database && [[ -d "$data_home/mime/packages" ]]; then
        update-mime-database "$data_home/mime"
    fi
    if have gtk-update-icon-cache && [[ -d "$icon_root" ]]; then gtk-update-icon-cache -q -t -f "$icon_root" || true; fi
    touch "$icon_root" 2>/dev/null || true  # icon caches notice a newer directory
}

# Default app without xdg-mime: write [Default Applications] in mimeapps.list as the spec describes.
set_default_in_mimeapps() {
    local list="$config_home/mimeapps.list"
    mkdir -p "$config_home"
    touch "$list"
    awk -v mimes="${MIME_TYPES[*]}" -v app="$APP.desktop" '
        BEGIN { n = split(mimes, m, " "); for (i = 1; i <= n; i++) wanted[m[i]] = 1 }
        function emit(   i) { for (i = 1; i <= n; i++) print m[i] "=" app ";"; done = 1 }
        /^\[/ {
            if (in_section && !done) emit()
            in_section = ($0 == "[Default Applications]")
            print
            if (in_section) emit()
            next
        }
        { key = $0; sub(/=.*/, "", key); if (in_section && (key in wanted)) next; print }
        END { if (!done) { print "[Default Applications]"; emit() } }
    ' "$list" > "$list.tmp"
    mv "$list.tmp" "$list"
}

# Characters the Desktop Entry spec reserves in Exec arguments: a program path holding one must be quoted.
needs_quoting() { [[ "$1" == *[[:space:]\'\"\\\`\$\>\<\~\|\&\;\*\?\#\(\)]* ]]; }

# The program for Exec: the app itself, else the ~/.local/bin link when only the app's path needs quotes,
# else the app's path quoted (with a warning: launchers that do not unquote cannot start it).
exec_program_for() {
    local app="$1" link="$2"
    if ! needs_quoting "$app"; then printf '%s' "$app"; return; fi
    if ! needs_quoting "$link"; then printf '%s' "$link"; return; fi
    echo "install-linux.sh: warning: $app needs quoting in the menu entry; xdg-open outside GNOME/KDE/XFCE" \
         "cannot start a quoted program. Install to a path without spaces or special characters" \
         "(XDG_DATA_HOME, XDG_BIN_HOME) to avoid this." >&2
    # Desktop Entry quoting: inside double quotes only ", `, $ and \ would need escaping, and the
    # install path may hold none of them (checked before installing).
    printf '"%s"' "$app"
}

write_desktop_entry() {
    local program="$1" try_exec="$2" escaped_program escaped_try
    # % starts a field code in Exec (a literal one is %%); & and | are special to sed's replacement.
    escaped_program="$(printf '%s' "${program//%/%%}" | sed 's/[&|]/\\&/g')"
    escaped_try="$(printf '%s' "$try_exec" | sed 's/[&|]/\\&/g')"
    sed -e "s|^Exec=.*|Exec=$escaped_program %f|" -e "s|^TryExec=.*|TryExec=$escaped_try|" \
        "$resources/$APP.desktop" > "$desktop_file.tmp"
    mv "$desktop_file.tmp" "$desktop_file"
}

do_uninstall() {
    if [[ -L "$launcher" && "$(readlink "$launcher")" == "$app_dir/$APP" ]]; then rm -f "$launcher"; fi
    rm -rf "$app_dir"
    rm -f "$desktop_file" "$mime_file"
    rm -f "$icon_root"/*/apps/"$APP".png "$icon_root/scalable/apps/$APP.svg"
    local list="$config_home/mimeapps.list"
    if [[ -f "$list" ]]; then
        sed -i -E "/^application\/(vnd\.|x-)sqlite3=$APP\.desktop;?$/d" "$list"
    fi
    refresh_caches
    echo "SQLite Pulse removed."
}

do_install() {
    [[ -x "$bundle/$APP" ]] || die "no $APP executable in $bundle (build it first: make package)"
    [[ -f "$resources/$APP.desktop" ]] || die "no $APP.desktop in $resources"
    case "$app_dir" in *[\"\`\$\\]*|*$'\n'*) die "install path contains a quote, backquote, \$, backslash or newline: $app_dir" ;; esac
    if [[ -e "$launcher" && ! -L "$launcher" ]]; then
        die "$launcher exists and is not a link this script made; remove it or set XDG_BIN_HOME"
    fi

    # The app folder: copied, so the download can be deleted; replaced in one step on upgrade.
    bundle="$(cd "$bundle" && pwd)"
    if [[ "$bundle" != "$app_dir" ]]; then
        mkdir -p "$data_home"
        rm -rf "$app_dir.new"
        cp -a "$bundle/." "$app_dir.new/"
        rm -rf "$app_dir"
        mv "$app_dir.new" "$app_dir"
    fi

    mkdir -p "$bin_home"
    ln -sfn "$app_dir/$APP" "$launcher"

    # Menu entry: an absolute Exec, because a desktop session's PATH often lacks ~/.local/bin. Written
    # unquoted: xdg-open's generic mode (outside GNOME/KDE/XFCE) runs the Exec line's first word as is,
    # quotes included, so a quoted program cannot be started there.
    mkdir -p "$(dirname "$desktop_file")"
    local exec_program
    exec_program="$(exec_program_for "$app_dir/$APP" "$launcher")"
    write_desktop_entry "$exec_program" "$app_dir/$APP"
    if have desktop-file-validate; then desktop-file-validate "$desktop_file"; fi

    local png size
    for png in "$resources"/icons/"$APP"-*.png; do
        size="${png##*-}"; size="${size%.png}"
        install -D -m 644 "$png" "$icon_root/${size}x${size}/apps/$APP.png"
    done
    install -D -m 644 "$resources/$APP.svg" "$icon_root/scalable/apps/$APP.svg"

    install -D -m 644 "$resources/$APP-mime.xml" "$mime_file"
    refresh_caches

    if [[ $make_default == 1 ]]; then
        if have xdg-mime; then
            xdg-mime default "$APP.desktop" "${MIME_TYPES[@]}"
        else
            set_default_in_mimeapps
        fi
    fi

    echo "SQLite Pulse installed:"
    echo "  app      $app_dir"
    echo "  command  $launcher"
    echo "  menu     $desktop_file"
    if [[ $make_default == 1 ]]; then echo "  opens    SQLite files (${MIME_TYPES[*]}) by default"; fi
    case ":$PATH:" in *":$bin_home:"*) ;; *) echo "  note     $bin_home is not on your PATH" ;; esac
}

"do_$action"
