"""Export from the page, format by format (issue 13, "What reviewers reach for"): YOLO, Supervisely and
the annotated images of a run on images, the timeline and the annotated video of a video run, each
holding the objects the review keeps. (COCO and CSV: test_layout.py::test_export_downloads_the_kept_objects.)"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import av
from PIL import Image

from tests.e2e.pages import LONG, SAMPLES, run_sample_video, text_of, wait_state, wait_text

VIEW_PAINTED = "(() => { const i = document.querySelector('#large-view img'); return !!i && i.complete && i.naturalWidth > 0; })()"


def tick_formats(page, *names: str) -> None:  # type: ignore[no-untyped-def]
    """Tick exactly ``names`` among the export formats (COCO JSON starts ticked)."""
    boxes = page.locator("#export-formats label")
    for k in range(boxes.count()):
        label = boxes.nth(k)
        want = label.inner_text().strip() in names
        if label.locator("input").is_checked() != want:
            label.click()


def export(page, expect: str) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """Press Export; the downloaded files by name, once the message matches ``expect``."""
    before = text_of(page, "export-message")
    page.locator("#export").click()
    page.wait_for_function(f"document.querySelector('#export-message').innerText != {before!r}", timeout=LONG)
    wait_text(page, "export-message", expect)
    links = page.locator("#export-files a")
    links.first.wait_for(timeout=LONG)
    page.wait_for_function("document.querySelector('#export-files a') !== null", timeout=LONG)
    hrefs = [links.nth(k).get_attribute("href") or "" for k in range(links.count())]
    return {h.rsplit("/", 1)[-1]: page.request.get(h).body() for h in hrefs}


def kept_objects(page) -> int:  # type: ignore[no-untyped-def]
    return int(re.search(r"\*?\*?(\d+)\*?\*? of \d+ objects", text_of(page, "review-counts")).group(1))  # type: ignore[union-attr]


def test_yolo_supervisely_and_annotated_images_hold_the_kept_objects(page):
    page.locator("#example-images").click()
    wait_state(page, "completed")
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)
    tick_formats(page, "annotated images (zip)")
    before = export(page, r"Exported .* annotated\.zip")
    with zipfile.ZipFile(io.BytesIO(before["annotated.zip"])) as z:
        drawn_before = {n: z.read(n) for n in z.namelist()}

    page.locator("#keep label").first.click()  # reject an object of the first image
    wait_text(page, "review-counts", r"1 rejected by hand")
    kept = kept_objects(page)
    tick_formats(page, "YOLO", "Supervisely", "annotated images (zip)")
    files = export(page, rf"Exported \*?\*?{kept}\*?\*? kept objects of 4 results")
    assert {"yolo.zip", "supervisely.zip", "annotated.zip"} <= set(files), sorted(files)

    with zipfile.ZipFile(io.BytesIO(files["yolo.zip"])) as z:
        labels = [n for n in z.namelist() if n.startswith("labels/") and n.endswith(".txt")]
        lines = sum(len(z.read(n).decode().strip().splitlines()) for n in labels)
        assert len([n for n in z.namelist() if n.startswith("images/") and not n.endswith("/")]) == 4
        assert "data.yaml" in z.namelist()
    assert lines == kept, f"YOLO has {lines} label lines for {kept} kept objects"

    with zipfile.ZipFile(io.BytesIO(files["supervisely.zip"])) as z:
        assert "meta.json" in z.namelist()
        anns = [json.loads(z.read(n)) for n in z.namelist() if "/ann/" in n and n.endswith(".json")]
    assert len(anns) == 4 and sum(len(a["objects"]) for a in anns) == kept

    with zipfile.ZipFile(io.BytesIO(files["annotated.zip"])) as z:
        drawn_after = {n: z.read(n) for n in z.namelist()}
    assert sorted(drawn_after) == sorted(drawn_before) == sorted(f"{s.stem}.jpg" for s in SAMPLES[:4]), sorted(drawn_after)
    for name, data in drawn_after.items():
        assert Image.open(io.BytesIO(data)).size == Image.open(SAMPLES[0].parent / name).size
    changed = [n for n in drawn_after if drawn_after[n] != drawn_before[n]]
    assert changed == [f"{SAMPLES[0].stem}.jpg"], f"only the image with the rejected object is drawn differently: {changed}"


def frames_of(data: bytes, tmp_path: Path, name: str) -> int:
    path = tmp_path / name
    path.write_bytes(data)
    with av.open(str(path)) as video:
        return sum(1 for _ in video.decode(video=0))


def observations(timeline: dict) -> int:
    return sum(1 for o in timeline["objects"] for x in o["observations"] if x is not None)


def test_a_video_run_exports_its_timeline_and_annotated_video_with_the_kept_objects(page, tmp_path):
    run_video(page)  # frame 0 opens by itself
    total = kept_objects(page)

    tick_formats(page, "timeline JSON (video)", "annotated video (video)")
    files = export(page, rf"Exported \*?\*?{total}\*?\*? kept objects of 12 results .*: timeline\.json, annotated\.mp4")
    timeline = json.loads(files["timeline.json"])
    assert len(timeline["frame_timestamps_us"]) == 12 and timeline["objects"], timeline
    assert all(o["class_name"] and o["ranges_us"] for o in timeline["objects"])
    tracked = observations(timeline)
    assert 0 < tracked <= total  # an object the tracker gave no id (yet) is in no track
    assert frames_of(files["annotated.mp4"], tmp_path, "all.mp4") == 12

    page.locator("#gallery button.thumbnail-item").nth(6).click()
    wait_text(page, "view-name", r"frame 36")
    wait_text(page, "keep", r"track #\d+")
    page.locator("#keep label").filter(has_text="track #").first.click()  # reject a tracked object of frame 36
    wait_text(page, "review-counts", r"1 rejected by hand")
    files = export(page, rf"Exported \*?\*?{total - 1}\*?\*? kept objects of 12 results")
    assert observations(json.loads(files["timeline.json"])) == tracked - 1
    assert frames_of(files["annotated.mp4"], tmp_path, "kept.mp4") == 12  # drawn again, every sampled frame


def run_video(page) -> None:  # type: ignore[no-untyped-def]
    run_sample_video(page, 6)
    wait_state(page, "completed")
    page.wait_for_function(VIEW_PAINTED, timeout=LONG)


def test_the_video_player_says_what_it_shows_and_redraws_with_the_review(page, tmp_path):
    run_video(page)
    player = page.locator("#annotated-video video")
    player.wait_for(timeout=LONG)
    own = player.get_attribute("src")
    assert "the run's own video" in wait_text(page, "video-note", r"before your review")
    page.locator("#keep label").first.click()  # reject an object of frame 0
    wait_text(page, "review-counts", r"1 rejected by hand")

    page.locator("#redraw-video").click()
    wait_text(page, "video-note", r"Showing your review: the kept and fixed objects")
    page.wait_for_function(f"document.querySelector('#annotated-video video')?.getAttribute('src') != {own!r}", timeout=LONG)
    src = player.get_attribute("src") or ""
    assert src.endswith("reviewed.mp4"), src
    assert frames_of(page.request.get(src).body(), tmp_path, "player.mp4") == 12

    page.reload()  # the rejection comes back; the player shows the run's own video again, and says so
    wait_state(page, "completed")
    page.locator("#annotated-video video").wait_for(timeout=LONG)
    wait_text(page, "video-note", r"the run's own video")
    assert page.locator("#redraw-video").is_visible()
