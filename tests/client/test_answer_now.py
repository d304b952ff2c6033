"""A short ``predict`` (at most one batch of images, nothing but settings) is one ``POST /v1/predict``: the same
predictions a session gives, for every kind of image input; anything more still runs as a session."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.client.transport import Transport


@pytest.fixture()
def routes(monkeypatch) -> list[str]:
    """The paths the client POSTs to, in order."""
    seen: list[str] = []
    post = Transport.post

    def recording(self, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(path.split("?")[0])
        return post(self, path, *args, **kwargs)

    monkeypatch.setattr(Transport, "post", recording)
    return seen


def _inputs(samples, tmp_path: Path) -> dict[str, object]:
    images = [s.image for s in samples[:3]]
    png = io.BytesIO()
    Image.fromarray(images[0]).save(png, format="PNG")
    jpeg = tmp_path / "one.jpg"
    Image.fromarray(images[1]).save(jpeg, quality=90)
    return {"array": images[0], "arrays": images, "PIL image": Image.fromarray(images[2]), "JPEG file": jpeg,
            "PNG bytes": png.getvalue(), "list of kinds": [images[0], str(jpeg), Image.fromarray(images[1])]}


@pytest.mark.parametrize("downsize", [False, True])
def test_a_short_predict_is_one_request_with_a_sessions_predictions(server, samples, tmp_path, routes, downsize):
    with sightline.connect(server.url, downsize=downsize) as model:
        for kind, value in _inputs(samples, tmp_path).items():
            routes.clear()
            quick = model.predict(input=value, conf=0.3)
            assert routes == ["/v1/predict"], f"{kind}: {routes}"
            slow = list(model.predict_detached(input=value, conf=0.3))
            assert [p.to_dict() for p in quick] == [p.to_dict() for p in slow], kind
            for a, b in zip(quick, slow, strict=True):  # the caller's pixels come back as they do from a session
                assert (a._image is None) == (b._image is None), kind
                if a._image is not None:
                    assert np.array_equal(a.image, b.image), kind


def test_predict_async_answers_a_short_call_in_one_request_too(server, samples, routes):
    with sightline.connect(server.url) as model:
        got = model.predict_async(input=samples[0].image).get(timeout=60)
    assert routes == ["/v1/predict"] and len(got) == 1 and got[0].ok


@pytest.mark.parametrize("how", ["more than a batch", "a progress bar", "tracking", "an unreadable file", "a video"])
def test_anything_more_runs_as_a_session(server, samples, sample_video, tmp_path, routes, how):
    images = [s.image for s in samples[:2]]
    calls = {
        "more than a batch": lambda m: m.predict(input=images * 3, batch_size=4),
        "a progress bar": lambda m: m.predict(input=images, tqdm=True),
        "tracking": lambda m: m.predict(input=images, tracking=True),
        "an unreadable file": lambda m: m.predict(input=[images[0], tmp_path / "missing.jpg"]),
        "a video": lambda m: m.predict(input=sample_video, num_frames=2),
    }
    with sightline.connect(server.url) as model:
        preds = calls[how](model)
    assert routes[0] == "/v1/sessions", routes
    if how == "an unreadable file":  # failed alone, with the reason, as before
        assert preds[0].ok and not preds[1].ok and "does not exist" in (preds[1].error or "")


def test_a_folder_too_long_for_one_request_is_listed_once(server, samples, tmp_path, routes, monkeypatch):
    from sightline.inputs import sources

    for i, s in enumerate(samples[:6]):
        Image.fromarray(s.image).save(tmp_path / f"img_{i}.png")
    listed = []
    list_folder = sources._folder_files
    monkeypatch.setattr(sources, "_folder_files", lambda *a: listed.append(a) or list_folder(*a))
    with sightline.connect(server.url) as model:
        preds = model.predict(input=tmp_path)
    assert routes[0] == "/v1/sessions" and len(preds) == 6 and all(p.ok for p in preds)
    assert len(listed) == 1, "the folder was listed again for the session"


def test_a_server_taking_fewer_items_per_request_gets_a_session(start_server, samples, routes):
    live = start_server(max_items_per_request=2)
    with sightline.connect(live.url) as model:
        preds = model.predict(input=[s.image for s in samples[:3]])
    assert routes[0] == "/v1/sessions" and [p.ok for p in preds] == [True] * 3
