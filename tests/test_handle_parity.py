"""A local and a remote handle (and their sessions) share one API: every method both have is on the public
base class with one signature, and behaves the same (issue 12)."""

from __future__ import annotations

import inspect

import pytest

import sightline
from sightline.api import PredictAPI
from sightline.client.remote import RemoteModel
from sightline.client.session import RemotePredictionSession
from sightline.engine.session import LocalPredictionSession, PredictionSession
from sightline.local import LocalModel


def _methods(cls: type) -> dict[str, list[inspect.Parameter] | None]:
    """Public methods (and properties, as ``None``) of a class, with their signatures."""
    out = {}
    for name, value in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if isinstance(inspect.getattr_static(cls, name), property):
            out[name] = None
        elif inspect.isfunction(value):  # the parameters: a subclass may return a narrower type (RemoteLiveStream)
            out[name] = list(inspect.signature(value).parameters.values())
    return out


@pytest.mark.parametrize(("base", "local", "remote"), [(PredictAPI, LocalModel, RemoteModel),
                                                       (PredictionSession, LocalPredictionSession, RemotePredictionSession)])
def test_shared_methods_are_the_bases_with_one_signature(base, local, remote):
    here, there, common = _methods(local), _methods(remote), _methods(base)
    shared = set(here) & set(there)
    assert sorted(shared - set(common)) == []  # each is on the public base class...
    differ = {name: (str(here[name]), str(there[name]), str(common[name])) for name in shared
              if not here[name] == there[name] == common[name]}
    assert differ == {}  # ...with the base's signature on both


def test_a_session_has_an_id_on_both_sides(demo_model, server, samples):
    local = demo_model.predict_detached(input=samples[0].image)
    local.wait_done(timeout=60)
    with sightline.connect(server.url) as model:
        remote = model.predict_detached(input=samples[0].image)
        remote.wait_done(timeout=60)
    for session in (local, remote):
        assert isinstance(session.id, str) and session.id
    assert demo_model.predict_detached(input=samples[0].image).id != local.id


def test_wait_result_waits_for_a_result_or_the_end_within_its_timeout_on_both_sides(demo_model, server, samples, sample_video):
    with sightline.connect(server.url) as model:
        for where, handle in {"local": demo_model, "remote": model}.items():
            session = handle.predict_detached(input=[s.image for s in samples[:2]])
            assert session.wait_result(0, timeout=60), where  # the first result came
            assert session.results(), where  # and is there to read
            long = handle.predict_detached(input=sample_video, stride=1)
            try:  # no result past a far cursor, and 72 frames do not end in 50 ms: the wait gives up, in time
                assert long.wait_result(10**6, timeout=0.05) is False, where
            finally:
                long.stop()
            assert long.wait_result(10**6, timeout=60), where  # the end ends the wait too


def test_annotated_video_saves_where_asked_and_picks_the_source_on_both_sides(demo_model, server, sample_video, tmp_path):
    with sightline.connect(server.url) as model:
        handles = {"local": demo_model, "remote": model}
        for where, handle in handles.items():
            session = handle.predict_detached(input=sample_video, stride=12, annotated_video=True)
            target = tmp_path / where / "out.mp4"
            target.parent.mkdir()
            got = session.annotated_video(target)
            assert got == target and target.stat().st_size > 1000, where  # path means "where to save it" on both
            source = session.results()[0].source
            assert session.annotated_video(source=source).stat().st_size > 1000, where  # source means "which video"
            with pytest.raises(sightline.NotFoundError, match="no annotated video of 'nope.mp4'"):
                session.annotated_video(source="nope.mp4")


def test_timeline_waits_for_the_end_on_both_sides(demo_model, server, sample_video):
    with sightline.connect(server.url) as model:
        timelines = {}
        for where, handle in {"local": demo_model, "remote": model}.items():
            session = handle.predict_detached(input=sample_video, stride=6, tracking=True)
            timelines[where] = session.timeline()  # right away: it waits for the run to end
            assert session.is_done(), where
        tracks = {where: [(o.track_id, o.class_name, o.ranges_us, len(o.observations)) for o in t.objects] for where, t in timelines.items()}
        assert tracks["local"] == tracks["remote"] and len(tracks["local"]) >= 3  # boxes travel rounded: compared as tracks


def test_list_models_is_the_same_typed_list_on_both_sides(demo_model, server):
    with sightline.connect(server.url) as model:
        local, remote = demo_model.list_models(), model.list_models()
        assert local == remote == sightline.list_models()
        assert all(isinstance(e, sightline.ZooEntry) for e in remote)
        loaded = model.loaded_models()
        assert [m.name for m in loaded] == ["demo/shapes"] and all(isinstance(m, sightline.ModelInfo) for m in loaded)
        assert [m.name for m in demo_model.loaded_models()] == ["demo/shapes"]


@pytest.mark.parametrize("where", ["local", "remote"])
def test_predict_async_takes_every_keyword_predict_takes(where, tmp_path, server, sample_video):
    """The split argument lists once let predict_async refuse tracking=, upload= and the like."""
    ws = sightline.Workspace(tmp_path / "ws")
    if where == "local":
        model = sightline.load("demo/shapes", device="cpu", workspace=ws)
        extra = {"device": "cpu"}
    else:
        model = sightline.connect(server.url)
        extra = {}
    with model:
        future = model.predict_async(sample_video, stride=30, tracking=True, tracking_config={"tracker": "sort"}, traces=True,
                                     annotated_video=str(tmp_path / "a.mp4"), video_params={"num_frames": 60}, **extra)
        preds = future.get(120)
        assert [p.frame_idx for p in preds] == [0, 30] and preds[0].track_ids is not None
        with pytest.raises(sightline.UnknownArgumentError, match="predict_async\\(\\) got an unexpected keyword argument 'trackng'"):
            model.predict_async(sample_video, trackng=True)


def test_the_unknown_argument_error_lists_every_accepted_name(demo_model, samples):
    from sightline.request import PredictRequest

    with pytest.raises(sightline.UnknownArgumentError) as info:
        demo_model.predict(samples[0].image, conff=0.3)
    message = str(info.value)
    assert "did you mean 'conf'" in message
    assert all(f" {name}," in message or f" {name})" in message for name in PredictRequest.keywords())


def test_the_typed_keywords_are_the_accepted_ones():
    from typing import get_type_hints

    from sightline.request import PredictKwargs, PredictRequest

    assert sorted(get_type_hints(PredictKwargs)) == sorted(PredictRequest.keywords())
