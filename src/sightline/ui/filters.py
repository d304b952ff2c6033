"""Which results the gallery shows: by class, by score range, only items with no objects, only failed items.

A filter picks items, not objects: an item shows when one of the objects the review keeps (at or above
the review confidence, not rejected) is of a chosen class with a score in the range. Uploads and exports
are not filtered: they take every reviewed item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOW = {
    "all": "all items",
    "empty": "only items with no objects",
    "failed": "only failed items",
}


@dataclass(frozen=True)
class ReviewFilter:
    classes: frozenset[str] = field(default_factory=frozenset)  # empty: any class
    low: float = 0.0
    high: float = 1.0
    show: str = "all"  # a key of SHOW

    @property
    def active(self) -> bool:
        return bool(self.classes) or self.low > 0.0 or self.high < 1.0 or self.show != "all"

    def describe(self) -> str:
        if self.show != "all":
            return SHOW[self.show]
        parts = []
        if self.classes:
            parts.append("class " + " or ".join(sorted(self.classes)))
        if self.low > 0.0 or self.high < 1.0:
            parts.append(f"score {self.low:.2f}–{self.high:.2f}")
        return "items with an object of " + ", ".join(parts) if parts else "all items"


def make_filter(classes: list[str] | None, low: Any, high: Any, show: str | None) -> ReviewFilter:
    """The filter from the panel's values; a range given upside down is read the right way round."""
    lo = _unit(low, 0.0)
    hi = _unit(high, 1.0)
    lo, hi = min(lo, hi), max(lo, hi)
    return ReviewFilter(frozenset(classes or ()), lo, hi, show if show in SHOW else "all")


def _unit(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(number, 0.0), 1.0) if number == number else default  # NaN: the default


def matches(run: Any, position: int, f: ReviewFilter, conf: float) -> bool:
    pred = run.predictions[position]
    if f.show == "failed":
        return pred.error is not None
    if pred.error is not None:
        return not f.active  # failed items have no objects to match
    keep = run.kept(position, conf)
    if f.show == "empty":
        return not keep.any()
    if not (f.classes or f.low > 0.0 or f.high < 1.0):
        return True
    scores, classes = pred.scores, pred.classes
    return any(keep[i] and f.low <= float(scores[i]) <= f.high and (not f.classes or classes[i] in f.classes) for i in range(len(pred)))


def positions(run: Any, conf: float) -> list[int]:
    """The positions of the run's results the gallery shows under the run's filter, in order."""
    f = run.filter
    n = len(run.predictions)
    if f is None or not f.active:
        return list(range(n))
    return [k for k in range(n) if matches(run, k, f, conf)]
