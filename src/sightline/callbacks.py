"""Completion callbacks (as Scale Launch's ``callback_url``): one POST with the run's status when it ends."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

log = logging.getLogger("sightline")
CALLBACK_TIMEOUT_S = 10.0


def send_callback(url: str, body: dict[str, Any], username: str | None = None, password: str | None = None) -> threading.Thread:
    """POST ``body`` to ``url`` (Basic auth when ``username`` is given) on a daemon thread, which ends once the
    request answers or fails, within ``CALLBACK_TIMEOUT_S``. A failure is logged, never raised."""
    auth = (username, password or "") if username else None

    def send() -> None:
        try:
            httpx.post(url, json=body, auth=auth, timeout=CALLBACK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning("callback to %s failed: %s", url, exc)

    thread = threading.Thread(target=send, name="sightline-callback", daemon=True)
    thread.start()
    return thread
