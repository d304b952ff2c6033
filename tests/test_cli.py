"""``sightline predict / models / export``: in-process through ``main([...])``, plus real subprocesses for ``--help``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import sightline
from sightline.cli import main
from sightline.paths import SAMPLES_DIR
from tests.servers import start_server  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sdk_results(demo_model: sightline.LocalModel, sample_dir: Path) -> list[sightline.Prediction]:
    """What the SDK finds in the folder: the command line must write exactly this."""
    return demo_model.predict(str(sample_dir))


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_answers_without_importing_torch() -> None:
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([sys.executable, "-m", "sightline", "predict", "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert shown.returncode == 0 and "--save-annotated" in shown.stdout and "--server URL" in shown.stdout
    probe = "import sys\nfrom sightline.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n" \
            "print(sorted(m for m in ('torch', 'cv2', 'gradio', 'supervision') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert loaded.stdout.strip().splitlines()[-1] == "[]", loaded.stdout


def test_json_per_item_matches_the_sdk(capsys: pytest.CaptureFixture, sample_dir: Path, sdk_results: list, tmp_path: Path) -> None:
    code, _, err = _run(capsys, "predict", str(sample_dir), "--out", str(tmp_path), "--device", "cpu")
    assert code == 0, err
    files = sorted((tmp_path / "json").glob("*.json"))
    assert [f.stem for f in files] == sorted(Path(p.image_path).stem for p in sdk_results)
    written = {Path(d["image_path"]).name: d for d in (json.loads(f.read_text()) for f in files)}
    for p in sdk_results:
        assert written[Path(p.image_path).name]["classes"] == p.classes
    assert f"{len(sdk_results)} item(s) predicted" in err


def test_without_out_one_json_line_per_item_on_stdout(capsys: pytest.CaptureFixture, sample_dir: Path, sdk_results: list) -> None:
    code, out, _ = _run(capsys, "predict", str(sample_dir), "--device", "cpu", "--no-progress")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [len(d["boxes"]) for d in lines] == [len(p) for p in sdk_results]


def _coco_count(folder: Path) -> int:
    data = json.loads((folder / "coco" / "annotations.json").read_text())
    assert len(data["images"]) == len(list((folder / "coco" / "images").rglob("*.png")))
    return len(data["annotations"])


def _yolo_count(folder: Path) -> int:
    assert (folder / "yolo" / "data.yaml").is_file()
    return sum(len(f.read_text().splitlines()) for f in (folder / "yolo" / "labels").glob("*.txt"))


def _supervisely_count(folder: Path) -> int:
    assert json.loads((folder / "supervisely" / "meta.json").read_text())["classes"]
    return sum(len(json.loads(f.read_text())["objects"]) for f in (folder / "supervisely").rglob("ann/*.json"))


@pytest.mark.parametrize("fmt, count", [("coco", _coco_count), ("yolo", _yolo_count), ("supervisely", _supervisely_count)])
def test_each_format_holds_the_sdks_objects(capsys: pytest.CaptureFixture, sample_dir: Path, sdk_results: list, tmp_path: Path,
                                             fmt: str, count) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, "predict", str(sample_dir), "--out", str(tmp_path), "--format", fmt, "--device", "cpu", "--no-progress")
    assert code == 0, err
    assert count(tmp_path) == sum(len(p) for p in sdk_results) > 0
    assert not (tmp_path / "json").exists()


def test_annotated_images_and_video(capsys: pytest.CaptureFixture, sample_dir: Path, tmp_path: Path) -> None:
    video = SAMPLES_DIR / "moving_shapes.mp4"
    code, _, err = _run(capsys, "predict", str(sample_dir / "img_00.png"), str(video), "--num-frames", "6", "--out", str(tmp_path),
                        "--save-annotated", "--device", "cpu", "--no-progress")
    assert code == 0, err
    assert (tmp_path / "annotated" / "img_00.jpg").stat().st_size > 1000
    assert (tmp_path / "annotated" / "moving_shapes.mp4").stat().st_size > 1000
    frames = sorted((tmp_path / "json").glob("moving_shapes_frame*.json"))
    assert len(frames) == 6 and len(list((tmp_path / "annotated").glob("*.jpg"))) == 1


def test_on_a_server(capsys: pytest.CaptureFixture, start_server, sample_dir: Path, sdk_results: list, tmp_path: Path) -> None:  # noqa: F811
    live = start_server()
    code, _, err = _run(capsys, "predict", str(sample_dir), "--server", live.url, "--out", str(tmp_path), "--format", "json,coco",
                        "--no-progress")
    assert code == 0, err
    assert len(list((tmp_path / "json").glob("*.json"))) == len(sdk_results)
    assert _coco_count(tmp_path) == sum(len(p) for p in sdk_results)
    assert live.state.sessions.list(), "the run went through the server"
    code, _, err = _run(capsys, "predict", str(SAMPLES_DIR / "moving_shapes.mp4"), "--server", live.url, "--num-frames", "4",
                        "--out", str(tmp_path / "v"), "--save-annotated", "--no-progress")
    assert code == 0, err
    assert (tmp_path / "v" / "annotated" / "moving_shapes.mp4").stat().st_size > 1000


def test_upload_create_into_a_workspace(capsys: pytest.CaptureFixture, sample_dir: Path, sdk_results: list, tmp_path: Path) -> None:
    code, _, err = _run(capsys, "predict", str(sample_dir), "--workspace", str(tmp_path / "ws"), "--upload", "create",
                        "--upload-project", "from the cli", "--device", "cpu", "--no-progress")
    assert code == 0, err
    ws = sightline.Workspace(tmp_path / "ws")
    project = ws.project("from the cli")
    assert len(ws.images(project_id=project.id)) == len(sdk_results)
    assert sum(len(ws.annotations(i.id)) for i in ws.images(project_id=project.id)) == sum(len(p) for p in sdk_results)
    assert f"into project {project.id}" in err

    code, _, err = _run(capsys, "export", "--workspace", str(tmp_path / "ws"), "--project", "from the cli", "--format", "yolo",
                        "--out", str(tmp_path / "exported"))
    assert code == 0, err
    labels = list((tmp_path / "exported" / "labels").glob("*.txt"))
    assert len(labels) == len(sdk_results)
    assert sum(len(f.read_text().splitlines()) for f in labels) == sum(len(p) for p in sdk_results)


@pytest.mark.parametrize("argv, words", [
    (["predict", "x.jpg", "--conf", "3"], "--conf: must be between 0 and 1"),
    (["predict", "x.jpg", "--format", "xml"], "'xml' is not one of json, coco, yolo, supervisely"),
    (["predict", "x.jpg", "--bogus"], "unrecognized arguments: --bogus"),
    (["predict", "x.jpg", "--upload", "merge"], "argument --upload: invalid choice"),
    (["predict", "x.jpg", "--format", "coco"], "give --out DIR"),
    (["predict", "x.jpg", "--project-id", "3"], "either SOURCE or workspace IDs"),
    (["predict", "x.jpg", "--num-frames", "3", "--end-frame", "4"], "not allowed with argument"),
    (["predict", "no/such/file.jpg", "--device", "cpu"], "does not exist"),
    (["predict", "x.jpg", "--server", "http://127.0.0.1:9", "--device", "cpu"], "--device is for in-process runs"),
    (["export", "--out", "x"], "the following arguments are required: --project"),
])
def test_bad_flags_say_what_is_wrong_and_exit_2(capsys: pytest.CaptureFixture, argv: list[str], words: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert words in err.strip().splitlines()[-1], err
    assert "Traceback" not in err


def test_upload_modes_other_than_create_need_workspace_ids(capsys: pytest.CaptureFixture, sample_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["predict", str(sample_dir), "--workspace", str(tmp_path / "ws"), "--upload", "append", "--device", "cpu"])
    assert exited.value.code == 2 and "input must be workspace IDs" in capsys.readouterr().err


def test_models_lists_the_zoo_and_a_servers_models(capsys: pytest.CaptureFixture, start_server) -> None:  # noqa: F811
    code, out, _ = _run(capsys, "models")
    assert code == 0 and out.splitlines()[0].startswith("demo/shapes")
    code, out, _ = _run(capsys, "models", "--json")
    assert {"name": "demo/shapes", "task": "instance_segmentation"}.items() <= json.loads(out)[0].items()
    live = start_server()
    code, out, _ = _run(capsys, "models", "--server", live.url)
    assert code == 0 and "(default)" in out


def test_an_unreachable_server_is_one_line_and_exit_1(capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "models", "--server", "http://127.0.0.1:9")
    assert code == 1 and err.startswith("sightline models: error:") and "Traceback" not in err


def test_a_folder_with_a_video_names_what_it_skipped(capsys: pytest.CaptureFixture, sample_dir: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copy(sample_dir / "img_00.png", tmp_path / "a.png")
    shutil.copy(SAMPLES_DIR / "moving_shapes.mp4", tmp_path / "clip.mp4")
    with pytest.warns(UserWarning, match="clip.mp4"):
        code, _, _ = _run(capsys, "predict", str(tmp_path), "--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress")
    assert code == 0 and [f.name for f in (tmp_path / "out" / "json").iterdir()] == ["a.json"]


def test_serve_on_ray_refuses_bad_scaling_before_starting_a_cluster(capsys: pytest.CaptureFixture) -> None:
    for value, words in (("4:1", "--autoscale needs 0 <= MIN <= MAX"), ("lots", "--autoscale takes MIN:MAX replicas (e.g. 1:4), got 'lots'")):
        with pytest.raises(SystemExit) as ended:
            main(["serve", "--ray", "--autoscale", value])
        assert ended.value.code == 2 and words in capsys.readouterr().err
    for value in ("0", "-2", "nan", "inf"):
        with pytest.raises(SystemExit) as ended:
            main(["serve", "--ray", "--replica-cpus", value])
        assert ended.value.code == 2 and "CPUs per model replica must be a number more than 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--ray", "--replicas", "2", "--autoscale", "1:4"])  # one or the other: argparse's usage error
    assert "not allowed with argument" in capsys.readouterr().err
