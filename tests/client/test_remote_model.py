"""The SDK against a real server: the same calls and results as a local model, sessions, failures."""

from __future__ import annotations

import http.server
import threading
import time

import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.models.base import Model
from sightline.models.zoo import load_model
from tests.scale.cluster import RAY_TIMEOUT_S


@pytest.fixture(scope="module")
def remote(server):
    with sightline.connect(server.url) as model:
        yield model


def _same(a: sightline.Prediction, b: sightline.Prediction) -> None:
    assert a.error == b.error and a.classes == b.classes and a.image_size == b.image_size
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
    if a.masks is not None and len(a):
        assert (a.masks == b.masks).mean() > 0.999


def test_info_and_classes(remote):
    assert remote.info.name == "demo/shapes" and remote.classes == ["circle", "square", "triangle"]
    assert remote.task is sightline.Task.INSTANCE_SEGMENTATION
    assert remote.server_info()["api_version"] == "v1"


def test_every_input_kind_matches_local(remote, demo_model, samples, sample_dir, file_server, sample_video, tmp_path):
    (tmp_path / "d").mkdir()
    Image.fromarray(samples[5].image).save(tmp_path / "d" / "x.png")
    inputs = [
        str(sample_dir / "img_00.png"),
        samples[1].image,
        Image.fromarray(samples[2].image),
        (sample_dir / "img_03.png").read_bytes(),
        f"{file_server}/img_04.png",
        tmp_path / "d",
        sample_video,
    ]
    local = demo_model.predict(input=inputs, num_frames=3, stride=2)
    over_http = remote.predict(input=inputs, num_frames=3, stride=2)
    assert len(over_http) == len(local) == 8
    for a, b in zip(over_http, local):
        _same(a, b)
        assert (a.source, a.image_path, a.image_url, a.frame_idx, a.timestamp_us, a.index) == (b.source, b.image_path, b.image_url, b.frame_idx, b.timestamp_us, b.index)
    assert np.array_equal(over_http[1].image, samples[1].image)  # in-memory pixels come back to the caller
    assert over_http[0].load_image().shape == (360, 480, 3)


def test_folder_recursive_and_bad_items(remote, tmp_path, sample_dir):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes((sample_dir / "img_00.png").read_bytes())
    (tmp_path / "broken.png").write_bytes(b"garbage")
    preds = remote.predict(input=tmp_path, recursive=True)
    assert [p.source.rsplit("/", 1)[-1] for p in preds] == ["broken.png", "a.png"]
    assert "not an image" in preds[0].error and preds[1].ok
    missing = remote.predict(input=[tmp_path / "gone.png", sample_dir / "img_01.png"])
    assert missing[0].error == "the file does not exist" and missing[1].ok


def test_argument_errors_are_the_same_types_as_local(remote, sample_dir, sample_video):
    with pytest.raises(TypeError, match="did you mean 'conf'"):
        remote.predict(input=sample_dir, conff=0.2)
    with pytest.raises(ValueError, match="conf must be between 0 and 1"):
        remote.predict(input=sample_dir, conf=2)
    with pytest.raises(sightline.InputError, match="start_frame=500 is past the end"):
        remote.predict(input=sample_video, start_frame=500)
    with pytest.raises(sightline.InputError, match="nothing to predict"):
        remote.predict()
    with pytest.raises(ValueError, match="runs where the server loaded it"):
        remote.predict(input=sample_dir, device="cpu")


@pytest.fixture(params=["plain", "ray"])
def serve_slow(request, start_server):
    """``serve_slow(delay)``: the URL of a server whose model takes at least ``delay`` s a batch. ``plain``: one
    uvicorn process; ``ray``: sightline on Ray Serve, 2 HTTP and 2 model replicas, sessions on PostgreSQL
    (its model takes 0.25 s a batch whatever ``delay`` is; tests/scale/cluster.py), where any request of a
    session may land on either HTTP replica."""
    if request.param == "ray":
        url = request.getfixturevalue("ray_app").url
        return lambda delay=0.0: url
    return lambda delay=0.0: start_server(model=SlowModel(delay)).url


