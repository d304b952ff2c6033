"""The session's event reader over a scripted stream (httpx.MockTransport): keepalives and unknown events are skipped."""

from __future__ import annotations

import json

import httpx

from sightline.client.session import RemotePredictionSession
from sightline.client.transport import Transport
from sightline.prediction import Prediction

STATUS = {"state": "running", "done": 0, "total": 2, "failed": 0, "rate": 0.0, "elapsed_s": 0.0, "eta_s": None}


def _result(index: int) -> str:
    pred = Prediction.failed("unreadable", source=f"x{index}.jpg")
    pred.index = index
    return json.dumps(pred.to_dict())


def test_keepalive_comments_between_results_are_not_events() -> None:
    final = json.dumps({**STATUS, "state": "completed", "done": 2})
    # sse-starlette's ping is a comment block; after an id: line, httpx-sse yields it as an empty "message" event
    body = (f": connected\r\n\r\nid: 1\r\nevent: result\r\ndata: {_result(0)}\r\n\r\n: ping - 2026-12-02\r\n\r\n"
            f"event: hello\r\ndata: something newer servers may send\r\n\r\n"
            f"id: 2\r\nevent: result\r\ndata: {_result(1)}\r\n\r\nevent: end\r\ndata: {final}\r\n\r\n")

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/sessions/s1/events"
        return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})

    transport = Transport("http://sightline.test", http_transport=httpx.MockTransport(handler))
    session = RemotePredictionSession(transport, "s1", STATUS)
    got = list(session)
    assert [p.source for p in got] == ["x0.jpg", "x1.jpg"] and all(p.error == "unreadable" for p in got)
    assert session.status().state.value == "completed"
