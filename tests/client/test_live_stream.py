"""The client's live stream over a scripted server (httpx.MockTransport)."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np

from sightline.client.live import RemoteLiveStream
from sightline.client.transport import Transport


def _answer(boxes: list[list[float]], frame_idx: int, busy: bool) -> dict:
    n = len(boxes)
    prediction = {"source": "webcam", "frame_idx": frame_idx, "image_size": [48, 64], "boxes": boxes, "scores": [0.9] * n,
                  "class_ids": [0] * n, "classes": ["square"] * n, "track_ids": None, "masks": None}
    stats = {"received": 1, "processed": 0 if busy else 1, "dropped": 0, "fps": 1.0, "latency_ms": 5.0}
    return {"prediction": prediction, "stats": stats}


def test_a_newest_prediction_with_no_objects_replaces_an_older_one() -> None:
    """The object left the picture: the stream must show the empty frame, not keep the last boxes."""
    answers = iter([
        _answer([[1, 2, 30, 40]], frame_idx=0, busy=True),  # the posted frame's answer: the server is still at work
        _answer([], frame_idx=1, busy=False),  # then its news: the newest frame has nothing in it
    ])

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/live":
            return httpx.Response(200, json={"id": "L1"})
        return httpx.Response(200, json=next(answers))

    transport = Transport("http://sightline.test", http_transport=httpx.MockTransport(server))
    stream = RemoteLiveStream(transport, {"model": "m"})
    try:
        stream.push(np.zeros((48, 64, 3), dtype=np.uint8))
        deadline = time.monotonic() + 10
        while (stream.latest() is None or stream.latest().frame_idx != 1) and time.monotonic() < deadline and stream.alive:
            time.sleep(0.01)
        latest = stream.latest()
        assert latest is not None and latest.frame_idx == 1 and len(latest) == 0, json.dumps(latest.to_dict() if latest else None)
    finally:
        stream.close()
