"""What keeps one client's heavy work from making every other client wait: the server's cap on
``img_size`` (the cost of one forward pass grows with its square). The other half is in the model's
worker (``engine/worker.py``): callers take turns, one batch each, in lanes named by ``server/callers.py``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sightline.errors import InvalidSettingError
from sightline.settings import PredictSettings, parse_settings


def check_img_size(settings: PredictSettings, limit: int) -> PredictSettings:
    """Refuse (422, field ``img_size``) an ``img_size`` above the server's ``max_img_size``."""
    size = settings.img_size
    largest = max(size) if isinstance(size, tuple) else size
    if largest is not None and largest > limit:
        raise InvalidSettingError(
            f"img_size {size!r} is over this server's limit of {limit} pixels (max_img_size): larger passes make every "
            "client wait; ask for a smaller img_size", detail={"field": "img_size"},
        )
    return settings


def server_settings(values: Mapping[str, Any], known_classes: Sequence[str] | None, max_img_size: int) -> PredictSettings:
    """A client's settings as the server takes them: ``parse_settings`` and the server's caps."""
    return check_img_size(parse_settings(values, known_classes), max_img_size)
