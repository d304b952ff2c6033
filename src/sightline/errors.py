"""Every exception sightline raises on purpose. Catch ``SightlineError`` for all of them.

Argument mistakes also subclass the built-in ``TypeError`` / ``ValueError`` a Python user expects. A class
that has an HTTP meaning carries its status once, as ``status_code``; the server's status table and the
client's answer-to-class table are both derived from it. As in httpx, "the server answered N"
(``ServerError``) and "no answer" (``TransportError``) are separate branches, and both are separate
from what went wrong here: a ``NotFoundError`` raised by a local workspace is not a ``ServerError``; a
404 answer raises a class that is both (``isinstance(exc, ServerError)`` says a server answered)::

    SightlineError
    ├── UnknownArgumentError (TypeError)          422
    ├── InvalidSettingError (ValueError)          422
    ├── InputError (ValueError)                   400
    ├── ModelLoadError                            400
    ├── AuthenticationError                       401
    ├── PermissionDeniedError                     403
    ├── NotFoundError (LookupError)               404
    ├── ConflictError                             409
    ├── PayloadTooLargeError                      413
    ├── RateLimitedError                          429
    ├── ServiceUnavailableError                   503
    │   └── ModelUnloadedError                    503
    ├── InsufficientStorageError                  507
    ├── PredictionFailedError
    ├── SessionTimeoutError (TimeoutError)
    ├── ResultsNotReadyError
    ├── DeployError
    ├── ServerError                               the server answered with an error status (``status``, ``detail``)
    │   └── e.g. ServerError & NotFoundError      made by ``ServerError.answered(404, ...)`` for each class above
    └── TransportError                            no answer came
        ├── ServerConnectionError (ConnectionError)
        └── RequestTimeoutError (TimeoutError)    also 504, an answer that says the same
"""

from __future__ import annotations

from typing import Any, ClassVar


class SightlineError(Exception):
    """Base class of sightline's own errors. ``status_code`` is the HTTP status a server answers it with."""

    status_code: ClassVar[int | None] = None

    def __init__(self, message: str = "", status: int | None = None, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status if status is not None else self.status_code
        self.detail: dict[str, Any] = detail or {}


class UnknownArgumentError(SightlineError, TypeError):
    """A keyword argument that no sightline call accepts (a typo, usually)."""

    status_code = 422


class InvalidSettingError(SightlineError, ValueError):
    """A setting or option with a value of the wrong type or out of range."""

    status_code = 422


class InputError(SightlineError, ValueError):
    """The input as a whole cannot be used: no source, two sources, a missing folder, a bad video range."""

    status_code = 400


class ModelLoadError(SightlineError):
    """A model could not be loaded: unknown name, unreadable checkpoint, missing extra, no weights."""

    status_code = 400


class AuthenticationError(SightlineError):
    """401: the API key is missing or wrong."""

    status_code = 401


class PermissionDeniedError(SightlineError):
    """403: this server does not let clients do this (e.g. load or unload models on a public server)."""

    status_code = 403


class NotFoundError(SightlineError, LookupError):
    """404: no such session, model, project or route."""

    status_code = 404


class ConflictError(SightlineError):
    """409: the request conflicts with the resource's state (e.g. adding items to a closed session)."""

    status_code = 409


class PayloadTooLargeError(SightlineError):
    """413: a request, file or image is over the server's limits."""

    status_code = 413


class RateLimitedError(SightlineError):
    """429: too many requests or sessions at once; a client retries with backoff before this is raised."""

    status_code = 429


class ServiceUnavailableError(SightlineError):
    """503: the server is starting, overloaded or has no model loaded."""

    status_code = 503


class ModelUnloadedError(ServiceUnavailableError):
    """The model was unloaded (or closed) while the request waited for it; on a server, 503."""


class InsufficientStorageError(SightlineError):
    """507: the disk (or quota) holding the workspace or uploads is full; nothing was half-written."""

    status_code = 507


class PredictionFailedError(SightlineError):
    """A prediction session failed; ``traceback`` is the one captured where it failed."""

    def __init__(self, message: str, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback


class SessionTimeoutError(SightlineError, TimeoutError):
    """No result arrived within the timeout given to ``PredictionSession.next``."""


class ResultsNotReadyError(SightlineError):
    """A result was asked for before it exists (a future not yet done, a non-blocking read)."""


class DeployError(SightlineError):
    """``sightline.deploy`` could not start its server; the message ends with the server's log tail."""


# --- talking to a server ------------------------------------------------------------------------


class TransportError(SightlineError):
    """No usable answer came from the server (after the retries the client allows)."""


class ServerConnectionError(TransportError, ConnectionError):
    """The server could not be reached (refused, reset, DNS) or the connection broke."""


class RequestTimeoutError(TransportError, TimeoutError):
    """The server did not answer within the request timeout (or answered 504, which says the same)."""

    status_code = 504


class ServerError(SightlineError):
    """The server answered with an error status. ``status`` is the HTTP status, ``detail`` its JSON error body."""

    _answered: ClassVar[dict[type[SightlineError], type[ServerError]]] = {}

    @classmethod
    def answered(cls, status: int, message: str, detail: dict[str, Any] | None = None) -> ServerError:
        """The exception for an answer: of the class the error body names (or the status means) and a ``ServerError``."""
        detail = detail or {}
        named = BY_NAME.get(str(detail.get("type", "")))  # a class the body names counts when its status is the answer's
        kind = named if named is not None and named.status_code == status else BY_STATUS.get(status)
        if kind is None:
            return ServerError(message, status, detail)
        if kind not in cls._answered:  # one class per kind, so that equal errors have equal types
            both = type(kind.__name__, (kind, ServerError), {"__doc__": kind.__doc__, "__module__": kind.__module__})
            cls._answered[kind] = both
        return cls._answered[kind](message, status, detail)


def _subclasses(cls: type[SightlineError]) -> list[type[SightlineError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _subclasses(direct))]


# every class an error body may name; the answer's status stays what the server said
BY_NAME: dict[str, type[SightlineError]] = {
    cls.__name__: cls for cls in _subclasses(SightlineError) if cls.status_code is not None and not issubclass(cls, ServerError)
}
# the class a bare status means when the body names none (each class that sets its own status, once)
BY_STATUS: dict[int, type[SightlineError]] = {
    cls.status_code: cls for cls in reversed(BY_NAME.values()) if cls.status_code is not None and "status_code" in vars(cls)
}
BY_STATUS.update({400: InputError, 422: InputError})  # argument errors that the body does not name


def status_of(exc: BaseException) -> int:
    """The HTTP status a server answers ``exc`` with: its own ``status``, else 500."""
    status = getattr(exc, "status", None)
    return status if isinstance(exc, SightlineError) and isinstance(status, int) else 500


# documented and shown as sightline.<name>, where users import them from (the classes ``ServerError.answered`` makes too)
for _cls in _subclasses(SightlineError):
    _cls.__module__ = "sightline"