@pytest.mark.timeout(RAY_TIMEOUT_S)  # the ray variant may wait for the cluster to start
def test_session_progress_reaches_total_and_cursor_paging(serve_slow, samples):
    remote = sightline.connect(serve_slow(0.0))
    images = [s.image for s in samples] * 3
    session = remote.predict_detached(input=images, batch_size=4)
    assert len(session) == 18
    preds = list(session)
    status = session.status()
    assert status.state is sightline.SessionState.COMPLETED and (status.done, status.total, status.failed) == (18, 18, 0)
    assert [p.index for p in preds] == list(range(18))
    assert [p.index for p in session.results(5, 3)] == [5, 6, 7]
    fresh = remote.session(session.id)  # another reader, from cursor 0, sees everything again
    assert [p.index for p in fresh] == list(range(18))
    remote.close()


class SlowModel(Model):
    """The demo model, but each batch takes at least ``delay`` seconds (a slower GPU, say)."""

    def __init__(self, delay: float, fail_from_batch: int | None = None) -> None:
        inner = load_model("demo/shapes", "cpu")
        self.inner, self.delay, self.fail_from_batch, self.batches = inner, delay, fail_from_batch, 0
        self.name, self.classes, self.task = inner.name, inner.classes, inner.task
        self.default_settings, self.input_size, self.device, self.framework = inner.default_settings, inner.input_size, inner.device, inner.framework

    def predict_batch(self, images, settings):
        self.batches += 1
        if self.fail_from_batch is not None and self.batches >= self.fail_from_batch:
            raise RuntimeError("the accelerator overheated")
        time.sleep(self.delay)
        return self.inner.predict_batch(images, settings)


@pytest.mark.timeout(RAY_TIMEOUT_S)  # the ray variant may wait for the cluster to start
def test_stop_within_one_batch_keeps_results(serve_slow, samples):
    with sightline.connect(serve_slow(0.3)) as model:
        session = model.predict_detached(input=[s.image for s in samples] * 10, batch_size=2)  # 60 images
        first = session.next(timeout=30)
        session.stop()
        status = session.status()
        assert status.state is sightline.SessionState.STOPPED
        assert status.done <= first.index + 1 + 2 * 2  # at most the batch in flight and the one queued behind it
        kept = [first.index] + [p.index for p in session]  # iteration goes on from the cursor
        assert kept == list(range(status.done))


def test_model_failure_mid_session(start_server, samples):
    # from its third pass on the model raises on everything: after 8 images in a row the session fails
    live = start_server(model=SlowModel(0.0, fail_from_batch=3), expose_tracebacks=True)  # a server for its owner, as deploy() starts
    with sightline.connect(live.url) as model:
        session = model.predict_detached(input=[s.image for s in samples] * 3, batch_size=2)
        got = []
        with pytest.raises(sightline.PredictionFailedError, match="the accelerator overheated") as info:
            for p in session:
                got.append(p)
        assert [p.index for p in got if p.ok] == [0, 1, 2, 3]  # results before the failure stay readable
        assert len(got) == 4 + 8 and all("the accelerator overheated" in p.error for p in got[4:])
        assert "predict_batch" in info.value.traceback  # taken where the model raised, on the server
        assert session.status().state is sightline.SessionState.FAILED


def test_two_clients_at_once(server, samples):
    results: dict[int, list] = {}

    def run(k: int) -> None:
        with sightline.connect(server.url) as m:
            results[k] = m.predict(input=[s.image for s in samples[k::2]])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results[0]) == 3 and len(results[1]) == 3
    assert all(p.ok and len(p) for r in results.values() for p in r)


def test_concurrent_requests_share_forward_passes(start_server, samples):
    live = start_server(model=SlowModel(0.2), batch_wait_ms=50)
    worker = live.state.models.get()
    with sightline.connect(live.url) as model:
        futures = [model.predict_async(input=s.image, batch_size=1) for s in samples[:4]]
        assert all(len(f.get(timeout=60)) == 1 for f in futures)
    assert worker.images_run == 4 and worker.batches_run < 4  # some requests rode in the same batch


