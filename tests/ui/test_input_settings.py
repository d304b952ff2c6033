"""Input panel (what each tab turns into, readable refusals, workspace lists) and settings panel (predict kwargs)."""

from __future__ import annotations

import pytest

from sightline.errors import InputError
from sightline.ui import input_panel, settings_panel
from sightline.ui.context import AppContext
from tests.ui.conftest import make_ctx, settings, sources


def choose(ctx: AppContext, state, **values):  # type: ignore[no-untyped-def]
    return input_panel.choose(ctx, state, *sources(**values))


# --- choose ---------------------------------------------------------------------------------------
def test_each_kind_becomes_the_right_input(ctx, state, sample_dir, sample_video):
    files = [str(sample_dir / "img_00.png"), str(sample_dir / "img_01.png")]
    chosen = choose(ctx, state, kind="images", files=files)
    assert (chosen.kind, chosen.input, chosen.kwargs) == ("images", files, {})

    chosen = choose(ctx, state, kind="video", video=str(sample_video))
    assert (chosen.kind, chosen.input, chosen.video_source, chosen.kwargs) == ("video", str(sample_video), str(sample_video), {})

    chosen = choose(ctx, state, kind="urls", urls="  https://a.example/x.jpg \n\n HTTP://b.example/y.png\n")
    assert (chosen.kind, chosen.input) == ("urls", ["https://a.example/x.jpg", "HTTP://b.example/y.png"])

    # the most specific workspace choice wins: images over datasets over the project
    chosen = choose(ctx, state, kind="workspace", project=1, datasets=[1, 2], images=["3", 4])
    assert (chosen.kind, chosen.input, chosen.kwargs) == ("workspace", None, {"image_ids": [3, 4]})
    assert choose(ctx, state, kind="workspace", project=1, datasets=["1"]).kwargs == {"dataset_id": [1]}
    # dataset 2 of "Demo shapes" holds only its video: a dataset run would predict nothing, so it says so
    with pytest.raises(InputError, match="no images: pick the video"):
        choose(ctx, state, kind="workspace", project=1, datasets=["2"])
    assert choose(ctx, state, kind="workspace", project=1, datasets=[2], images=["video:1"]).kwargs == {"video_id": 1}
    with pytest.raises(InputError, match="Pick one video, or images only"):
        choose(ctx, state, kind="workspace", project=1, datasets=[1, 2], images=["video:1", 3])
    assert choose(ctx, state, kind="workspace", project=1).kwargs == {"project_id": 1}
    assert choose(ctx, state, kind="workspace", project=0).kwargs == {"project_id": 0}


@pytest.mark.parametrize("values, needle", [
    ({"kind": "images"}, "Add one or more images"),
    ({"kind": "images", "files": []}, "Add one or more images"),
    ({"kind": "video"}, "Add a video file"),
    ({"kind": "urls", "urls": " \n  \n"}, "Paste one or more image URLs"),
    ({"kind": "urls", "urls": "https://ok.example/a.jpg\nftp://fs.example/b.jpg"}, "'ftp://fs.example/b.jpg' is not a web address"),
    ({"kind": "urls", "urls": "photo.jpg"}, "'photo.jpg' is not a web address"),
    ({"kind": "workspace", "datasets": [], "images": []}, "Pick a project"),
    ({"kind": "webcam"}, "record button"),
])
def test_missing_or_wrong_input_is_explained(ctx, state, values, needle):
    with pytest.raises(InputError, match=needle):
        choose(ctx, state, **values)


def test_files_that_were_not_uploaded_are_refused(ctx, state, tmp_path):
    """Server paths that reach the handler (not through Gradio's upload cache) are never sent to a model."""
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    with pytest.raises(InputError, match=r"^The image 'passwd' was not uploaded through this page: only files you upload here"):
        choose(ctx, state, kind="images", files=["/etc/passwd"])
    with pytest.raises(InputError, match=r"^The image 'secret.png' was not uploaded through this page"):
        choose(ctx, state, kind="images", files=[str(outside)])
    with pytest.raises(InputError, match=r"^The video 'passwd' was not uploaded through this page"):
        choose(ctx, state, kind="video", video="/etc/passwd")


def test_a_file_over_the_size_limit_is_named(ws_server, sample_dir):
    small = make_ctx(ws_server[0].url, max_file_mb=0.01)  # 10 KB: the samples are larger
    files = [str(sample_dir / "img_03.png"), str(sample_dir / "img_04.png")]
    with pytest.raises(InputError, match=r"^img_03\.png is larger than 0\.01 MB, the limit of this app\.$"):
        input_panel.choose(small, small.new_user(), *sources(files=files))
    roomy = make_ctx(ws_server[0].url, max_file_mb=5)
    assert input_panel.choose(roomy, roomy.new_user(), *sources(files=files)).input == files


