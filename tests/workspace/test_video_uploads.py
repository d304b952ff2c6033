"""Predictions on a workspace video upload as per-frame objects with track ids, in all four modes."""

from __future__ import annotations

import sightline


def _frame_objects(ws, video_id):
    return ws.annotations(video_id=video_id)


def test_video_uploads_in_every_mode(ws, sample_video):
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    common = {"stride": 8, "tracking": True, "tracking_config": {"minimum_consecutive_frames": 1}}
    created = model.predict(input=sample_video, upload="create", upload_project="clip", **common)
    (video,) = ws.videos(ws.datasets(ws.project("clip").id)[0].id)
    assert video.frame_count == 72 and all(p.video_id == video.id for p in created)
    objs = _frame_objects(ws, video.id)
    assert len(objs) == sum(len(p) for p in created)
    assert {o.frame_idx for o in objs} == {p.frame_idx for p in created if len(p)}
    assert any(o.track_id is not None for o in objs)
    by_frame = {p.frame_idx: sorted(t for t in p.track_ids.tolist() if t >= 0) for p in created}
    for f, ids in by_frame.items():
        assert sorted(o.track_id for o in objs if o.frame_idx == f and o.track_id is not None) == ids

    merged = model.predict(video_id=video.id, upload="iou_merge", **common)
    assert sum(p.upload["added"] for p in merged) == 0 and all(p.upload["skipped_duplicates"] == len(p) for p in merged)
    appended = model.predict(video_id=video.id, upload="append", **common)
    assert len(_frame_objects(ws, video.id)) == 2 * len(objs)
    replaced = model.predict(video_id=video.id, upload="replace", start_frame=8, num_frames=1)
    assert replaced[0].upload["replaced"] == 2 * len(created[1])
    after = [o for o in _frame_objects(ws, video.id) if o.frame_idx == 8]
    assert len(after) == len(replaced[0])
    assert len(appended) == len(created)


def test_a_reviewed_video_run_uploads_as_a_video_over_http(ws, sample_video, tmp_path):
    """``upload(..., video=)`` after review (the web app's path) stores what ``upload="create"`` stores."""
    import httpx
    import pytest

    from sightline.client.remote import RemoteModel
    from sightline.errors import InputError
    from sightline.models.zoo import load_model
    from sightline.server import ServerConfig, create_app
    from tests.servers import LiveServer

    config = ServerConfig(device="cpu", api_key=None, allow_private_urls=True)
    live = LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    try:
        with RemoteModel(live.url) as remote:
            preds = remote.predict(input=str(sample_video), stride=8, tracking=True, tracking_config={"minimum_consecutive_frames": 1})
            preview = remote.upload(preds, "create", project="reviewed clip", video=sample_video, dry_run=True)
            answer = remote.upload(preds, "create", project="reviewed clip", video=sample_video)
            junk = tmp_path / "junk.mp4"
            junk.write_bytes(b"not a video")
            with pytest.raises(InputError):
                remote.upload(preds, "create", project="junk clip", video=junk)
            request = {"mode": "append", "predictions": [preds[0].to_dict()], "video": True}
            bad = httpx.post(f"{live.url}/v1/uploads", files=[("files", ("a.mp4", b"x"))], data={"request": __import__("json").dumps(request)})
            assert bad.status_code == 400 and "video" in bad.text
    finally:
        live.stop()
    project = ws.project("reviewed clip")
    assert project.videos == 1 and project.images == 0 and "junk clip" not in [p.name for p in ws.projects()]
    (video,) = ws.videos(ws.datasets(project.id)[0].id)
    assert video.name == sample_video.name and video.frame_count == 72
    objs = ws.annotations(video_id=video.id)
    assert len(objs) == answer.totals.added == preview.totals.added == sum(len(p) for p in preds)
    assert {o.frame_idx for o in objs} == {p.frame_idx for p in preds if len(p)}
    for p in preds:
        ids = sorted(t for t in p.track_ids.tolist() if t >= 0)
        assert sorted(o.track_id for o in objs if o.frame_idx == p.frame_idx and o.track_id is not None) == ids
