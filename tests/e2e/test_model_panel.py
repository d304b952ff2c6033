"""The model panel: connect to another server by URL and API key (and predict there), deploy from the zoo
and from an uploaded checkpoint, with readable messages when something cannot work."""

from __future__ import annotations

import httpx

from tests.e2e.pages import LONG, ROOT, SAMPLES, add_images, choose, progress, run, text_of, wait_state, wait_text


def open_model_tab(page, name: str) -> None:
    page.locator("#model-change").get_by_text("Change model").first.click()
    page.locator("#model-change").get_by_role("tab", name=name).click()


def test_connect_by_url_and_key_then_predict_there(page, start_server):
    other = start_server(api_key="s3cret")
    open_model_tab(page, "Connect")
    page.locator("#server-url textarea, #server-url input").first.fill(other.url)
    page.locator("#server-key input").fill("wrong")
    page.locator("#connect").click()
    text = wait_text(page, "model-message", r"Could not connect")
    assert "API key" in text and "Traceback" not in text

    page.locator("#server-key input").fill("s3cret")
    page.locator("#connect").click()
    wait_text(page, "model-message", r"Connected to")
    assert f"served by {other.url}" in text_of(page, "model-card")

    add_images(page, SAMPLES[:2])
    run(page)
    wait_state(page, "completed")
    assert progress(page)[:2] == (2, 2)
    listed = httpx.get(f"{other.url}/v1/sessions", headers={"authorization": "Bearer s3cret"}, timeout=10).json()["sessions"]
    assert len(listed) == 1 and listed[0]["done"] == 2  # the run happened on the connected server

    page.locator("#use-own").click()
    wait_text(page, "model-card", r"served by this app's server")


def test_deploy_from_zoo_and_from_a_checkpoint(page, tmp_path):
    open_model_tab(page, "Deploy")
    choose(page, "zoo", "torchvision/fasterrcnn_resnet50_fpn")
    page.locator("#deploy").click()
    text = wait_text(page, "model-message", r"Could not deploy|Deployed")
    if "Could not deploy" in text:  # offline machines cannot fetch COCO weights: the page says so plainly
        assert "torchvision/fasterrcnn_resnet50_fpn" in text and "Traceback" not in text

    choose(page, "zoo", "demo/shapes")
    page.locator("#device").get_by_text("cpu", exact=True).click()
    page.locator("#deploy").click()
    wait_text(page, "model-message", r"Deployed demo/shapes on cpu")
    assert "device cpu" in text_of(page, "model-card")

    page.locator("#checkpoint input[type=file]").set_input_files(str(ROOT / "assets" / "models" / "shapes.pt"))
    page.locator("#checkpoint").get_by_text("shapes").first.wait_for(state="attached", timeout=LONG)
    page.locator("#deploy-checkpoint").click()
    wait_text(page, "model-message", r"from the uploaded checkpoint")
    assert "circle" in text_of(page, "model-card")

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    page.locator("#checkpoint button[aria-label='Clear']").click()
    page.locator("#checkpoint input[type=file]").set_input_files(str(junk))
    page.locator("#checkpoint").get_by_text("junk").first.wait_for(state="attached", timeout=LONG)
    page.locator("#deploy-checkpoint").click()
    text = wait_text(page, "model-message", r"Could not deploy this checkpoint")
    assert "sightline checkpoint" in text and "Traceback" not in text
    assert "/tmp" not in text and "gradio" not in text, "the file is named, not the server's temporary copy of it"
