"""A remote model behaves like a local one where users noticed it did not (issue 10, the SDK's side)."""

from __future__ import annotations

import asyncio
import http.server
import io
import threading
import time

import anyio.to_thread
import httpx
import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.client.remote import RemoteModel
from sightline.client.session import RemotePredictionSession
from tests.client.test_remote_model import SlowModel

AS_CLIENT = {"X-Sightline-Client": "concurrent-creates-test"}  # sessions belong to the client that made them


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


# --- results() returns every finished item ------------------------------------------------------------
def test_results_right_after_stop_hold_every_done_item(start_server, samples, monkeypatch):
    pushed = RemotePredictionSession._on_event

    def slow_link(self, kind, data):  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # pushed events arrive late, as over a slow link
        return pushed(self, kind, data)

    monkeypatch.setattr(RemotePredictionSession, "_on_event", slow_link)
    live = start_server(model=SlowModel(0.1))
    with sightline.connect(live.url) as model:
        session = model.predict_detached(input=[s.image for s in samples] * 8, batch_size=2)
        session.next(timeout=60)
        session.stop()
        done = session.status().done
        got = session.results()
    assert [p.index for p in got] == list(range(done))


def test_results_of_a_reattached_session_hold_every_done_item(start_server, samples):
    live = start_server()
    with sightline.connect(live.url) as model:
        first = model.predict_detached(input=[s.image for s in samples[:4]])
        first.wait_done(timeout=60)
        again = model.session(first.id)
        assert again.status().done == 4
        assert [p.index for p in again.results()] == [0, 1, 2, 3]
        assert [p.index for p in model.session(first.id, after=2).results(2)] == [2, 3]


# --- a file over the server's limit fails alone -------------------------------------------------------
def test_a_file_over_the_servers_file_limit_fails_only_that_item(start_server, samples, tmp_path):
    small = tmp_path / "small.png"
    small.write_bytes(_png(samples[0].image))
    big = tmp_path / "big.png"
    big.write_bytes(_png(np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)))  # ~1.5 MB of noise
    limit = 800_000
    assert small.stat().st_size < limit < big.stat().st_size
    live = start_server(max_file_bytes=limit)
    with sightline.connect(live.url) as model:
        preds = model.predict(input=[small, big, small, samples[1].image])
    assert [p.ok for p in preds] == [True, False, True, True]
    assert "big.png" in preds[1].source and "over the server's file limit" in preds[1].error and f"{limit:,}" in preds[1].error


# --- the uploader ends with the session ---------------------------------------------------------------
def test_uploader_stops_when_the_server_session_ends_while_it_waits(start_server, samples, monkeypatch):
    calls = {"n": 0}
    original = RemotePredictionSession.wait_progress

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RemotePredictionSession, "wait_progress", counted)
    live = start_server(model=SlowModel(0.05, fail_from_batch=3))
    with RemoteModel(live.url, upload_window=4) as model:
        with model.predict_detached(input=[s.image for s in samples] * 20, batch_size=1) as session:
            status = session.wait_done(timeout=60)
            assert status.state is sightline.SessionState.FAILED
            uploader = session._uploader
            before = calls["n"]
            time.sleep(1.0)
            assert calls["n"] - before < 50  # waiting for room, it does not spin once the session has ended
        uploader.join(timeout=10)
        assert not uploader.is_alive()


# --- a live stream's latest() catches up -------------------------------------------------------------
def test_live_latest_reaches_the_last_frame_after_frames_stop(start_server, samples):
    live = start_server(model=SlowModel(0.2))
    last = np.asarray(Image.fromarray(samples[0].image).resize((200, 150)))
    with sightline.connect(live.url) as model, model.live() as stream:
        for s in samples:
            stream.push(s.image)
        stream.push(last)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (stream.latest() is None or stream.latest().image_size != (150, 200)):
            time.sleep(0.1)
        latest, stats = stream.latest(), stream.stats()
    assert latest is not None and latest.image_size == (150, 200)  # the newest frame, as a local stream would show
    assert stats.processed + stats.dropped == stats.received


# --- handles on other models share the connection ----------------------------------------------------
def test_closing_a_use_model_handle_leaves_the_parent_usable(server, samples):
    with sightline.connect(server.url) as model:
        other = model.use_model("demo/shapes")
        assert other.predict(input=samples[0].image)[0].ok
        other.close()
        assert model.predict(input=samples[1].image)[0].ok


