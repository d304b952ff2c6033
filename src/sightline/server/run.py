"""Run the server app under uvicorn with a shutdown that ends sessions promptly (SIGTERM, Ctrl+C)."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

GRACEFUL_SHUTDOWN_S = 5  # open responses still running after this are cancelled by uvicorn


class _Server(uvicorn.Server):
    """On the exit signal, interrupt running sessions at once (before uvicorn waits for open
    connections), so their event streams and long polls end after the batch in flight."""

    def __init__(self, config: uvicorn.Config, on_exit: Any) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._on_exit is not None and not self.should_exit:
            # not in the signal handler itself: it may have interrupted a thread holding a session's lock.
            # The thread only sets flags and ends at once.
            threading.Thread(target=self._on_exit, name="sightline-begin-shutdown", daemon=True).start()
        super().handle_exit(sig, frame)


def serve(app: Any, host: str, port: int, log_level: str = "info") -> None:
    """``uvicorn.run`` for ``app`` (the API, or the page mounted on it)."""
    state = getattr(app.state, "sightline", None)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; sightline believes it only from
    # SIGHTLINE_TRUSTED_PROXIES (server/forwarded.py)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                            proxy_headers=False)
    _Server(config, state.sessions.begin_shutdown if state is not None else None).run()
