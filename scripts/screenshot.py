"""Regenerate docs/screenshot.png: start the app as `make run` does, predict the sample images, capture.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
Needs Chromium at /usr/bin/chromium (Debian's package; `.ci/run` installs it).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from sightline.client.deploy import start_app

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workspace:
        app, url = start_app(env={"SIGHTLINE_DEVICE": "cpu", "SIGHTLINE_WORKSPACE": workspace})
        try:
            shoot(url, args.out)
        finally:
            app.terminate()
            app.wait(timeout=30)
    print(args.out)


def shoot(url: str, out: str) -> None:
    """Predict the sample images on the page at ``url`` and save a full-page screenshot."""
    samples = sorted((ROOT / "assets" / "samples").glob("shapes_*.jpg"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.locator("input[type=file]").first.set_input_files([str(s) for s in samples])
        page.get_by_role("button", name="Predict").click()
        page.get_by_text("images predicted").wait_for(timeout=120_000)
        page.wait_for_timeout(1500)  # let the gallery images paint
        page.screenshot(path=out, full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
