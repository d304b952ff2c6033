"""Which Chromium the browser tests drive: the system's, or Playwright's own, whichever exists.

    python -m tests.e2e.browser         # prints the browser's path, or what to run and exits 1

Order: ``SIGHTLINE_CHROMIUM`` if set, Debian's ``/usr/bin/chromium``, a ``chromium-browser`` that is a
real browser (Ubuntu's is a wrapper that asks for the snap, which does not run in containers), then
the Chromium ``playwright install chromium`` downloaded. The Makefile runs this before ``make test``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SNAP_MARKERS = (b"/snap/", b"snap install", b"requires the chromium snap")
INSTALL_HINT = (
    "no Chromium for the browser tests. Run `make test` again as root (it installs one), or: "
    "sudo apt-get install chromium (Debian), or .venv/bin/python -m playwright install --with-deps chromium (Ubuntu)"
)


def is_snap_wrapper(path: Path) -> bool:
    """True for a launcher that only hands over to the snap (Ubuntu's apt ``chromium``)."""
    real = path.resolve()
    if str(real).startswith("/snap/"):
        return True
    try:
        head = real.read_bytes()[:65536]
    except OSError:
        return True
    return head.startswith(b"#!") and any(m in head for m in SNAP_MARKERS)


def system_chromium() -> Path | None:
    candidates = [os.environ.get("SIGHTLINE_CHROMIUM", ""), "/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""]
    for name in filter(None, candidates):
        path = Path(name)
        if path.is_file() and os.access(path, os.X_OK) and not is_snap_wrapper(path):
            return path
    return None


def playwright_chromium() -> Path | None:
    """The browser ``playwright install chromium`` put in its cache, if it did."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    with sync_playwright() as p:
        path = Path(p.chromium.executable_path)
    return path if path.is_file() else None


def find_chromium() -> Path | None:
    return system_chromium() or playwright_chromium()


if __name__ == "__main__":
    found = find_chromium()
    if found is None:
        print(f"browser tests: {INSTALL_HINT}", file=sys.stderr)
        sys.exit(1)
    print(found)