# --- workspace lists ------------------------------------------------------------------------------
def test_projects_datasets_and_images_are_listed_with_their_sizes(ws_server, state):
    _, project_id = ws_server
    update, note = input_panel.project_choices(state)
    assert update["choices"] == [("Demo shapes — 4 images, 2 datasets", project_id)] and "value" not in update  # the project picked stays picked
    assert note == ""

    datasets, images = input_panel.dataset_choices(state, project_id)
    labels = [label for label, _ in datasets["choices"]]
    assert labels == ["images — 4 images", "videos — 0 images, 1 videos"] and datasets["value"] == []
    assert images["choices"] == [] and images["value"] == []  # a new project empties the image list

    images_ds = datasets["choices"][0][1]
    update = input_panel.image_choices(state, [images_ds])
    names = [label.split(" (")[0] for label, _ in update["choices"]]
    assert names == ["shapes_1.jpg", "shapes_2.jpg", "shapes_3.jpg", "shapes_4.jpg"]
    assert all(label.endswith(", 0 objects)") and "×" in label for label, _ in update["choices"])
    assert len({i for _, i in update["choices"]}) == 4 and update["value"] == []


def test_lists_degrade_to_empty_with_a_message(ws_server, state, server):
    assert input_panel.dataset_choices(state, None)[0]["choices"] == []
    with pytest.warns(UserWarning, match="no project 4242"):  # gr.Warning: a toast on the page
        datasets, images = input_panel.dataset_choices(state, 4242)
    assert datasets["choices"] == [] and images["choices"] == []
    with pytest.warns(UserWarning, match="no dataset 4242"):
        assert input_panel.image_choices(state, [4242])["choices"] == []
    assert input_panel.image_choices(state, None)["choices"] == []

    no_workspace = make_ctx(server.url)  # a server without a workspace
    update, note = input_panel.project_choices(no_workspace.new_user())
    assert update["choices"] == [] and note.startswith("**The workspace could not be listed:**") and "Traceback" not in note


# --- settings -------------------------------------------------------------------------------------
def collect(state, **values):  # type: ignore[no-untyped-def]
    return settings_panel.collect(state, *settings(**values))


def test_settings_become_predict_kwargs(state):
    kwargs, video = collect(state, conf=0.4, iou=0.6, classes=None, batch_size=8.0)
    assert kwargs == {"conf": 0.4, "iou": 0.6, "batch_size": 8}
    assert video == {"stride": 1, "tracking": True, "annotated_video": True, "tracking_config": {"tracker": "bytetrack"}}

    # all classes ticked (in any order) is no filter; a narrower choice is sent; none at all is refused (nothing would be found)
    assert "classes" not in collect(state, classes=["triangle", "circle", "square"])[0]
    assert collect(state, classes=["square"])[0]["classes"] == ["square"]
    with pytest.raises(InputError, match="Tick at least one class"):
        collect(state, classes=[])

    assert "img_size" not in collect(state, img_size=0)[0] and "img_size" not in collect(state, img_size=None)[0]
    assert collect(state, img_size=640.0)[0]["img_size"] == 640


def test_video_settings(state):
    _, video = collect(state, stride=5.0, start_frame=10.0, end_frame=50.0, duration=2.0, tracking=True, tracker="sort")
    assert video == {"stride": 5, "start_frame": 10, "end_frame": 50, "tracking": True, "annotated_video": True,
                     "tracking_config": {"tracker": "sort"}}  # an end frame wins over a duration
    _, video = collect(state, stride=None, start_frame=0, end_frame=0, duration=2.5, tracking=False)
    assert video == {"stride": 1, "duration": 2.5, "tracking": False, "annotated_video": True}  # no tracker config untracked
    _, video = collect(state, end_frame=None, duration=None, tracker="")
    assert "end_frame" not in video and "duration" not in video and video["tracking_config"] == {"tracker": "bytetrack"}


def test_refresh_follows_the_connected_model(state):
    classes, conf, iou = settings_panel.refresh(state)
    info = state.connection.model.info
    assert classes["choices"] == info.classes == ["circle", "square", "triangle"] and classes["value"] == info.classes
    assert conf["value"] == info.default_settings["conf"] and iou["value"] == info.default_settings["iou"]
