"""Model loading: the zoo, sightline checkpoints of torchvision architectures, ultralytics, clear errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torchvision

import sightline
from sightline.models.checkpoint import Checkpoint
from sightline.models.torchvision_adapter import TorchvisionModel
from tests.conftest import matched_fraction


def test_zoo_lists_demo_and_torchvision_models():
    names = {e.name: e for e in sightline.list_models()}
    assert names["demo/shapes"].task is sightline.Task.INSTANCE_SEGMENTATION and not names["demo/shapes"].needs_download
    assert names["torchvision/maskrcnn_resnet50_fpn"].task is sightline.Task.INSTANCE_SEGMENTATION
    for arch in ("fasterrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "fcos_resnet50_fpn", "ssd300_vgg16", "ssdlite320_mobilenet_v3_large"):
        assert names[f"torchvision/{arch}"].task is sightline.Task.DETECTION


def test_demo_model_info(demo_model):
    info = demo_model.info
    assert info.name == "demo/shapes" and info.task is sightline.Task.INSTANCE_SEGMENTATION
    assert info.classes == ["circle", "square", "triangle"] and len(set(info.class_colors)) == 3
    assert info.device == "cpu" and info.framework == "torchvision"
    d = info.to_dict()
    assert d["classes"][1] == {"id": 1, "name": "square", "color": info.class_colors[1]}


def _save_torchvision(path, arch, classes, **kwargs):
    torch.manual_seed(0)
    module = torchvision.models.get_model(arch, weights=None, weights_backbone=None, num_classes=len(classes) + 1, **kwargs)
    Checkpoint(architecture=f"torchvision.{arch}", classes=classes, task="", state_dict=module.state_dict(), arch_kwargs=kwargs).save(path)
    return module


@pytest.mark.parametrize(
    ("arch", "task"),
    [("fasterrcnn_mobilenet_v3_large_320_fpn", sightline.Task.DETECTION), ("ssdlite320_mobilenet_v3_large", sightline.Task.DETECTION)],
)
def test_torchvision_checkpoint_predicts_like_the_bare_module(tmp_path, samples, arch, task):
    path = tmp_path / "model.pt"
    module = _save_torchvision(path, arch, ["cat", "dog"])
    model = sightline.load(path, device="cpu")
    assert model.task is task and model.classes == ["cat", "dog"]
    (pred,) = model.predict(input=samples[0].image, conf=0.0, max_detections=20)
    assert pred.masks is None
    # the adapter's output equals what torchvision's own module returns for the same image
    module.eval()
    heads = module.roi_heads if hasattr(module, "roi_heads") else module
    heads.score_thresh, heads.detections_per_img, heads.nms_thresh = 0.0, 20, 0.5
    with torch.inference_mode():
        out = module([torch.from_numpy(samples[0].image).permute(2, 0, 1).float() / 255])[0]
    keep = (out["labels"] >= 1).numpy()
    np.testing.assert_allclose(pred.boxes, out["boxes"].numpy()[keep], atol=1e-3)
    assert pred.class_ids.tolist() == (out["labels"].numpy()[keep] - 1).tolist()
    assert set(pred.classes) <= {"cat", "dog"}


def test_img_size_changes_the_model_input_and_boxes_stay_in_image_pixels(demo_model, samples):
    (default,) = demo_model.predict(input=samples[0].image)
    (bigger,) = demo_model.predict(input=samples[0].image, img_size=640)
    (exact,) = demo_model.predict(input=samples[0].image, img_size=(300, 480))
    # the model really saw another input: the boxes move a little
    assert len(default) != len(bigger) or not np.allclose(np.sort(default.boxes, axis=0), np.sort(bigger.boxes, axis=0), atol=0.01)
    for p in (default, bigger, exact):
        assert p.image_size == (360, 480) and p.masks.shape[1:] == (360, 480)
        assert matched_fraction(p, samples[0]) >= 0.75


def test_checkpoint_with_unknown_architecture(tmp_path):
    path = tmp_path / "odd.pt"
    Checkpoint(architecture="torchvision.alexnet", classes=["a"], task="", state_dict={}).save(path)
    with pytest.raises(sightline.ModelLoadError, match="architecture 'torchvision.alexnet' is unknown"):
        sightline.load(path)


def test_checkpoint_with_wrong_weights(tmp_path):
    path = tmp_path / "wrong.pt"
    module = torchvision.models.get_model("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, weights_backbone=None, num_classes=5)
    Checkpoint(architecture="torchvision.fasterrcnn_mobilenet_v3_large_320_fpn", classes=["a"], task="", state_dict=module.state_dict()).save(path)
    with pytest.raises(sightline.ModelLoadError, match="weights do not fit"):
        sightline.load(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(sightline.ModelLoadError, match="could not be read"):
        sightline.load(path)
    plain = tmp_path / "state_dict.pt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(sightline.ModelLoadError, match="not a sightline checkpoint"):
        sightline.load(plain)


def test_unknown_name():
    with pytest.raises(sightline.ModelLoadError, match="no model named 'demo/hexagons'.*demo/shapes"):
        sightline.load("demo/hexagons")
    with pytest.raises(sightline.ModelLoadError, match="unknown torchvision model"):
        sightline.load("torchvision/resnet50")


def test_coco_weights_unreachable_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: the weights must be downloaded
    with pytest.raises(sightline.ModelLoadError, match="could not be fetched"):
        sightline.load("torchvision/ssdlite320_mobilenet_v3_large")


def _yolo_checkpoint(tmp_path, cfg):
    pytest.importorskip("ultralytics", reason="the ultralytics extra is installed by `make test`")
    from ultralytics import YOLO

    yolo = YOLO(cfg)
    path = tmp_path / cfg.replace(".yaml", ".pt")
    yolo.save(path)
    return path


@pytest.mark.parametrize(("cfg", "task"), [("yolov8n.yaml", sightline.Task.DETECTION), ("yolov8n-seg.yaml", sightline.Task.INSTANCE_SEGMENTATION)])
def test_ultralytics_checkpoint(tmp_path, samples, monkeypatch, cfg, task):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    path = _yolo_checkpoint(tmp_path, cfg)
    model = sightline.load(path, device="cpu")
    assert model.task is task and model.info.framework == "ultralytics"
    assert len(model.classes) == 80  # a YAML-built model names its classes "0".."79"
    preds = model.predict(input=[samples[0].image, samples[1].image], conf=0.0)
    assert [p.image_size for p in preds] == [(360, 480), (360, 480)]
    for p in preds:
        assert p.ok and (p.boxes[:, 2] <= 480.5).all()
        if task is sightline.Task.INSTANCE_SEGMENTATION and len(p):
            assert p.masks.shape[1:] == (360, 480)


def test_ultralytics_missing_is_a_clear_error(tmp_path, monkeypatch):
    path = _yolo_checkpoint(tmp_path, "yolov8n.yaml")
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # as if the extra were not installed
    with pytest.raises(sightline.ModelLoadError, match=r"ultralytics is not installed: pip install 'sightline\[ultralytics\]'"):
        sightline.load(path)


def test_adapter_is_reusable_directly(demo_model):
    assert isinstance(demo_model.model, TorchvisionModel)
