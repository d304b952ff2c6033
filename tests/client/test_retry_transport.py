"""The retry policy is an httpx transport: plain requests, streams and downloads all get it (httpx.MockTransport here)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import sightline
from sightline.client.retry import RetryTransport, retry_after_seconds
from sightline.client.transport import Transport
from sightline.errors import NotFoundError, ServerError, TransportError


def _transport(handler, **kwargs) -> tuple[Transport, list[float]]:
    slept: list[float] = []
    transport = Transport("http://sightline.test", max_retries=kwargs.pop("max_retries", 3), max_backoff_time=5.0,
                          http_transport=httpx.MockTransport(handler), **kwargs)
    transport.retry._sleep = slept.append  # no real waiting in tests
    return transport, slept


def _busy_then(answer: httpx.Response, busy: int = 2, retry_after: str = "0.5"):
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= busy:
            return httpx.Response(503, headers={"Retry-After": retry_after}, json={"error": {"type": "ServiceUnavailableError", "message": "warming up"}})
        return answer

    return handler, calls


def test_a_503_is_retried_after_the_servers_retry_after() -> None:
    handler, calls = _busy_then(httpx.Response(200, json={"ok": True}))
    transport, slept = _transport(handler)
    assert transport.get("/v1/info") == {"ok": True}
    assert len(calls) == 3 and slept == [0.5, 0.5] and transport.retries_done == 2


def test_retry_after_as_a_date_and_its_cap() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: at once
    assert retry_after_seconds("soon") is None
    policy = RetryTransport(httpx.MockTransport(lambda r: httpx.Response(200)), max_backoff_time=2.0)
    assert policy.backoff(1, "3600") == 2.0 and 0.18 <= policy.backoff(1) <= 0.32


def test_the_event_stream_gets_the_retries_too() -> None:
    body = b"id: 1\nevent: result\ndata: {}\n\n"
    handler, calls = _busy_then(httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))
    transport, _ = _transport(handler)
    with transport.stream("/v1/sessions/x/events") as response:
        assert response.status_code == 200 and b"event: result" in response.read()
    assert len(calls) == 3


def test_the_video_download_gets_the_retries_too(tmp_path: Path) -> None:
    handler, calls = _busy_then(httpx.Response(200, content=b"\x00\x00\x00\x18ftypmp42"))
    transport, _ = _transport(handler)
    target = transport.download("/v1/sessions/x/video", tmp_path / "v.mp4")
    assert target.read_bytes().startswith(b"\x00\x00\x00\x18ftyp") and len(calls) == 3


def test_a_read_timeout_is_retried_for_get_but_never_for_post() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1 or request.method == "POST":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"ok": True})

    transport, _ = _transport(handler)
    assert transport.get("/v1/info") == {"ok": True} and calls == ["GET", "GET"]
    calls.clear()
    with pytest.raises(sightline.RequestTimeoutError, match="no answer"):
        transport.post("/v1/sessions", json={})
    assert calls == ["POST"]  # the server may have started the work: sending it again could do it twice


def test_a_refused_connection_is_retried_for_post_too() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) <= 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"id": "s1"})

    transport, _ = _transport(handler)
    assert transport.post("/v1/sessions", json={"model": "m"}) == {"id": "s1"} and calls == ["POST"] * 3


def test_retries_run_out_then_the_answer_is_a_typed_error() -> None:
    handler, calls = _busy_then(httpx.Response(200), busy=100)
    transport, _ = _transport(handler, max_retries=2)
    with pytest.raises(sightline.ServiceUnavailableError, match="warming up") as caught:
        transport.get("/v1/info")
    assert caught.value.status == 503 and len(calls) == 3


def test_the_server_answered_and_not_found_here_are_separate_branches() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/gone":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(404, json={"error": {"type": "NotFoundError", "message": "no project 7", "status": 404}})

    transport, _ = _transport(handler, max_retries=0)
    with pytest.raises(NotFoundError, match="no project 7") as answered:
        transport.get("/v1/workspace/projects/7")
    assert isinstance(answered.value, ServerError) and isinstance(answered.value, LookupError) and answered.value.status == 404
    here = NotFoundError("no project 7 in this workspace")  # what a local Workspace raises
    assert not isinstance(here, ServerError) and here.status == 404
    with pytest.raises(sightline.ServerConnectionError) as unreachable:
        transport.get("/gone")
    assert isinstance(unreachable.value, TransportError) and not isinstance(unreachable.value, ServerError)


def test_an_unnamed_or_odd_error_body_still_gives_a_typed_error() -> None:
    bodies = iter([(422, b'{"detail": "bad"}'), (500, b"<html>oops</html>"), (409, json.dumps({"error": "text"}).encode())])

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = next(bodies)
        return httpx.Response(status, content=body)

    transport, _ = _transport(handler, max_retries=0)
    with pytest.raises(sightline.InputError) as bad:
        transport.get("/a")
    assert isinstance(bad.value, ServerError) and bad.value.status == 422
    with pytest.raises(ServerError, match="HTTP 500"):
        transport.get("/b")
    with pytest.raises(sightline.ConflictError, match="HTTP 409"):
        transport.get("/c")


def test_the_status_tables_of_server_and_client_come_from_the_classes() -> None:
    from sightline.server.errors import status_for

    for cls in (sightline.NotFoundError, sightline.ConflictError, sightline.PayloadTooLargeError, sightline.RateLimitedError,
                sightline.ServiceUnavailableError, sightline.ModelUnloadedError, sightline.InputError, sightline.InvalidSettingError,
                sightline.AuthenticationError, sightline.InsufficientStorageError):
        exc = cls("x")
        assert status_for(exc) == cls.status_code
        answered = ServerError.answered(cls.status_code, "x", {"type": cls.__name__})
        assert isinstance(answered, cls) and type(answered).__name__ == cls.__name__
    assert status_for(sightline.PredictionFailedError("x")) == 500
