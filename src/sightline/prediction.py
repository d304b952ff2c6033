"""``Prediction``: one input item's detections (an ``sv.Detections``) with where the item came from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sightline.detections import subset
from sightline.geometry import dense_masks, masks_to_rle, rle_to_masks

if TYPE_CHECKING:  # supervision (with SciPy) loads with the first prediction, so importing the client stays fast
    import supervision as sv

_SOURCE_FIELDS = (
    "source",
    "image_path",
    "image_url",
    "video_path",
    "project_id",
    "dataset_id",
    "image_id",
    "video_id",
    "frame_idx",
    "timestamp_us",
    "error",
)


@dataclass(eq=False)
class Prediction:
    """The result for one image or video frame. Boxes are xyxy in pixels of the original image."""

    detections: sv.Detections
    image_size: tuple[int, int] | None = None  # (height, width); None when the item failed to load
    source: str | None = None
    image_path: str | None = None
    image_url: str | None = None
    video_path: str | None = None
    project_id: int | None = None
    dataset_id: int | None = None
    image_id: int | None = None
    video_id: int | None = None
    frame_idx: int | None = None
    timestamp_us: int | None = None
    error: str | None = None
    index: int | None = None  # position of the item in its input
    upload: dict[str, Any] | None = None  # what uploading this prediction to a workspace did
    _image: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def failed(cls, error: str, **source: Any) -> Prediction:
        import supervision as sv

        return cls(detections=sv.Detections.empty(), error=error, **source)

    # --- array views -----------------------------------------------------------------------------
    @property
    def boxes(self) -> np.ndarray:
        return self.detections.xyxy

    @property
    def masks(self) -> np.ndarray | None:
        """N×H×W bool (decoded on each access: results keep masks compact, as crop-RLE)."""
        return dense_masks(self.detections.mask)

    @property
    def scores(self) -> np.ndarray:
        conf = self.detections.confidence
        return conf if conf is not None else np.ones(len(self.detections), dtype=np.float32)

    @property
    def class_ids(self) -> np.ndarray:
        return self.detections.class_id if self.detections.class_id is not None else np.zeros(0, dtype=np.int64)

    @property
    def classes(self) -> list[str]:
        names = self.detections.data.get("class_name")
        return [str(n) for n in names] if names is not None else []

    @property
    def track_ids(self) -> np.ndarray | None:
        return self.detections.tracker_id

    @property
    def ok(self) -> bool:
        return self.error is None

    def __len__(self) -> int:
        return len(self.detections)

    # --- image -----------------------------------------------------------------------------------
    @property
    def image(self) -> np.ndarray:
        """The RGB image the prediction was made on (loaded on first use, then kept)."""
        if self._image is None:
            self._image = self.load_image()
        return self._image

    def load_image(self) -> np.ndarray:
        """Load the source image as H×W×3 uint8 RGB, EXIF orientation applied."""
        from sightline.inputs.loading import load_source_image

        if self._image is not None:
            return self._image
        return load_source_image(self)

    def draw(
        self, image: np.ndarray | None = None, *, boxes: bool = True, masks: bool = True, labels: bool = True, conf: float | None = None
    ) -> np.ndarray:
        """The image with this prediction drawn on it (RGB); ``conf`` hides objects scoring below it."""
        detections = self.detections
        if conf is not None and len(detections) and detections.confidence is not None:
            detections = subset(detections, detections.confidence >= conf)
        from sightline.drawing import draw_detections

        return draw_detections(self.image if image is None else image, detections, boxes=boxes, masks=masks, labels=labels)

    # --- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; masks are COCO RLE with string counts."""
        d = self.detections
        out: dict[str, Any] = {k: getattr(self, k) for k in _SOURCE_FIELDS}
        out.update(
            index=self.index,
            upload=self.upload,
            image_size=list(self.image_size) if self.image_size else None,
            boxes=wire_boxes(d.xyxy),
            scores=wire_scores(self.scores),
            class_ids=[int(c) for c in self.class_ids],
            classes=self.classes,
            track_ids=None if d.tracker_id is None else [int(t) for t in d.tracker_id],
            masks=masks_to_rle(d.mask),
        )
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prediction:
        size = tuple(data["image_size"]) if data.get("image_size") else None
        n = len(data.get("boxes") or [])
        masks = rle_to_masks(data.get("masks"), size) if size else None
        import supervision as sv

        detections = sv.Detections(
            xyxy=np.asarray(data.get("boxes") or np.zeros((0, 4)), dtype=np.float32).reshape(n, 4),
            mask=masks,
            confidence=np.asarray(data.get("scores") or [], dtype=np.float32),
            class_id=np.asarray(data.get("class_ids") or [], dtype=np.int64),
            tracker_id=None if data.get("track_ids") is None else np.asarray(data["track_ids"], dtype=np.int64),
            data={"class_name": np.asarray(data.get("classes") or [], dtype=object)} if n else {},
        )
        return cls(
            detections=detections, image_size=size, index=data.get("index"), upload=data.get("upload"), **{k: data.get(k) for k in _SOURCE_FIELDS}
        )

    @classmethod
    def from_json(cls, text: str) -> Prediction:
        return cls.from_dict(json.loads(text))


def wire_boxes(xyxy: np.ndarray) -> list[list[float]]:
    """Boxes as the JSON of a result holds them: pixels rounded to 2 decimals."""
    boxes: list[list[float]] = np.round(np.asarray(xyxy).astype(np.float64), 2).tolist()
    return boxes


def wire_scores(scores: np.ndarray) -> list[float]:
    """Scores as the JSON of a result holds them: rounded to 5 decimals."""
    return [round(float(s), 5) for s in scores]


def as_sent(detections: sv.Detections) -> sv.Detections:
    """Boxes, scores and classes exactly as a result read back from its JSON has them (``from_dict``), without
    masks or track ids: what the tracker is given, so a tracker fed stored results instead (a resumed video)
    ends in the same state as the one fed the model's own output."""
    import supervision as sv

    n = len(detections)
    conf = detections.confidence if detections.confidence is not None else np.ones(n, dtype=np.float32)
    class_id = detections.class_id if detections.class_id is not None else np.zeros(n, dtype=np.int64)
    return sv.Detections(
        xyxy=np.asarray(wire_boxes(detections.xyxy) if n else np.zeros((0, 4)), dtype=np.float32).reshape(n, 4),
        confidence=np.asarray(wire_scores(conf), dtype=np.float32),
        class_id=np.asarray(class_id, dtype=np.int64),
    )


def png_bytes(image: np.ndarray | None) -> bytes:
    """Pixels as a lossless PNG file's bytes."""
    import io

    from PIL import Image

    if image is None:
        from sightline.errors import InputError

        raise InputError("no pixels to store")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def prediction_bytes(pred: Prediction) -> bytes:
    """The encoded image behind a prediction: the file's own bytes, else its pixels as PNG."""
    if pred.image_path:
        with open(pred.image_path, "rb") as fh:
            return fh.read()
    return png_bytes(pred.image)
