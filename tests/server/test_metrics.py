"""``/metrics`` counts what a run did; every request leaves one structured access-log line."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import sightline
from tests.servers import start_server  # noqa: F401  (fixture)


def _samples(url: str, **headers: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def _value(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


def test_metrics_show_a_runs_counts(start_server, sample_dir) -> None:  # noqa: F811
    live = start_server()
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted(sample_dir.glob("*.png"))[:2]]
    files.append(("files", ("junk.jpg", b"not an image", "image/jpeg")))
    assert httpx.post(f"{live.url}/v1/predict", files=files, timeout=60).status_code == 200
    with sightline.connect(live.url) as remote:
        preds = remote.predict(str(sample_dir))
    got = _samples(live.url)

    assert _value(got, "sightline_http_requests_total", method="POST", route="/v1/predict", status="200") == 1
    assert _value(got, "sightline_http_requests_total", method="POST", route="/v1/sessions", status="201") == 1
    assert _value(got, "sightline_http_request_duration_seconds_count", route="/v1/predict") == 1
    assert _value(got, "sightline_predicted_images_total", model="demo/shapes") == 2 + len(preds)
    assert _value(got, "sightline_batch_size_count", model="demo/shapes") >= 2
    assert _value(got, "sightline_batch_size_sum", model="demo/shapes") == 2 + len(preds)
    assert _value(got, "sightline_sessions", state="completed") == 1
    assert _value(got, "sightline_queue_depth", model="demo/shapes") == 0
    assert _value(got, "sightline_batch_failures_total") == 0
    assert ("sightline_session_failed_items", ()) in got


def test_metrics_count_failures(start_server, sample_dir, tmp_path) -> None:  # noqa: F811
    live = start_server()
    (tmp_path / "bad.png").write_bytes(b"not an image")
    images = [str(sample_dir / "img_00.png"), str(tmp_path / "bad.png")]
    with sightline.connect(live.url) as remote:
        remote.predict(images)  # two images: one POST /v1/predict
        list(remote.predict_detached(images))  # a session
    assert httpx.get(f"{live.url}/v1/sessions/nope", timeout=30).status_code == 404
    got = _samples(live.url)
    assert _value(got, "sightline_session_failed_items") == 1
    assert _value(got, "sightline_predict_failed_items_total") == 1
    assert _value(got, "sightline_http_requests_total", route="/v1/sessions/{sid}", status="404") == 1


def test_metrics_need_the_api_key_when_one_is_set(start_server) -> None:  # noqa: F811
    live = start_server(api_key="s3cret")
    assert httpx.get(f"{live.url}/metrics", timeout=30).status_code == 401
    assert _samples(live.url, authorization="Bearer s3cret")


def test_one_access_line_per_request(start_server, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    live = start_server()
    with caplog.at_level(logging.INFO, logger="sightline.access"):
        httpx.get(f"{live.url}/health", timeout=30)
        httpx.get(f"{live.url}/v1/sessions/nope", timeout=30)
    lines = [r for r in caplog.records if r.name == "sightline.access"]
    assert [(r.access["method"], r.access["path"], r.access["status"]) for r in lines] == [
        ("GET", "/health", 200), ("GET", "/v1/sessions/nope", 404)]
    assert all(r.access["client"] == "127.0.0.1" and r.access["duration_ms"] >= 0 for r in lines)
    assert lines[1].getMessage().startswith("method=GET path=/v1/sessions/nope status=404 duration_ms=")
