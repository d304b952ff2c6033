"""Several people at once: each tab has its own run, and one person's long run does not hold up another's
clicks. The optional login guards the page."""

from __future__ import annotations

import pytest

from sightline.client.deploy import start_app
from tests.e2e.pages import LONG, SAMPLES, add_images, copies, progress, run, set_number, text_of, wait_state


def test_two_users_have_their_own_runs(browser, app_url, tmp_path):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    alice, bob = (c.new_page() for c in contexts)
    try:
        for p in (alice, bob):
            p.goto(app_url)
        add_images(alice, copies(tmp_path, 150))
        set_number(alice, "batch-size", 1)
        set_number(alice, "img-size", 1536)  # a long run: ~8x slower a picture (the largest the server takes, max_img_size)
        run(alice)
        alice.wait_for_function("Number(document.querySelector('#progress .sl-progress')?.dataset.done || 0) >= 2", timeout=LONG)

        add_images(bob, SAMPLES[:2])
        run(bob)
        wait_state(bob, "completed")  # Bob's short run finishes while Alice's long one goes on
        assert progress(bob)[:2] == (2, 2)
        assert progress(alice)[2] == "running"
        bob.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 2", timeout=LONG)
        assert "shapes_1.jpg" in text_of(bob, "gallery") and "img_" not in text_of(bob, "gallery")
        assert progress(alice)[1] == 150 and "shapes_1.jpg" not in text_of(alice, "gallery")
        alice.locator("#stop").click()
        wait_state(alice, "stopped")
    finally:
        for c in contexts:
            c.close()


@pytest.fixture(scope="module")
def guarded_url(tmp_path_factory):
    app, url = start_app(env={"SIGHTLINE_DEVICE": "cpu", "SIGHTLINE_WORKSPACE": str(tmp_path_factory.mktemp("guarded")),
                              "SIGHTLINE_LOGIN": "annotator:correct horse"})
    yield url
    app.terminate()
    app.wait(timeout=30)


def test_optional_login_guards_the_page(browser, guarded_url):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(guarded_url)
        page.get_by_label("username").fill("annotator")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect").first.wait_for(timeout=LONG)
        assert page.locator("#model-card").count() == 0
        page.get_by_label("username").fill("annotator")
        page.get_by_label("password").fill("correct horse")
        page.get_by_role("button", name="Login").click()
        page.locator("#model-card").wait_for(timeout=LONG)
        assert "demo/shapes" in text_of(page, "model-card")
    finally:
        context.close()
