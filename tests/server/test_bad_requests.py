"""Bad request bodies get a 4xx naming the field and the reason, never a 500 (issue 10, item 5).

Each row is (route, body) -> (status, words the message must contain). Bodies are raw JSON text so
that NaN and 1e309 (which JSON parsers read as infinity) reach the server as a client would send them.
"""

from __future__ import annotations

import json

import httpx
import pytest

HUGE = "x" * 100_000
URL = "http://127.0.0.1:9/a.png"  # never fetched: every row fails validation first
SID = "{sid}"  # replaced by a fresh session's id

JSON_ROWS = [
    # POST /v1/predict
    ("/v1/predict", '{"images": 5}', 422, ["images", "list", "integer"]),
    ("/v1/predict", '{"images": [7]}', 422, ["images[0]", "object"]),
    ("/v1/predict", '{"images": [{"data": [1]}]}', 422, ["images[0].data", "string", "got list"]),
    ("/v1/predict", '{"images": [{"data": null}]}', 422, ["images[0].data", "string", "null"]),
    ("/v1/predict", '{"images": [{"data": NaN}]}', 422, ["images[0].data", "string"]),
    ("/v1/predict", '{"urls": true}', 422, ["urls", "list", "boolean"]),
    ("/v1/predict", '{"urls": 1e309}', 422, ["urls", "list"]),
    ("/v1/predict", '{"urls": [5]}', 422, ["urls[0]", "string"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "model": ["demo/shapes"]}}', 422, ["model", "string", "list"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "model": {{"a": 1}}}}', 422, ["model", "string", "object"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "model": "{HUGE}"}}', 422, ["model", "at most", "characters"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "settings": {{"conf": NaN}}}}', 422, ["conf", "between 0 and 1"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "settings": {{"max_detections": 1e309}}}}', 422, ["max_detections", "whole number"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "settings": [1]}}', 422, ["settings", "object"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "settings": {{"img_size": [32, [null, null]]}}}}', 422, ["img_size", "(height, width)"]),  # found by the fuzzer
    ("/v1/sessions", '{"total": 1, "settings": {"img_size": [null, 64]}}', 422, ["img_size", "(height, width)"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "settings": {{"cnf": 0.3}}}}', 422, ["did you mean 'conf'"]),
    ("/v1/predict", f'{{"urls": ["{URL}"], "imagse": []}}', 422, ["did you mean 'images'"]),
    # POST /v1/sessions
    ("/v1/sessions", '{"model": [1]}', 422, ["model", "string", "list"]),
    ("/v1/sessions", '{"model": {"a": 1}}', 422, ["model", "string", "object"]),
    ("/v1/sessions", '{"total": 1, "options": {"duration": NaN}}', 422, ["duration", "positive"]),
    ("/v1/sessions", '{"total": 1, "options": {"duration": 1e309}}', 422, ["duration", "positive"]),
    ("/v1/sessions", '{"total": 1, "options": {"duration": -2}}', 422, ["duration", "positive"]),
    ("/v1/sessions", '{"total": 1, "options": {"start_frame": 10, "end_frame": 5}}', 400, ["end_frame", "start_frame"]),
    ("/v1/sessions", '{"total": 1, "options": {"stride": true}}', 422, ["stride", "whole number"]),
    ("/v1/sessions", '{"total": 1, "tracking": true, "tracking_config": {"tracker": [1]}}', 422, ["tracker", "name"]),
    ("/v1/sessions", '{"total": 1, "tracking": true, "tracking_config": {"tracker": {"a": 1}}}', 422, ["tracker", "name"]),
    ("/v1/sessions", '{"total": 1, "tracking": true, "tracking_config": {"lost_track_buffer": NaN}}', 422, ["lost_track_buffer", "finite"]),
    ("/v1/sessions", '{"total": 1, "callback": {"url": "http://127.0.0.1:9/", "username": 5}}', 422, ["callback.username", "string"]),
    ("/v1/sessions", '{"total": 1, "callback": {"url": ["x"]}}', 422, ["callback.url", "string"]),
    ("/v1/sessions", '{"total": 1, "close": "yes"}', 422, ["close", "true or false"]),
    ("/v1/sessions", '{"total": 1.5}', 422, ["total", "whole number"]),
    ("/v1/sessions", '{"project_id": 1180591620717411303424}', 422, ["project_id", "at most"]),
    ("/v1/sessions", '{"image_ids": [1, "2"]}', 422, ["image_ids", "whole number"]),
    ("/v1/sessions", '{"total": 1, "upload": "create", "upload_project": 5}', 422, ["upload_project", "string"]),
    ("/v1/sessions", '{"total": 1, "upload": "create", "iou_merge_threshold": NaN}', 422, ["iou_merge_threshold"]),
    ("/v1/sessions", '{"total": 1, "upload": ["create"]}', 422, ["upload", "one of"]),
    ("/v1/sessions", '{"totl": 1}', 422, ["did you mean 'total'"]),
    # POST /v1/sessions/{sid}/items
    (f"/v1/sessions/{SID}/items", '{"items": 5}', 422, ["items", "list"]),
    (f"/v1/sessions/{SID}/items", '{"items": [5]}', 422, ["items[0]", "object"]),
    (f"/v1/sessions/{SID}/items", '{"urls": NaN}', 422, ["urls", "list"]),
    (f"/v1/sessions/{SID}/items", '{"items": [{"url": 5}]}', 422, ["items[0].url", "string"]),
    (f"/v1/sessions/{SID}/items", f'{{"items": [{{"url": "{URL}", "meta": [1]}}]}}', 422, ["items[0].meta", "object"]),
    (f"/v1/sessions/{SID}/items", '{"items": [{"meta": {}}]}', 422, ["items[0]", "url", "error"]),
    (f"/v1/sessions/{SID}/items", '{"close": "no"}', 422, ["close", "true or false"]),
    # POST /v1/models/load
    ("/v1/models/load", '{"model": ["demo/shapes"]}', 422, ["model"]),
    ("/v1/models/load", '{"model": "demo/shapes", "default": "yes"}', 422, ["default"]),
]