# --- the annotated video goes through the transport -------------------------------------------------
class _FirstVideoFails(http.server.BaseHTTPRequestHandler):
    """Forwards GETs to a real server, answering 503 to the first request for a session's video."""

    target = ""
    video_requests = 0

    def do_GET(self):  # noqa: N802
        if self.path.endswith("/video"):
            type(self).video_requests += 1
            if type(self).video_requests == 1:
                body = b'{"error": {"type": "ServiceUnavailableError", "message": "busy", "status": 503}}'
                self.send_response(503)
                self.send_header("Retry-After", "0.1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        r = httpx.get(type(self).target + self.path, headers={k: v for k, v in self.headers.items() if k.lower() in ("last-event-id", "x-sightline-client")}, timeout=60)
        self.send_response(r.status_code)
        self.send_header("Content-Type", r.headers.get("content-type", "application/octet-stream"))
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def log_message(self, *args):
        pass


def test_annotated_video_download_retries_and_raises_typed_errors(server, sample_video, tmp_path):
    with sightline.connect(server.url) as direct:
        session = direct.predict_detached(input=sample_video, stride=12, annotated_video=True)
        session.wait_done(timeout=120)
        plain = direct.predict_detached(input=sample_video, stride=24)
        plain.wait_done(timeout=120)
    _FirstVideoFails.target, _FirstVideoFails.video_requests = server.url, 0
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FirstVideoFails)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    with sightline.connect(url, max_retries=2, max_backoff_time=0.5, client_id=direct.client_id) as model:
        out = model.session(session.id).annotated_video(tmp_path / "a.mp4")
        assert out.stat().st_size > 1000 and _FirstVideoFails.video_requests == 2  # the 503 was retried
        with pytest.raises(sightline.NotFoundError, match="no annotated video"):
            model.session(plain.id).annotated_video(tmp_path / "b.mp4")
        reattached = model.session(session.id)
        reattached.wait_done(timeout=30)
        proxy.shutdown()
        proxy.server_close()
        with pytest.raises(sightline.ServerConnectionError):
            reattached.annotated_video(tmp_path / "c.mp4")


# --- max_sessions holds under concurrent creates -----------------------------------------------------
def test_concurrent_creates_never_exceed_max_sessions(start_server):
    live = start_server(max_sessions=4)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def create() -> None:
        r = httpx.post(f"{live.url}/v1/sessions", json={"total": 1}, headers=AS_CLIENT, timeout=60)
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=create) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = [r.status_code for r in answers]
    assert len(codes) == 40 and set(codes) <= {201, 429}
    assert codes.count(201) == 4
    refused = next(r for r in answers if r.status_code == 429)
    assert "limit is 4" in refused.json()["error"]["message"]
    running = [s for s in httpx.get(f"{live.url}/v1/sessions", headers=AS_CLIENT).json()["sessions"] if s["state"] in ("pending", "running")]
    assert len(running) == 4


# --- SSE readers do not take the server's threads ---------------------------------------------------
def _borrowed_threads(live) -> int:  # type: ignore[no-untyped-def]
    """Worker-thread tokens in use on the server's event loop right now."""

    async def read() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().borrowed_tokens)

    loop = live.server.servers[0].get_loop()
    return asyncio.run_coroutine_threadsafe(read(), loop).result(timeout=30)


def test_sixty_sse_readers_leave_the_api_answering(start_server, samples):
    live = start_server()
    sid = httpx.post(f"{live.url}/v1/sessions", json={"total": 1}, timeout=30).json()["id"]  # waits for an upload
    stop = threading.Event()
    connected = threading.Semaphore(0)

    def read_events() -> None:
        with httpx.Client(timeout=httpx.Timeout(30, read=60)) as client:
            with client.stream("GET", f"{live.url}/v1/sessions/{sid}/events") as response:
                for line in response.iter_lines():
                    if line.startswith(": connected"):
                        connected.release()
                    if stop.is_set():
                        return

    readers = [threading.Thread(target=read_events, daemon=True) for _ in range(60)]
    for t in readers:
        t.start()
    for _ in readers:
        assert connected.acquire(timeout=60)
    try:
        time.sleep(1.0)  # every reader is now in its waiting loop
        borrowed = max(_borrowed_threads(live) for _ in range(5))
        assert borrowed <= 5, f"{borrowed} of the server's worker threads are held by event-stream readers"
        with httpx.Client(timeout=30) as client:
            assert client.get(f"{live.url}/health").status_code == 200
            assert client.get(f"{live.url}/v1/info").status_code == 200
            files = [("files", ("a.png", _png(samples[0].image), "image/png"))]
            assert client.post(f"{live.url}/v1/predict", files=files).json()["predictions"][0]["error"] is None
        assert all(t.is_alive() for t in readers)  # the answers came while every reader was still open
    finally:
        stop.set()
        httpx.post(f"{live.url}/v1/sessions/{sid}/stop", timeout=60)  # ends every stream
        for t in readers:
            t.join(timeout=30)
