"""The first picture of a run comes with the reply to Run, not a timer tick (up to a second) later."""

from __future__ import annotations

import json

import httpx

from tests.e2e.pages import LONG, add_images, copies, thumbnails, wait_text


def run_fn(app_url: str) -> int:
    """The id of the event the Run button's click calls (from the page's config)."""
    config = httpx.get(f"{app_url}/config", timeout=30).json()
    (button,) = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "run"]
    (fn,) = [d["id"] for d in config["dependencies"] if [button, "click"] in d["targets"]]
    return int(fn)


def test_the_reply_to_run_shows_the_first_picture_large(page, app_url, tmp_path):
    add_images(page, copies(tmp_path, 2))
    fn = run_fn(app_url)
    with page.expect_response(lambda r: r.request.method == "POST" and f'"fn_index":{fn},' in (r.request.post_data or "").replace(" ", ""),
                              timeout=LONG) as reply:
        page.locator("#run").click()
    data = reply.value.json()["data"]
    galleries = [v for v in data if isinstance(v, dict) and isinstance(v.get("value"), list) and v["value"]
                 and isinstance(v["value"][0], dict) and "image" in v["value"][0]]
    assert galleries, f"the reply to Run carries no gallery picture: {json.dumps(data)[:600]}"
    # and the page shows it: a thumbnail, the large view and its objects, whatever the timer did since
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length > 0", timeout=LONG)
    assert thumbnails(page) >= 1
    page.locator("#large-view img").wait_for(timeout=LONG)
    wait_text(page, "keep", r"object 0: ")
