"""Small steps a person takes on the page, shared by the browser tests."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from playwright.sync_api import Locator, Page

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "assets" / "samples").glob("shapes_*.jpg"))
VIDEO = ROOT / "assets" / "samples" / "moving_shapes.mp4"
LONG = 120_000  # ms; CI machines are slow and share two cores


def copies(tmp_path: Path, n: int, stem: str = "img") -> list[Path]:
    """``n`` files named ``{stem}_000.jpg``... made from the bundled samples (a long list a person drops)."""
    files = []
    for k in range(n):
        f = tmp_path / f"{stem}_{k:03d}.jpg"
        shutil.copy(SAMPLES[k % len(SAMPLES)], f)
        files.append(f)
    return files


def start_webcam(page: Page) -> Locator:
    """Open the Webcam tab, allow the (fake) camera and press record; returns the record button."""
    open_tab(page, "Webcam")
    page.get_by_role("button", name="Click to Access Webcam").click()
    record = page.locator("#webcam button.capture-button")
    record.wait_for(timeout=LONG)
    record.click()
    return record


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def add_images(page: Page, files: list[Path] | list[str]) -> None:
    open_tab(page, "Images")
    page.locator("#input-files input[type=file]").set_input_files([str(f) for f in files])
    page.locator("#input-files").get_by_text(Path(files[-1]).stem, exact=True).first.wait_for(state="attached", timeout=LONG)


def run_sample_video(page: Page, stride: int) -> None:
    """Choose the sample video in the Video tab, sample every ``stride``-th frame, and press Run."""
    open_tab(page, "Video")
    page.locator("#input-video input[type=file]").set_input_files(str(VIDEO))
    page.locator("#input-video").get_by_text("moving_shapes").first.wait_for(state="attached", timeout=LONG)
    page.locator("#video-settings").get_by_text("Video").first.click()
    set_number(page, "stride", stride)
    run(page)


def run(page: Page) -> None:
    page.locator("#run").click()


def shown(page: Page) -> str:
    """What the run's progress and message say now: the words a timed-out wait reports."""
    try:
        return f"progress {text_of(page, 'progress')!r} {progress(page)}, message {text_of(page, 'run-message')!r}"
    except Exception as exc:  # noqa: BLE001 - a report of what is there, whatever is there
        return f"(the page could not be read: {exc})"


def wait_state(page: Page, *states: str, timeout: float = LONG) -> None:
    selector = ", ".join(f"#progress [data-state={s}]" for s in states)
    try:
        page.locator(selector).first.wait_for(timeout=timeout)
    except Exception as exc:
        raise AssertionError(f"the run never reached {' or '.join(states)}: {shown(page)}") from exc


def progress(page: Page) -> tuple[int, int, str]:
    bar = page.locator("#progress .sl-progress")
    return int(bar.get_attribute("data-done") or 0), int(bar.get_attribute("data-total") or 0), bar.get_attribute("data-state") or ""


def thumbnails(page: Page) -> int:
    return page.locator("#gallery button.thumbnail-item").count()


def wait_thumbnails(page: Page, at_least: int, timeout: float = LONG) -> None:
    """Wait until the gallery shows ``at_least`` thumbnails; a timeout says what the page showed instead."""
    try:
        page.wait_for_function(f"document.querySelectorAll('#gallery button.thumbnail-item').length >= {at_least}", timeout=timeout)
    except Exception as exc:
        try:
            seen = f"{thumbnails(page)} thumbnails, page {text_of(page, 'page-info')!r}, counts {text_of(page, 'review-counts')!r}"
        except Exception as unread:  # noqa: BLE001 - a report of what is there, whatever is there
            seen = f"(the gallery could not be read: {unread})"
        raise AssertionError(f"the gallery never showed {at_least} thumbnails: {seen}; {shown(page)}") from exc


def set_number(page: Page, elem_id: str, value: float, settle_s: float = 1.0) -> None:
    """Type into a slider's or number's box and commit it, as a person does, then check it stays.

    Gradio mounts a closed accordion's components lazily when it opens; on a loaded machine a box can
    be mounted again after the first one was typed into, and shows its default again. A person sees
    that and types again; so does this (a number that never stays fails here, not as a wrong run)."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    for _ in range(5):
        box.fill(str(value))
        box.press("Enter")
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and _number(box.input_value()) == float(value):
            time.sleep(0.1)
        if _number(box.input_value()) == float(value):
            return
    raise AssertionError(f"#{elem_id} does not keep {value}: it shows {box.input_value()!r}")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def choose(page: Page, elem_id: str, option: str) -> None:
    """Pick an option of a dropdown by (part of) its label."""
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=option).first.click()  # a substring of the label
    page.keyboard.press("Escape")


def text_of(page: Page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def wait_text(page: Page, elem_id: str, pattern: str, timeout: float = LONG) -> str:
    """Wait until the element's text matches ``pattern``; return the text."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        text = text_of(page, elem_id)
        if re.search(pattern, text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"#{elem_id} never matched {pattern!r}; it shows: {text!r}")
        time.sleep(0.2)


OBJECT_ROWS = "Number(document.querySelector('#objects [role=grid]')?.getAttribute('aria-rowcount') || 1) - 1"


def object_rows(page: Page) -> int:
    """Rows of the objects table (the grid counts its header row too)."""
    return int(page.evaluate(OBJECT_ROWS))
