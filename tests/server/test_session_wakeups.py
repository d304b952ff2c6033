"""A waiting reader of a session (a long poll, an event stream) is woken by the result itself, not by its next look."""

from __future__ import annotations

import threading

import httpx

from sightline.server import sessions


def test_a_long_poll_answers_when_the_result_lands_not_at_its_next_look(server, sample_dir, monkeypatch):
    # looks far apart: a reader that only looked again would answer after the whole wait (30 s)
    monkeypatch.setattr(sessions, "POLL_FIRST_S", 60.0)
    monkeypatch.setattr(sessions, "POLL_MAX_S", 60.0)
    image = sorted(sample_dir.glob("*.png"))[0]
    sid = httpx.post(f"{server.url}/v1/sessions", json={"total": 1}, timeout=30).json()["id"]
    answer: dict = {}

    def long_poll() -> None:
        try:
            answer["page"] = httpx.get(f"{server.url}/v1/sessions/{sid}/results", params={"after": 0, "wait": 30}, timeout=15).json()
        except httpx.TimeoutException as exc:
            answer["error"] = exc

    reader = threading.Thread(target=long_poll)
    reader.start()
    httpx.post(f"{server.url}/v1/sessions/{sid}/items", files=[("files", (image.name, image.read_bytes(), "image/png"))],
               data={"close": "true"}, timeout=30)
    reader.join(timeout=30)
    assert "error" not in answer, "the long poll was not woken by the result: it waited for its next look"
    assert [r["source"] for r in answer["page"]["results"]] == [image.name]
