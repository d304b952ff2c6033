"""Failed sign-ins to the page, counted per visitor and user name: after a few in a minute, that visitor's
sign-ins with that name answer 429 until the minute has passed, so a password or API key cannot be guessed
at speed, and one visitor's failures never lock anyone else out.

The visitor is the client address, or behind a proxy the operator trusts (``SIGHTLINE_TRUSTED_PROXIES``)
the address it forwards (``server/forwarded.py``); a forwarded address from anyone else is ignored. A
wider limit per address (any user name) keeps a guesser from trying a new name each time: with an API key
as the page's password the name is not checked, so names alone would not slow a guess.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sightline.server.forwarded import Network, visitor_address

LOGIN_PATHS = ("/login", "/login/")  # Gradio's sign-in route, with the page mounted at /
MAX_FORM_BYTES = 64 * 1024  # a sign-in form is a name and a password; past this the name is not read
MAX_NAME_CHARS = 128


class _Failures:
    """Times of recent failures per key, forgetting those older than the window."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.times: dict[object, deque[float]] = {}

    def wait_s(self, key: object, now: float) -> float:
        times = self.times.get(key)
        if not times:
            return 0.0
        while times and now - times[0] > self.window_s:
            times.popleft()
        if not times:
            del self.times[key]
            return 0.0
        return self.window_s - (now - times[0]) if len(times) >= self.limit else 0.0

    def add(self, key: object, now: float) -> None:
        self.times.setdefault(key, deque()).append(now)
        if len(self.times) > 10_000:  # many visitors at once: drop what has expired
            for k in [k for k, t in self.times.items() if now - t[-1] > self.window_s]:
                del self.times[k]


class LoginThrottle:
    """Pure ASGI middleware around Gradio's ``POST /login``; every other request passes untouched."""

    def __init__(self, app: ASGIApp, max_failures: int = 5, window_s: float = 60.0, max_address_failures: int = 30,
                 trusted_proxies: list[Network] | None = None) -> None:
        self.app = app
        self.trusted = trusted_proxies or []
        self._by_name = _Failures(max_failures, window_s)  # (visitor, user name)
        self._by_address = _Failures(max_address_failures, window_s)  # visitor, any name
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in LOGIN_PATHS:
            await self.app(scope, receive, send)
            return
        address = visitor_address(scope, self.trusted)
        body, replay = await _read_form(receive)
        key = (address, _user_name(scope, body))
        now = time.monotonic()
        with self._lock:
            wait = max(self._by_name.wait_s(key, now), self._by_address.wait_s(address, now))
        if wait > 0:
            message = f"too many failed sign-ins from this address with this user name; try again in {wait:.0f} s"
            await JSONResponse({"detail": message}, status_code=429, headers={"Retry-After": f"{wait:.0f}"})(scope, replay, send)
            return

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    if message["status"] == 400:  # Gradio's answer to wrong credentials
                        self._by_name.add(key, time.monotonic())
                        self._by_address.add(address, time.monotonic())
                    elif message["status"] == 200:
                        self._by_name.times.pop(key, None)
            await send(message)

        await self.app(scope, replay, watched)


async def _read_form(receive: Receive) -> tuple[bytes, Receive]:
    """The request's body (up to ``MAX_FORM_BYTES``; b"" past it) and a ``receive`` that gives the app all of it."""
    messages: list[Message] = []
    size, more = 0, True
    while more and size <= MAX_FORM_BYTES:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request") if size <= MAX_FORM_BYTES else b""

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return body, replay


def _user_name(scope: Scope, body: bytes) -> str:
    """The ``username`` of a URL-encoded sign-in form, folded to lower case; "" when there is none."""
    kind = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-type"), b"").decode("latin-1").lower()
    if "application/x-www-form-urlencoded" not in kind:
        return ""
    try:
        names = parse_qs(body.decode("utf-8"), max_num_fields=16).get("username", [""])
    except (UnicodeDecodeError, ValueError):
        return ""
    return names[0].strip().lower()[:MAX_NAME_CHARS]
