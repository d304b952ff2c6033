"""Regenerate docs/screenshot.png: start the app as `make run` does, predict the sample images, capture.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
Needs Chromium at /usr/bin/chromium (Debian's package; `.ci/run` installs it).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "SIGHTLINE_DEVICE": "cpu"}
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or app.poll() is not None:
                raise SystemExit("the app did not start")
            time.sleep(0.3)
        samples = sorted((ROOT / "assets" / "samples").glob("shapes_*.jpg"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.locator("input[type=file]").first.set_input_files([str(s) for s in samples])
            page.get_by_role("button", name="Predict").click()
            page.get_by_text("images predicted").wait_for(timeout=120_000)
            page.wait_for_timeout(1500)  # let the gallery images paint
            page.screenshot(path=args.out, full_page=True)
            browser.close()
        print(args.out)
    finally:
        app.terminate()
        app.wait(timeout=30)


if __name__ == "__main__":
    main()
