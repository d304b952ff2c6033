"""Cursor parameters of a session's results and events: a bad one is a 422 naming it, never duplicates.
On the plain server and on Ray Serve (any replica may answer)."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture(scope="module")
def finished(any_server, sample_dir):
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted(sample_dir.glob("*.png"))[:3]]
    sid = httpx.post(f"{any_server.url}/v1/sessions", json={"total": 3}, timeout=30).json()["id"]
    httpx.post(f"{any_server.url}/v1/sessions/{sid}/items", files=files, data={"close": "true"}, timeout=60)
    httpx.get(f"{any_server.url}/v1/sessions/{sid}/results", params={"after": 2, "wait": 30}, timeout=60)
    return sid


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert field in message, message


@pytest.mark.parametrize("params, field", [
    ({"after": -1}, "after"), ({"after": "x"}, "after"), ({"limit": 0}, "limit"), ({"limit": -5}, "limit"),
    ({"wait": -1}, "wait"), ({"wait": "nan"}, "wait"), ({"wait": "inf"}, "wait"), ({"wait": 31}, "wait"),
])
def test_results_refuse_a_bad_cursor_naming_it(any_server, finished, params, field):
    _refused(httpx.get(f"{any_server.url}/v1/sessions/{finished}/results", params=params, timeout=30), field)


@pytest.mark.parametrize("after", [-1, -3, "x"])
def test_events_refuse_a_negative_after(any_server, finished, after):
    _refused(httpx.get(f"{any_server.url}/v1/sessions/{finished}/events", params={"after": after}, timeout=30), "after")


def test_events_from_a_cursor_carry_the_right_ids(any_server, finished):
    with httpx.stream("GET", f"{any_server.url}/v1/sessions/{finished}/events", params={"after": 1}, timeout=30) as r:
        ids = [line[4:] for line in r.iter_lines() if line.startswith("id: ")]
    assert ids == ["2", "3"]
