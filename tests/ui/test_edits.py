"""What the box editor is sent (``ui.edits``), without a server: a box inside another must be the one a
click inside it picks."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import supervision as sv

from sightline.prediction import Prediction
from sightline.ui import edits

COLORS = {"square": "#ff0000"}


def nested() -> Prediction:
    """A big square and, inside it, a small one listed after it (as a model lists a duplicate)."""
    detections = sv.Detections(
        xyxy=np.array([[100, 100, 300, 300], [150, 150, 200, 200]], np.float32),
        confidence=np.array([0.99, 0.9], np.float32),
        class_id=np.array([0, 0]),
        data={"class_name": np.array(["square", "square"], dtype=object)},
    )
    return Prediction(detections=detections, image_size=(400, 400))


def test_a_box_inside_another_is_sent_first_so_a_click_inside_it_picks_it():
    """The editor hit-tests the boxes in the order it was sent them (the first under the pointer wins) and
    draws the first on top: a small box listed after a big one around it could not be clicked (a double
    click inside it opened the big box's dialog, and its Remove deleted the big box)."""
    pred = nested()
    run = SimpleNamespace(id="r", predictions=[pred], versions={})
    value, editing = edits.editor_value(run, 0, np.zeros((400, 400, 3), np.uint8), [0, 1], COLORS)
    sent = [(b["xmin"], b["ymin"], b["xmax"], b["ymax"]) for b in value["boxes"]]
    assert sent == [(150, 150, 200, 200), (100, 100, 300, 300)], "smallest box first"
    small, big = value["boxes"]
    assert editing.colors[tuple(small["color"])] == 1 and editing.colors[tuple(big["color"])] == 0

    fixes = edits.read_fixes(pred, editing, [big], ["square"])  # the small one removed in the editor
    assert fixes.deleted == {1} and not fixes.changed and not fixes.drawn
