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


def test_a_relabelled_box_whose_colour_the_editor_changed_is_still_its_object():
    """The editor's class dialog may give a relabelled box a colour of its own palette (it fills one when it
    mounts with the classes already set): the box, unmoved, still says which object it is. It came back as
    one object deleted and another drawn by hand, losing the object's score, track and mask."""
    pred = nested()
    run = SimpleNamespace(id="r", predictions=[pred], versions={})
    value, editing = edits.editor_value(run, 0, np.zeros((400, 400, 3), np.uint8), [0, 1], COLORS)
    small, big = value["boxes"]
    relabelled = {**big, "label": "circle", "color": (255, 168, 77)}  # the editor's first palette colour
    fixes = edits.read_fixes(pred, editing, [small, relabelled], ["square", "circle"])
    assert fixes.changed == {0: ("circle", None)} and not fixes.deleted and not fixes.drawn


def test_a_relabelled_box_that_took_another_objects_colour_does_not_take_its_place():
    pred = nested()
    run = SimpleNamespace(id="r", predictions=[pred], versions={})
    value, editing = edits.editor_value(run, 0, np.zeros((400, 400, 3), np.uint8), [0, 1], COLORS)
    small, big = value["boxes"]
    relabelled = {**big, "label": "circle", "color": small["color"]}  # listed first, in the small box's colour
    fixes = edits.read_fixes(pred, editing, [relabelled, small], ["square", "circle"])
    assert fixes.changed == {0: ("circle", None)} and not fixes.deleted and not fixes.drawn


def test_a_moved_box_is_known_by_its_colour_and_a_new_box_on_an_old_place_is_not_a_second_one():
    pred = nested()
    run = SimpleNamespace(id="r", predictions=[pred], versions={})
    value, editing = edits.editor_value(run, 0, np.zeros((400, 400, 3), np.uint8), [0, 1], COLORS)
    small, big = value["boxes"]
    moved = {**small, "xmin": 10, "xmax": 60}
    drawn = {**small, "color": (1, 2, 3)}  # drawn by hand exactly where the small box was
    fixes = edits.read_fixes(pred, editing, [moved, big, drawn], ["square"])
    assert fixes.changed == {1: ("square", (10.0, 150.0, 60.0, 200.0))} and not fixes.deleted
    assert fixes.drawn == [("square", (150.0, 150.0, 200.0, 200.0))]
