"""Every error leaves the server as JSON with a clear message and the right status code."""

from __future__ import annotations

import logging
import traceback
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as db
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from sightline.errors import SightlineError, status_of
from sightline.workspace.blobs import no_room_error

log = logging.getLogger("sightline.server")

def error_body(kind: str, message: str, status: int, **extra: object) -> dict:
    return {"error": {"type": kind, "message": message, "status": status, **extra}}


def status_for(exc: BaseException) -> int:
    """The status of an error answer: each sightline error class carries its own (``sightline.errors``)."""
    return status_of(exc)


# database errors in words: their own text carries SQL, parameters and server details, which stay in the log
DATABASE_ERRORS: list[tuple[type[db.SQLAlchemyError], int, str]] = [
    (db.IntegrityError, 409, "the change conflicts with data already in the workspace"),
    (db.DataError, 422, "a value does not fit the workspace database (too long, too large or malformed)"),
    (db.OperationalError, 503, "the database is unavailable; try again later"),
    (db.InterfaceError, 503, "the database is unavailable; try again later"),
    (db.TimeoutError, 503, "the database is busy; try again later"),
]


def without_internals(message: str) -> str:
    """A message as a client may read it: SQLAlchemy's statement, parameters and links cut off."""
    return message.split("\n[SQL:")[0].split("\n(Background on this error")[0]


def install(app: FastAPI, expose_tracebacks: bool = False) -> None:
    """Error handlers. ``expose_tracebacks`` (a server started for its owner) adds the details of 500s."""

    @app.exception_handler(SightlineError)
    async def _sightline(request: Request, exc: SightlineError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        extra = {"field": exc.detail["field"]} if isinstance(exc.detail.get("field"), str) else {}  # the input at fault
        return JSONResponse(error_body(type(exc).__name__, str(exc), status, **extra), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(error_body("ValidationError", f"invalid request: {problems}", 422), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: object = exc.detail  # typed str, but FastAPI's HTTPException (a subclass) carries any JSON
        message = detail if isinstance(detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
        return JSONResponse(error_body("HTTPError", message, exc.status_code), status_code=exc.status_code)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # the client left while sending its body: nobody reads an answer, and it is no fault of the server
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=499)  # nginx's "client closed request", for the access log and metrics

    @app.exception_handler(db.SQLAlchemyError)
    async def _database(request: Request, exc: db.SQLAlchemyError) -> JSONResponse:
        status, words = next(((s, w) for cls, s, w in DATABASE_ERRORS if isinstance(exc, cls)), (500, "internal error"))
        return _logged(request, exc, status, "DatabaseError", words)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, OSError) and (full := no_room_error(exc, "this request's data")) is not None:
            log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
            return JSONResponse(error_body(type(full).__name__, str(full), 507), status_code=507)
        # Starlette re-raises what reaches this handler, and the server then drops the connection: say so,
        # so that the client sends its next request on a new one
        return _logged(request, exc, 500, "InternalError", "internal error", {"Connection": "close"})

    def _logged(request: Request, exc: Exception, status: int, kind: str, words: str, headers: dict[str, str] | None = None) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.error("error %s on %s %s", reference, request.method, request.url.path, exc_info=exc)
        extra: dict[str, object] = {"reference": reference}
        if expose_tracebacks:
            words = f"{words}: {type(exc).__name__}: {exc}"
            extra["traceback"] = "".join(traceback.format_exception(exc))
        message = f"{words} (reference {reference} in the server's log)"
        return JSONResponse(error_body(kind, message, status, **extra), status_code=status, headers=headers)
