"""Every error leaves the server as JSON with a clear message and the right status code."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sightline.errors import (
    AuthenticationError,
    ConflictError,
    DeployError,
    InputError,
    InsufficientStorageError,
    InvalidSettingError,
    ModelLoadError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    SightlineError,
    UnknownArgumentError,
)

from sightline.workspace.blobs import no_room_error

log = logging.getLogger("sightline.server")

STATUS_OF: list[tuple[type[BaseException], int]] = [
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (InsufficientStorageError, 507),
    (RateLimitedError, 429),
    (ServiceUnavailableError, 503),
    (UnknownArgumentError, 422),
    (InvalidSettingError, 422),
    (InputError, 400),
    (ModelLoadError, 400),
    (DeployError, 500),
]


def error_body(kind: str, message: str, status: int, **extra: object) -> dict:
    return {"error": {"type": kind, "message": message, "status": status, **extra}}


def status_for(exc: BaseException) -> int:
    if isinstance(exc, ServerError) and exc.status:
        return exc.status
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(SightlineError)
    async def _sightline(request: Request, exc: SightlineError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(type(exc).__name__, str(exc), status), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(error_body("ValidationError", f"invalid request: {problems}", 422), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
        return JSONResponse(error_body("HTTPError", message, exc.status_code), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, OSError) and (full := no_room_error(exc, "this request's data")) is not None:
            log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse(error_body(type(full).__name__, str(full), 507), status_code=507)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(type(exc).__name__, f"internal error: {exc}", 500), status_code=500)
