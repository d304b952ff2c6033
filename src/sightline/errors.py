"""Every exception sightline raises on purpose. Catch ``SightlineError`` for all of them.

Argument mistakes also subclass the built-in ``TypeError`` / ``ValueError`` a Python user expects.
"""

from __future__ import annotations


class SightlineError(Exception):
    """Base class of sightline's own errors."""


class UnknownArgumentError(SightlineError, TypeError):
    """A keyword argument that no sightline call accepts (a typo, usually)."""


class InvalidSettingError(SightlineError, ValueError):
    """A setting or option with a value of the wrong type or out of range."""


class InputError(SightlineError, ValueError):
    """The input as a whole cannot be used: no source, two sources, a missing folder, a bad video range."""


class ModelLoadError(SightlineError):
    """A model could not be loaded: unknown name, unreadable checkpoint, missing extra, no weights."""


class PredictionFailedError(SightlineError):
    """A prediction session failed; ``traceback`` is the one captured where it failed."""

    def __init__(self, message: str, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback


class SessionTimeoutError(SightlineError, TimeoutError):
    """No result arrived within the timeout given to ``PredictionSession.next``."""


# --- talking to a server ------------------------------------------------------------------------


class ServerError(SightlineError):
    """The server answered with an error. ``status`` is the HTTP status, ``detail`` its JSON error body."""

    def __init__(self, message: str, status: int | None = None, detail: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail or {}


class ServerConnectionError(ServerError, ConnectionError):
    """The server could not be reached (refused, reset, DNS) even after retries."""


class RequestTimeoutError(ServerError, TimeoutError):
    """The server did not answer within the request timeout."""


class AuthenticationError(ServerError):
    """401: the API key is missing or wrong."""


class NotFoundError(ServerError, LookupError):
    """404: no such session, model or route."""


class ConflictError(ServerError):
    """409: the request conflicts with the resource's state (e.g. adding items to a closed session)."""


class PayloadTooLargeError(ServerError):
    """413: a request, file or image is over the server's limits."""


class InsufficientStorageError(ServerError):
    """507: the disk (or quota) holding the workspace or uploads is full; nothing was half-written."""


class RateLimitedError(ServerError):
    """429: too many requests or sessions at once; retried with backoff before this is raised."""


class ServiceUnavailableError(ServerError):
    """503: the server is starting, overloaded or has no model loaded."""


class ModelUnloadedError(ServiceUnavailableError):
    """The model was unloaded (or closed) while the request waited for it; on a server, 503."""


class ResultsNotReadyError(ServerError):
    """A result was asked for before it exists (a future not yet done, a non-blocking read)."""


class DeployError(SightlineError):
    """``sightline.deploy`` could not start its server; the message ends with the server's log tail."""
