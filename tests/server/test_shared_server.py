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
