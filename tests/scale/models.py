"""Models the Ray Serve tests deploy: built on the model replicas by name (importable there: the tests put the
checkout on the replicas' PYTHONPATH)."""

from __future__ import annotations

import time

from sightline.models.base import Model
from sightline.models.zoo import load_model

BATCH_DELAY_S = 0.25  # each forward pass takes at least this long (the plain stop test uses 0.3): a session lasts long enough to stop or kill


class SlowDemo(Model):
    """The demo model, each batch at least ``delay`` seconds (a slower accelerator): the same results."""

    def __init__(self, delay: float = BATCH_DELAY_S) -> None:
        inner = load_model("demo/shapes", "cpu")
        self.inner, self.delay = inner, delay
        self.name, self.classes, self.task = inner.name, inner.classes, inner.task
        self.default_settings, self.input_size, self.device, self.framework = inner.default_settings, inner.input_size, inner.device, inner.framework

    def predict_batch(self, images, settings):
        time.sleep(self.delay)  # releases the GIL, like a GPU kernel
        return self.inner.predict_batch(images, settings)


def slow_demo(name: str, device: str) -> Model:
    """``ModelReplica``'s loader: every deployed name is the slowed demo model."""
    return SlowDemo()


PASS_S = 0.4  # fixed_time's forward pass


class FixedTime(Model):
    """Every forward pass takes ``PASS_S`` whatever its size, the GIL released, and finds nothing."""

    classes, default_settings, input_size, device, framework = ["x"], {}, None, "cpu", "fake"

    def __init__(self) -> None:
        from sightline.models.base import Task

        self.name, self.task = "fixed", Task.DETECTION

    def predict_batch(self, images, settings):
        import supervision as sv

        time.sleep(PASS_S)
        return [sv.Detections.empty() for _ in images]


def fixed_time(name: str, device: str) -> Model:
    """``ModelReplica``'s loader for ``FixedTime``."""
    return FixedTime()
