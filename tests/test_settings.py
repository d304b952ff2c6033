"""Settings validation: every mistake raises a clear, typed error naming the argument."""

from __future__ import annotations

import pytest

import sightline


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"confidence": 0.3}, "'confidence'"),
        ({"conff": 0.3}, "did you mean 'conf'"),
        ({"iou_threshold": 0.5}, "'iou_threshold'"),
    ],
)
def test_unknown_keyword_is_a_type_error_naming_it(demo_model, sample_dir, kwargs, needle):
    with pytest.raises(TypeError, match=needle) as info:
        demo_model.predict(input=str(sample_dir), **kwargs)
    assert isinstance(info.value, sightline.UnknownArgumentError)
    assert "predict()" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"conf": 1.5}, "conf must be between 0 and 1"),
        ({"conf": "high"}, "conf must be a number"),
        ({"iou": -0.1}, "iou must be between 0 and 1"),
        ({"max_detections": 0}, "max_detections must be at least 1"),
        ({"max_detections": 2.5}, "max_detections must be a whole number"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"img_size": 10}, "img_size must be between 32 and 4096"),
        ({"img_size": (320, "x")}, "img_size"),
        ({"classes": ["hexagon"]}, "'hexagon'"),
        ({"classes": [1, 2]}, "classes must be a list of class names"),
        ({"recursive": "yes"}, "recursive must be True or False"),
        ({"stride": 0}, "stride must be at least 1"),
        ({"end_frame": 10, "num_frames": 5}, "at most one of end_frame, num_frames and duration"),
        ({"duration": -1}, "duration must be a positive number"),
    ],
)
def test_bad_values_are_value_errors_naming_the_setting(demo_model, sample_dir, kwargs, needle):
    with pytest.raises(ValueError, match=needle) as info:
        demo_model.predict_detached(input=str(sample_dir), **kwargs)
    assert isinstance(info.value, sightline.InvalidSettingError)


def test_bool_is_not_accepted_as_a_number(demo_model, sample_dir):
    with pytest.raises(ValueError, match="conf"):
        demo_model.predict(input=str(sample_dir), conf=True)


def test_no_input_is_a_clear_error(demo_model):
    with pytest.raises(sightline.InputError, match="nothing to predict"):
        demo_model.predict()


def test_missing_single_path_is_a_clear_error(demo_model, tmp_path):
    with pytest.raises(sightline.InputError, match="does not exist"):
        demo_model.predict(input=str(tmp_path / "nope.jpg"))


def test_unsupported_input_type_is_a_clear_error(demo_model):
    with pytest.raises(sightline.InputError, match="type dict is not supported"):
        demo_model.predict(input={"a": 1})


def test_bad_device_is_rejected():
    with pytest.raises(ValueError, match="device"):
        sightline.load("demo/shapes", device="tpu")
    with pytest.raises(ValueError, match="no usable CUDA"):
        sightline.load("demo/shapes", device="cuda")


def test_classes_filter_keeps_only_named_classes(demo_model, sample_dir):
    everything = demo_model.predict(input=str(sample_dir))
    only = demo_model.predict(input=str(sample_dir), classes=["circle"])
    assert any("circle" in p.classes for p in everything)
    assert any(set(p.classes) - {"circle"} for p in everything)
    assert all(set(p.classes) <= {"circle"} for p in only)
    assert sum(len(p) for p in only) == sum(p.classes.count("circle") for p in everything)


def test_conf_and_max_detections_apply(demo_model, sample_dir):
    loose = demo_model.predict(input=str(sample_dir), conf=0.05)
    strict = demo_model.predict(input=str(sample_dir), conf=0.9)
    capped = demo_model.predict(input=str(sample_dir), conf=0.05, max_detections=2)
    assert sum(map(len, loose)) > sum(map(len, strict))
    assert all((p.scores >= 0.9).all() for p in strict)
    assert all(len(p) <= 2 for p in capped)
    for full, cap in zip(loose, capped):  # the cap keeps the highest scores
        if len(full) > 2:
            assert sorted(cap.scores.tolist(), reverse=True) == pytest.approx(sorted(full.scores.tolist(), reverse=True)[:2], abs=1e-5)


def test_agnostic_nms_removes_cross_class_duplicates(demo_model, sample_video):
    # on frame 30 the model also scores the square as a triangle; the demo model's default removes it
    (plain,) = demo_model.predict(input=sample_video, start_frame=30, num_frames=1, agnostic_nms=False)
    (merged,) = demo_model.predict(input=sample_video, start_frame=30, num_frames=1)
    assert demo_model.info.default_settings["agnostic_nms"] is True
    assert sorted(merged.classes) == ["circle", "square", "triangle"]
    assert len(plain) == len(merged) + 1 and sorted(plain.classes) == ["circle", "square", "triangle", "triangle"]
    with pytest.raises(ValueError, match="agnostic_nms must be True or False"):
        demo_model.predict(input=sample_video, agnostic_nms="yes")


def test_device_on_a_call_is_checked_and_applied(samples):
    model = sightline.load("demo/shapes", device="cpu")
    (pred,) = model.predict(input=samples[0].image, device="cpu")
    assert pred.ok and model.info.device == "cpu"
    (auto,) = model.predict(input=samples[0].image, device="auto")  # auto is the CPU here
    assert auto.ok and model.info.device == "cpu"
    with pytest.raises(ValueError, match="no usable CUDA"):
        model.predict(input=samples[0].image, device="cuda")
    with pytest.raises(ValueError, match="device must be"):
        model.predict(input=samples[0].image, device="tpu")
    with pytest.raises(ValueError, match="device must be a string"):
        model.predict(input=samples[0].image, device=0)