FORM_ROWS = [
    ("/v1/predict", {"meta": '{"a": 1}'}, 422, ["meta", "list", "object"]),
    ("/v1/predict", {"meta": "5"}, 422, ["meta", "list", "integer"]),
    ("/v1/predict", {"meta": "[5]"}, 422, ["meta[0]", "object"]),
    ("/v1/predict", {"model": '["demo/shapes"]'}, 422, ["model", "string", "list"]),
    ("/v1/predict", {"settings": "[1]"}, 422, ["settings", "object"]),
    ("/v1/predict", {"settings": '{"conf": NaN}'}, 422, ["conf", "between 0 and 1"]),
    ("/v1/predict", {"metta": "[]"}, 422, ["did you mean 'meta'"]),
    (f"/v1/sessions/{SID}/items", {"meta": '{"a": 1}'}, 422, ["meta", "list"]),
    (f"/v1/sessions/{SID}/items", {"meta": "[5]"}, 422, ["meta[0]", "object"]),
    (f"/v1/sessions/{SID}/items", {"close": '"yes"'}, 422, ["close", "true or false"]),
]


@pytest.fixture(scope="module")
def sid(server) -> str:
    return httpx.post(f"{server.url}/v1/sessions", json={"total": 100}).json()["id"]


def _check(response: httpx.Response, status: int, words: list[str]) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert error["status"] == status
    assert all(w in error["message"] for w in words), (words, error["message"])
    assert len(error["message"]) < 1000  # a long value is shown shortened, never echoed whole


@pytest.mark.parametrize(("route", "text", "status", "words"), JSON_ROWS, ids=[f"{r[0]} {r[1][:50]}" for r in JSON_ROWS])
def test_bad_json_body(server, sid, route, text, status, words):
    r = httpx.post(server.url + route.replace(SID, sid), content=text, headers={"content-type": "application/json"}, timeout=60)
    _check(r, status, words)


@pytest.mark.parametrize(("route", "fields", "status", "words"), FORM_ROWS, ids=[f"{r[0]} {json.dumps(r[1])[:50]}" for r in FORM_ROWS])
def test_bad_multipart_field(server, sid, route, fields, status, words):
    files = [("files", ("a.png", b"not an image", "image/png"))]
    r = httpx.post(server.url + route.replace(SID, sid), files=files, data=fields, timeout=60)
    _check(r, status, words)


def test_declared_bodies_are_the_sdks_request_model():
    """The schema the fuzzer and /docs see names exactly the arguments the engine and the SDK accept."""
    from sightline.request import Options, PredictRequest, RunRequest, Settings
    from sightline.server.bodies import CreateSession
    from sightline.settings import OPTION_NAMES, SETTING_NAMES

    assert set(Settings.model_fields) == set(SETTING_NAMES)
    assert set(Options.model_fields) == set(OPTION_NAMES)
    assert issubclass(CreateSession, RunRequest) and issubclass(PredictRequest, RunRequest)
    assert set(CreateSession.model_fields) - set(RunRequest.model_fields) == {"total", "urls", "close"}
    # what only the caller's process does: move its model, or drive a Ray Data job over its workspace
    assert set(PredictRequest.model_fields) - set(RunRequest.model_fields) == {"device", "engine", "ray_options", "resume_job"}


GOOD_SETTINGS = [{"img_size": [64, 96]}, {"img_size": 64}, {"classes": "circle"}, {"classes": ["circle", "square"]}, {"conf": 0},
                 {"conf": 1, "iou": 0.5}, {"max_detections": 3, "batch_size": 2, "agnostic_nms": False}]


@pytest.mark.parametrize("settings", GOOD_SETTINGS, ids=[json.dumps(s) for s in GOOD_SETTINGS])
def test_valid_settings_still_pass(server, sample_dir, settings):
    """Strict bodies refuse wrong types, not the values the SDK sends (lists for pairs, ints for floats)."""
    data = __import__("base64").b64encode((sample_dir / "img_00.png").read_bytes()).decode()
    r = httpx.post(f"{server.url}/v1/predict", json={"images": [{"data": data}], "settings": settings}, timeout=60)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{server.url}/v1/sessions", json={"total": 0, "settings": settings, "close": True}, timeout=60)
    assert r.status_code == 201, r.text
