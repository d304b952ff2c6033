"""Failed sign-ins to the page, counted per client address: after a few in a minute, the sign-in route
answers 429 until the minute has passed, so a password or API key cannot be guessed at speed."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGIN_PATHS = ("/login", "/login/")  # Gradio's sign-in route, with the page mounted at /


class LoginThrottle:
    """Pure ASGI middleware around Gradio's ``POST /login``; every other request passes untouched.

    Addresses are the ones the server sees: behind a proxy, start uvicorn with ``--forwarded-allow-ips``
    so each visitor is counted apart rather than all as the proxy."""

    def __init__(self, app: ASGIApp, max_failures: int = 5, window_s: float = 60.0) -> None:
        self.app = app
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _wait_s(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try again (0: now); forgets failures older than the window."""
        with self._lock:
            times = self._failures.get(address)
            if not times:
                return 0.0
            while times and now - times[0] > self.window_s:
                times.popleft()
            if not times:
                del self._failures[address]
                return 0.0
            return self.window_s - (now - times[0]) if len(times) >= self.max_failures else 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in LOGIN_PATHS:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        wait = self._wait_s(address, time.monotonic())
        if wait > 0:
            message = f"too many failed sign-ins from this address; try again in {wait:.0f} s"
            await JSONResponse({"detail": message}, status_code=429, headers={"Retry-After": f"{wait:.0f}"})(scope, receive, send)
            return

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    if message["status"] == 400:  # Gradio's answer to wrong credentials
                        self._failures[address].append(time.monotonic())
                    elif message["status"] == 200:
                        self._failures.pop(address, None)
            await send(message)

        await self.app(scope, receive, watched)
