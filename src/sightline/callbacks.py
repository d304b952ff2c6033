"""Completion callbacks (as Scale Launch's ``callback_url``): one POST with the run's status when it ends."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sightline.inputs.urls import FetchError, post_json

log = logging.getLogger("sightline")
CALLBACK_TIMEOUT_S = 10.0


def send_callback(
    url: str, body: dict[str, Any], username: str | None = None, password: str | None = None, *, allow_private: bool = True
) -> threading.Thread:
    """POST ``body`` to ``url`` (Basic auth when ``username`` is given) on a daemon thread, which ends once the
    request answers or fails, within ``CALLBACK_TIMEOUT_S``. The URL is checked again and its address pinned
    when sent (a name may resolve elsewhere by now); a public server passes ``allow_private=False``. A
    failure is logged, never raised."""
    auth = (username, password or "") if username else None

    def send() -> None:
        try:
            post_json(url, body, auth=auth, timeout=CALLBACK_TIMEOUT_S, allow_private=allow_private)
        except FetchError as exc:
            log.warning("callback to %s failed: %s", url, exc)

    thread = threading.Thread(target=send, name="sightline-callback", daemon=True)
    thread.start()
    return thread