def test_future_get_times_out_then_resolves(start_server, samples):
    live = start_server(model=SlowModel(1.0))
    with sightline.connect(live.url) as model:
        future = model.predict_async(input=samples[0].image)
        with pytest.raises(sightline.SessionTimeoutError):
            future.get(timeout=0.05)
        with pytest.raises(sightline.ResultsNotReadyError):
            future.result_now()
        assert future.get(timeout=60)[0].ok and future.done()


def test_stream_yields_as_produced(remote, sample_video):
    frames = [p.frame_idx for p in remote.stream(input=sample_video, stride=10)]
    assert frames == list(range(0, 72, 10))


def test_async_twins(remote, samples):
    import asyncio

    async def main():
        preds = await remote.apredict(input=samples[0].image)
        session = await remote.apredict_detached(input=[s.image for s in samples[:3]])
        got = [p.index async for p in session]
        return preds, got

    preds, got = asyncio.run(main())
    assert preds[0].ok and got == [0, 1, 2]


def test_downsizing_maps_results_back_to_full_size(remote, samples):
    from types import SimpleNamespace

    from tests.conftest import matched_fraction

    sample = samples[0]
    big = np.asarray(Image.fromarray(sample.image).resize((1440, 1080), Image.BILINEAR))
    truth = SimpleNamespace(boxes=sample.boxes * 3, class_ids=sample.class_ids)  # the shapes, at full size
    with sightline.connect(remote.url, downsize=True) as client:
        (small,) = client.predict(input=big)
    assert small.image_size == (1080, 1440) and small.masks.shape == (len(small), 1080, 1440)
    assert matched_fraction(small, truth) >= 0.75
    for box, mask in zip(small.boxes, small.masks):  # masks were scaled up with their boxes
        ys, xs = np.nonzero(mask)
        assert abs(xs.min() - box[0]) < 8 and abs(ys.max() + 1 - box[3]) < 8


def test_auth(start_server, samples):
    live = start_server(api_key="k3y")
    with pytest.raises(sightline.AuthenticationError, match="missing or wrong API key"):
        sightline.connect(live.url)
    with pytest.raises(sightline.AuthenticationError):
        sightline.connect(live.url, api_key="nope")
    with sightline.connect(live.url, api_key="k3y") as model:
        assert model.predict(input=samples[0].image)[0].ok


