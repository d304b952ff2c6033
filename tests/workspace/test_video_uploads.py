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
