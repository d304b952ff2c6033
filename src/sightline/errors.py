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
