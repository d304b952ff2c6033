"""What one client sends never stalls or takes over what other clients of the same server rely on."""

from __future__ import annotations

import threading

import httpx


def test_a_huge_list_of_wrong_items_is_refused_at_its_length_without_stalling_the_server(server):
    body = b'{"images": [' + b",".join([b"1"] * 700_000) + b"]}"  # 1.4 MB: one validation error per item, before
    health: list[float] = []

    def poll() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(20):
                client.get("/health").raise_for_status()
                health.append(1)

    poller = threading.Thread(target=poll)
    poller.start()
    r = httpx.post(f"{server.url}/v1/predict", content=body, headers={"content-type": "application/json"}, timeout=60)
    poller.join(timeout=60)
    assert r.status_code == 422 and "images must be at most 10000 items long" in r.json()["error"]["message"], r.text
    assert len(health) == 20  # /health kept answering


def _png_b64(width: int, height: int) -> str:
    import base64
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_a_request_holds_at_most_one_batch_of_decoded_images(server, monkeypatch):
    import weakref

    from sightline.server.routers import predict as predict_route

    batch = server.state.config.max_batch_size
    alive = 0
    most = 0
    lock = threading.Lock()

    def released() -> None:
        nonlocal alive
        with lock:
            alive -= 1

    def counting_decode(data, max_pixels):  # type: ignore[no-untyped-def]
        nonlocal alive, most
        image = real_decode(data, max_pixels)
        with lock:
            alive += 1
            most = max(most, alive)
        weakref.finalize(image, released)
        return image

    real_decode = predict_route.decode_image_bytes
    monkeypatch.setattr(predict_route, "decode_image_bytes", counting_decode)
    images = [{"data": _png_b64(64, 48)} for _ in range(20)]
    r = httpx.post(f"{server.url}/v1/predict", json={"images": images}, timeout=120)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 20 and all(p.get("error") is None for p in preds)
    assert [p["image_size"] for p in preds] == [[48, 64]] * 20
    assert 0 < most <= batch, f"{most} decoded images alive at once, over one batch of {batch}"


def test_a_request_over_its_pixel_budget_fails_the_remaining_items(start_server):
    live = start_server(max_request_pixels=35_000)  # three 100×100 images fit, not four
    assert httpx.get(f"{live.url}/v1/info", timeout=30).json()["limits"]["max_request_pixels"] == 35_000
    images = [{"data": _png_b64(100, 100)} for _ in range(6)]
    r = httpx.post(f"{live.url}/v1/predict", json={"images": images}, timeout=120)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p.get("error") is None for p in preds] == [True, True, True, False, False, False]
    for p in preds[3:]:
        assert "max_request_pixels" in p["error"] and "35,000" in p["error"], p["error"]
