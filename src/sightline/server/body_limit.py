"""Request size limits, counted on the bytes as they arrive: a chunked body or a wrong Content-Length
cannot get more than the limit into the server.

One table says which limit each route has; the middleware refuses a declared size over it at once, and
stops reading an undeclared one as soon as it passes it, answering 413 and closing the connection (the
rest of the body is never read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sightline.server.config import ServerConfig
from sightline.server.errors import error_body

FORM_OVERHEAD = 64 * 1024  # multipart framing and the small form fields around an uploaded checkpoint
DRAIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class RouteLimit:
    """A body limit: the setting that holds it, what the body is called in the message, and the framing
    allowed on top (a checkpoint's limit is for the file, sent inside a multipart form)."""

    setting: str
    what: str = "the request"
    framing: int = 0


DEFAULT = RouteLimit("max_request_bytes")
# routes with their own limit; first match wins, every other route has DEFAULT
ROUTE_LIMITS: list[tuple[re.Pattern[str], RouteLimit]] = [
    (re.compile(r"^/v1/models/upload/?$"), RouteLimit("max_checkpoint_bytes", "the checkpoint upload", FORM_OVERHEAD)),
    (re.compile(r"^/v1/live/[^/]+/frames/?$"), RouteLimit("max_file_bytes", "the frame")),
]


def limit_for(path: str) -> RouteLimit:
    return next((limit for pattern, limit in ROUTE_LIMITS if pattern.match(path)), DEFAULT)


class _TooLarge(Exception):
    """Raised from ``receive`` once the body passes its limit; the middleware turns it into the 413."""


def _message(route: RouteLimit, size: int | None, config: ServerConfig) -> str:
    told = f"is {size:,} bytes, over" if size is not None else "is over"
    return f"{route.what} {told} the limit of {getattr(config, route.setting):,} bytes ({route.setting})"


class BodyLimit:
    """Pure ASGI middleware: counts body bytes as ``receive()`` yields them; 413 once past the route's limit."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = limit_for(scope["path"])
        limit = getattr(self.config, route.setting) + route.framing
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, _message(route, int(declared), self.config))
            return
        # a small declared body left unread is drained by the server; a large or chunked one is not worth it
        big_body = (declared.isdigit() and int(declared) > DRAIN_BYTES) or b"transfer-encoding" in dict(scope["headers"])
        seen = 0
        over = finished = started = False

        async def counted() -> Message:
            nonlocal seen, over, finished
            message = await receive()
            if message["type"] == "http.request":
                finished = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # whatever the route made of the interrupted body, the answer is the 413 below
            if message["type"] == "http.response.start":
                started = True
                if big_body and not finished:  # answered before the body was read: close rather than read the rest
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await _refuse(send, _message(route, None, self.config))


async def _refuse(send: Send, message: str) -> None:
    body = JSONResponse(error_body("PayloadTooLargeError", message, 413)).body
    await send({
        "type": "http.response.start",
        "status": 413,
        # the unread rest of the body is still on its way: this connection cannot carry another request
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
