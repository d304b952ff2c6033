"""Browser tests: the app started as `make run` starts it, driven by Playwright in a Chromium (see browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sightline.client.deploy import start_app
from tests.e2e.browser import INSTALL_HINT, find_chromium

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="session")
def app_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the app's workspace, for tests that read what the page stored as the SDK does."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture(scope="session")
def app_url(app_workspace: Path) -> Iterator[str]:
    workspace = app_workspace
    app, url = start_app(env={"SIGHTLINE_DEVICE": "cpu", "SIGHTLINE_WORKSPACE": str(workspace), "SIGHTLINE_ALLOW_PRIVATE_URLS": "1",
                                  "SIGHTLINE_ALLOW_MODEL_ADMIN": "1"})  # the model panel deploys models
    yield url
    app.terminate()
    app.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:  # an error, not a skip: twelve tests must not pass by not running
        raise RuntimeError(f"browser tests: {INSTALL_HINT}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, app_url):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(app_url)
    yield page
    context.close()
