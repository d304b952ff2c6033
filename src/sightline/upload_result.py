"""What an upload of predictions into a workspace did: per image, in total, and as ``upload()`` returns it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

MAX_ERRORS = 20  # reasons kept in a total (every failure is counted)


@dataclass
class ImageUpload:
    """What one upload did to one image or frame."""

    added: int = 0
    replaced: int = 0
    skipped_duplicates: int = 0
    failed: int = 0
    error: str | None = None
    # asked for with ``details``: per object sent, in order, what the upload does with it:
    # {"action": "added" | "duplicate", "iou": best IoU with an existing object of its class or None,
    #  "existing_id": that object's id or None}
    objects: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["objects"] is None:
            del out["objects"]  # only asked for by previews that show each object
        return out


@dataclass
class UploadTotals:
    """Counts over an upload's images: objects added, replaced, skipped as duplicates, failed."""

    images: int = 0
    added: int = 0
    replaced: int = 0
    skipped_duplicates: int = 0
    failed_objects: int = 0
    failed_images: int = 0
    errors: list[str] = field(default_factory=list)  # the first reasons images failed

    def add(self, one: ImageUpload) -> None:
        self.images += 1
        self.added += one.added
        self.replaced += one.replaced
        self.skipped_duplicates += one.skipped_duplicates
        self.failed_objects += one.failed
        if one.error:
            self.failed_images += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(one.error)

    def merge(self, other: UploadTotals) -> None:
        """Add the totals of another part of the same upload."""
        for f in fields(self):
            if f.name != "errors":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.errors = (self.errors + other.errors)[:MAX_ERRORS]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UploadTotals:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class UploadResult:
    """What ``model.upload(...)`` did (or, with ``dry_run``, would do).

    ``project_id``: the project written to (a ``create``'s new one; None for a ``create`` preview); ``items``: per
    prediction, in order, what uploading it did (the same dict as its ``Prediction.upload``)."""

    totals: UploadTotals
    project_id: int | None = None
    items: list[dict[str, Any] | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """As the server answers ``POST /v1/uploads``."""
        return {"totals": self.totals.to_dict(), "project_id": self.project_id, "items": list(self.items)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UploadResult:
        return cls(UploadTotals.from_dict(d.get("totals") or {}), d.get("project_id"), list(d.get("items") or []))
