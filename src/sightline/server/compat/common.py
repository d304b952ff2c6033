"""What both compatibility layers share: the API key in the places vendor clients put it, and errors in
each vendor's own shape."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from sightline.errors import AuthenticationError
from sightline.server.state import get_state

ErrorRenderer = Callable[[str, str, int], dict[str, Any]]


def presented_keys(request: Request, extra: Iterable[Any] = ()) -> list[str]:
    """Every credential the request carries: Bearer token, the password of Basic auth (what ``requests``
    sends for ``http://user:KEY@host/...``), ``x-api-key``, the ``api_key`` query parameter, and ``extra``
    (body fields such as Roboflow's ``api_key`` or Supervisely's ``api_token``)."""
    keys: list[Any] = []  # checked to be non-empty strings below: extra comes from a JSON body
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        keys.append(token.strip())
    elif scheme.lower() == "basic":
        try:
            keys.append(base64.b64decode(token.strip(), validate=True).decode().partition(":")[2])
        except (binascii.Error, UnicodeDecodeError):
            pass
    keys += [request.headers.get("x-api-key"), request.query_params.get("api_key"), *extra]
    return [k for k in keys if isinstance(k, str) and k]


def check_key(request: Request, extra: Iterable[Any], how: str) -> None:
    """Refuse the request unless the server is open or one presented key matches (constant-time compare)."""
    expected = get_state(request).config.api_key
    if not expected:
        return
    if not any(hmac.compare_digest(k.encode(), expected.encode()) for k in presented_keys(request, extra)):
        raise AuthenticationError(f"missing or wrong API key: {how}", 401)


async def _standard_answer(request: Request, exc: Exception) -> JSONResponse:
    """What the server's own error handlers (``server/errors.py``) answer to ``exc``: one table of statuses."""
    handlers = request.app.exception_handlers
    handler = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)  # ``Exception`` is always there
    return await handler(request, exc)


def error_route(render: ErrorRenderer) -> type[APIRoute]:
    """A route class whose errors leave as ``render(type, message, status)``, so a vendor's client shows them."""

    class VendorErrorRoute(APIRoute):
        def get_route_handler(self) -> Callable:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Any:
                try:
                    return await handler(request)
                except Exception as exc:  # the server's own answer to it (status, words, headers), in the vendor's shape
                    standard = await _standard_answer(request, exc)
                    if not standard.body:  # no answer to shape (the client went away mid-body)
                        return standard
                    error = json.loads(bytes(standard.body))["error"]
                    headers = {k: v for k, v in standard.headers.items() if k.lower() in ("connection", "www-authenticate", "retry-after")}
                    return JSONResponse(render(error["type"], error["message"], standard.status_code), standard.status_code, headers)

            return handle

    return VendorErrorRoute
