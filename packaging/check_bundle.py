"""Check a built bundle: size, forbidden libraries, required pieces, unresolved shared-library links.

    python packaging/check_bundle.py dist/sqlite-pulse

Exits 1 when a problem is found. Linked libraries that the bundle leaves to the system (libc, libGL, libxcb,
libwayland-*) are fine; a "not found" link is a problem only for the pieces the app cannot start without.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_policy as policy  # noqa: E402

# A missing link in these stops the app (or the smoke run) from starting at all.
ESSENTIAL_PATTERNS = (
    "libQt6Core.so*",
    "libQt6Gui.so*",
    "libQt6Widgets.so*",
    "libqxcb.so",
    "libqoffscreen.so",
    "*.cpython-*.so",
    "*.abi3.so",
    "libpython3*.so*",
)


def unresolved_links(bundle: Path) -> dict[str, list[str]]:
    """file -> libraries ldd cannot find, with the bundle's library folder on the search path (as at run time)."""
    ldd = shutil.which("ldd")
    if ldd is None or not sys.platform.startswith("linux"):
        return {}
    contents = bundle / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(contents))
    missing: dict[str, list[str]] = {}
    candidates = [bundle / policy.APP_NAME, *contents.rglob("*.so*")]
    for path in candidates:
        if not path.is_file() or path.is_symlink():
            continue
        result = subprocess.run([ldd, str(path)], capture_output=True, text=True, env=env, check=False)
        absent = sorted({line.split("=>")[0].strip() for line in result.stdout.splitlines() if "not found" in line})
        if absent:
            missing[path.relative_to(bundle).as_posix()] = absent
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--size-limit-mb", type=float, default=policy.SIZE_LIMIT_BYTES / 1e6, help="decimal MB")
    args = parser.parse_args(argv)
    bundle: Path = args.bundle
    if not bundle.is_dir():
        print(f"check_bundle: {bundle} is not a directory", file=sys.stderr)
        return 1

    report = policy.inspect_bundle(bundle, size_limit=int(args.size_limit_mb * 1e6))
    problems = list(report.problems)
    optional_files, optional_libraries = [], set()
    for relative, libraries in sorted(unresolved_links(bundle).items()):
        if any(Path(relative).match(pattern) for pattern in ESSENTIAL_PATTERNS):
            problems.append(f"{relative} links to {', '.join(libraries)}, not in the bundle nor on this system")
        else:
            optional_files.append(Path(relative).name)
            optional_libraries.update(libraries)
    if optional_files:
        print(
            f"check_bundle: note: {len(optional_files)} optional files ({', '.join(optional_files[:4])}, ...) link "
            f"{', '.join(sorted(optional_libraries))}, absent here; they load only where the system has them "
            "(e.g. the Wayland plugins on a Wayland desktop)"
        )

    print(
        f"bundle: {bundle}  {report.total_bytes / 1e6:.1f} MB ({report.total_bytes / 2**20:.1f} MiB) "
        f"in {report.file_count} files; limit {args.size_limit_mb:.0f} MB"
    )
    print("largest files:")
    for size, relative in report.largest[:10]:
        print(f"  {size / 2**20:7.1f} MiB  {relative}")
    for problem in problems:
        print(f"check_bundle: problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
