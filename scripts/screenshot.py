"""Regenerate docs/screenshot.png: start the app as `make run` does, run the sample images, review one, capture.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png] [--full-page]

Clicks the "Four images" example (assets/samples/shapes_*.jpg, run in one click), waits for the run to
finish and for its first result, which opens in the large view by itself, to be drawn and its objects
table filled. The
capture is a clip from the model card down to the end of the review section (input, settings, run and
review side by side); ``--full-page`` takes the whole page instead. Needs Chromium at /usr/bin/chromium
(Debian's package; `.ci/run` installs it). Exits non-zero with the step that failed.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "assets" / "samples").glob("shapes_*.jpg"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]
WIDTH = 1400
LONG = 180_000  # ms for the run itself; the first forward pass on a slow CPU takes a while
SHORT = 60_000
MAX_BYTES = 600 * 1024

# The large view is painted once its <img> has decoded pixels; the objects table counts its header row.
VIEW_PAINTED = "(() => { const i = document.querySelector('#large-view img'); return !!i && i.complete && i.naturalWidth > 0; })()"
OBJECT_ROWS = "Number(document.querySelector('#objects [role=grid]')?.getAttribute('aria-rowcount') || 1) - 1"


class Failed(Exception):
    """A step of the capture that did not happen; the message says which."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    parser.add_argument("--full-page", action="store_true", help="capture the whole page, not the input-to-review clip")
    args = parser.parse_args()
    try:
        if len(SAMPLES) != 4:
            raise Failed(f"expected 4 sample images assets/samples/shapes_*.jpg, found {len(SAMPLES)} (make assets makes them)")
        if not Path(CHROMIUM).exists():
            raise Failed(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        png = capture_app(args.full_page)
        size, palette = save_png(png, Path(args.out))
    except Failed as exc:
        print(f"screenshot.py: failed: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {size:,} bytes" + (" (reduced to a 256-colour palette)" if palette else ""))
    return 0


def capture_app(full_page: bool) -> bytes:
    """Start the app on a temporary workspace, capture it, stop it."""
    from sightline.client.deploy import start_app
    from sightline.errors import DeployError

    with tempfile.TemporaryDirectory() as workspace:
        try:
            app, url = start_app(env={"SIGHTLINE_DEVICE": "cpu", "SIGHTLINE_WORKSPACE": workspace}, startup_timeout=600)
        except DeployError as exc:
            raise Failed(f"the app did not start: {exc}") from None
        try:
            return shoot(url, full_page)
        finally:
            app.terminate()
            try:
                app.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a hung app must not hide the capture's own result
                app.kill()


def shoot(url: str, full_page: bool) -> bytes:
    """Drive the page at ``url`` through one run and a review of its first result; return the PNG bytes."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    step = "launching Chromium"
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            raise Failed(f"{step}: {first_line(exc)}") from None
        try:
            page = browser.new_context(viewport={"width": WIDTH, "height": 1000}).new_page()
            step = "opening the page"
            page.goto(url, timeout=SHORT)
            page.locator("#run").wait_for(timeout=SHORT)

            step = "running the four sample images from their example button (waiting for the run to complete)"
            page.locator("#example-images").click()
            page.locator("#progress [data-state=completed]").wait_for(timeout=LONG)
            page.wait_for_function(f"document.querySelectorAll('#gallery button.thumbnail-item').length == {len(SAMPLES)}",
                                   timeout=SHORT)

            step = "waiting for the first result in the large view (it opens by itself)"
            page.wait_for_function(VIEW_PAINTED, timeout=SHORT)
            page.wait_for_function(f"{OBJECT_ROWS} >= 1", timeout=SHORT)
            page.wait_for_function(  # every thumbnail painted too
                "[...document.querySelectorAll('#gallery button.thumbnail-item img')].every(i => i.complete && i.naturalWidth > 0)",
                timeout=SHORT)
            page.mouse.move(0, 0)  # no hover highlight on the thumbnail just clicked
            page.wait_for_timeout(800)  # let transitions (progress bar, table) settle

            step = "taking the screenshot"
            if full_page:
                return page.screenshot(full_page=True)
            return page.screenshot(full_page=True, clip=review_clip(page))
        except PlaywrightError as exc:
            raise Failed(f"{step}: {first_line(exc)}") from None
        finally:
            browser.close()


def review_clip(page) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """From the top of the page to just below the objects table and the review counts: title, model card,
    input, settings, run and review with its large view."""
    bottom = 0.0
    for selector in ("#objects", "#review-counts", "#progress"):
        # page coordinates (the click may have scrolled the page; bounding_box() is relative to the viewport)
        y = page.evaluate("s => { const e = document.querySelector(s); return e ? e.getBoundingClientRect().bottom + window.scrollY : null; }",
                          selector)
        if y is None:
            raise Failed(f"{selector} is not on the page")
        bottom = max(bottom, float(y))
    return {"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16}


def save_png(png: bytes, out: Path) -> tuple[int, bool]:
    """Write ``png`` optimised; a capture still over ``MAX_BYTES`` is reduced to a 256-colour palette.
    Returns the size written and whether the palette was needed."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    palette = buffer.tell() > MAX_BYTES
    if palette:
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buffer, format="PNG", optimize=True)
    if buffer.tell() > MAX_BYTES:
        raise Failed(f"the capture is {buffer.tell():,} bytes even as a palette PNG, over {MAX_BYTES:,}: capture a smaller clip")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return buffer.tell(), palette


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
