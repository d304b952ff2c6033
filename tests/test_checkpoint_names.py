"""A checkpoint has one name whatever loads it: ``load(path)``, ``load_model(path)``, ``deploy(path)``, ``upload_model(path)``."""

from __future__ import annotations

import pytest

import sightline
from sightline.models.checkpoint import Checkpoint
from sightline.paths import DEMO_CHECKPOINT


def _checkpoint(folder, file_name: str, meta_name: str | None):  # type: ignore[no-untyped-def]
    ckpt = Checkpoint.load(DEMO_CHECKPOINT)
    ckpt.meta.pop("name", None)
    if meta_name is not None:
        ckpt.meta["name"] = meta_name
    path = folder / file_name
    ckpt.save(path)
    return path


@pytest.mark.parametrize(("meta_name", "expected"), [(" Shapes v2 ", "Shapes v2"), (None, "my shapes"), ("", "my shapes")])
def test_the_three_in_process_and_server_routes_name_a_checkpoint_alike(start_server, tmp_path, meta_name, expected):
    path = _checkpoint(tmp_path, "my shapes.pt", meta_name)
    live = start_server(allow_local_paths=True, models_dir=str(tmp_path / "models"))
    names = {"load": sightline.load(path, device="cpu").name}
    with sightline.connect(live.url) as remote:
        names["load_model"] = remote.load_model(str(path), device="cpu").name
        remote.unload_model(names["load_model"])
        names["upload_model"] = remote.upload_model(path, device="cpu").name
    assert names == {"load": expected, "load_model": expected, "upload_model": expected}


@pytest.mark.timeout(600)
def test_deploy_names_a_checkpoint_as_load_does(tmp_path):
    path = _checkpoint(tmp_path, "my shapes.pt", " Shapes v2 ")
    with sightline.deploy(str(path), device="cpu") as served:
        assert served.info.name == sightline.load(path, device="cpu").name == "Shapes v2"
        assert served.predict(input=str(sightline.paths.SAMPLES_DIR / "shapes_1.jpg"))[0].ok


def test_a_checkpoint_cannot_take_a_zoo_name_on_any_route(tmp_path):
    path = _checkpoint(tmp_path, "x.pt", "demo/shapes")
    with pytest.raises(sightline.InvalidSettingError, match="zoo name"):
        sightline.load(path, device="cpu")