def test_killed_server_raises_connection_error_without_hanging(start_server, samples):
    live = start_server()
    model = sightline.connect(live.url, max_retries=2, max_backoff_time=0.5)
    live.stop()
    started = time.monotonic()
    with pytest.raises(sightline.ServerConnectionError, match="cannot reach the server"):
        model.predict(input=samples[0].image)
    assert time.monotonic() - started < 10
    assert model._transport.retries_done == 2


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 (with Retry-After) to the first two requests, then forwards to a real server."""

    calls = 0
    target = ""

    def do_GET(self):  # noqa: N802
        type(self).calls += 1
        if type(self).calls <= 2:
            self.send_response(503)
            self.send_header("Retry-After", "0.1")
            self.send_header("Content-Type", "application/json")
            body = b'{"error": {"type": "ServiceUnavailableError", "message": "warming up", "status": 503}}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        import httpx

        r = httpx.get(type(self).target + self.path)
        self.send_response(r.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def log_message(self, *args):
        pass


def test_retries_on_503_then_succeeds(server):
    _Flaky.calls, _Flaky.target = 0, server.url
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    model = sightline.connect(f"http://127.0.0.1:{proxy.server_address[1]}", max_retries=3)
    assert model.info.name == "demo/shapes" and _Flaky.calls == 3 and model._transport.retries_done == 2
    _Flaky.calls = -10  # now it keeps failing: retries run out and the 503 surfaces as its type
    with pytest.raises(sightline.ServiceUnavailableError, match="warming up"):
        model.server_info()
    proxy.shutdown()


def test_remote_load_and_unload_models(start_server):
    live = start_server()
    with sightline.connect(live.url) as model:
        assert [m.name for m in model.loaded_models()] == ["demo/shapes"]
        model.unload_model("demo/shapes")
        assert model.loaded_models() == []
        info = model.load_model("demo/shapes", device="cpu")
        assert info.name == "demo/shapes"
        with pytest.raises(sightline.NotFoundError):
            model.unload_model("nothing")


@pytest.mark.timeout(RAY_TIMEOUT_S)  # the ray variant may wait for the cluster to start
def test_client_that_disconnects_resumes_by_cursor(serve_slow, samples):
    url = serve_slow(0.05)
    first_client = sightline.connect(url)
    session = first_client.predict_detached(input=[s.image for s in samples] * 2, batch_size=2)
    got = [session.next(timeout=30).index for _ in range(3)]
    sid = session.id
    session.wait_done(timeout=60)  # the uploads must be in before this client goes away
    first_client.close()  # the client process "crashes": its connection is gone
    with sightline.connect(url, client_id=first_client.client_id) as second_client:  # the same client, a new process
        resumed = second_client.session(sid, after=3)
        rest = [p.index for p in resumed]
    assert got + rest == list(range(12))  # nothing lost, nothing repeated
    assert resumed.status().state is sightline.SessionState.COMPLETED


def test_deploy_owns_its_server(samples):
    with sightline.deploy("demo/shapes", device="cpu") as model:
        process = model._process
        assert model.predict(input=samples[0].image)[0].ok
    assert process.poll() is not None  # leaving the block shut the server down


def test_deploy_failure_shows_the_server_log():
    with pytest.raises(sightline.DeployError, match=r"exited with code \d+ while starting:(.|\n)*no model named 'demo/nothing'"):
        sightline.deploy("demo/nothing", device="cpu", startup_timeout=120)


def test_video_session_over_http_with_tracking_timeline_and_annotated_video(remote, sample_video, tmp_path):
    import av

    out = tmp_path / "remote.mp4"
    session = remote.predict_detached(input=sample_video, stride=4, tracking=True, annotated_video=out)
    preds = list(session)
    assert [p.frame_idx for p in preds] == list(range(0, 72, 4))
    assert all(p.track_ids is not None for p in preds)
    assert session.annotated_video() == out
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == len(preds)
    timeline = session.timeline()
    assert timeline.frame_timestamps_us == [p.timestamp_us for p in preds]
    assert {o.track_id for o in timeline.objects} == {int(t) for p in preds for t in p.track_ids if t >= 0}


def test_live_stream_over_http(remote, samples):
    import time as _time

    with remote.live(conf=0.5) as live:
        for s in samples:
            live.push(s.image)
        deadline = _time.monotonic() + 30
        while (live.latest() is None or live.stats().processed + live.stats().dropped < len(samples)) and _time.monotonic() < deadline:
            live.push(samples[-1].image)
            _time.sleep(0.05)
        stats = live.stats()
        latest = live.latest()
    assert latest is not None and latest.ok and len(latest) > 0
    assert stats.processed >= 1 and stats.received >= len(samples) and stats.latency_ms is not None


@pytest.mark.timeout(RAY_TIMEOUT_S)  # the ray variant may wait for the cluster to start
def test_results_arrive_before_the_last_file_is_sent(serve_slow, tmp_path, samples):
    remote = sightline.connect(serve_slow(0.0))
    folder = tmp_path / "many"
    folder.mkdir()
    small = np.asarray(Image.fromarray(samples[0].image).resize((96, 72)))
    for i in range(160):
        Image.fromarray(small).save(folder / f"{i:04d}.png")
    session = remote.predict_detached(input=folder, batch_size=4)
    first = session.next(timeout=60)
    sent_at_first = session._uploader.sent
    assert first.index == 0 and sent_at_first < 160  # the server started before the client finished sending
    rest = list(session)
    assert len(rest) == 159
    assert session._uploader.sent == 160
    remote.close()
