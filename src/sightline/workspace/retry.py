"""One retry policy for transient database errors: which errors are worth another try, and how long to try.

Transient: a connection that dropped or was terminated (SQLAlchemy marks it ``connection_invalidated``;
PostgreSQL's admin shutdown, crash shutdown, "cannot connect now"), a serialization failure or deadlock,
a connection-pool timeout, and SQLite's "database is locked"/busy. Anything else (a constraint, a bad
value, a missing row) fails at once: trying again would fail the same way.

Attempts are bounded (``ATTEMPTS``) and so is the total time (``BUDGET_S``), with exponential backoff
and full jitter between them, so writers that collided do not collide again in step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

log = logging.getLogger("sightline.workspace")

T = TypeVar("T")

ATTEMPTS = 8
FIRST_PAUSE_S = 0.05
MAX_PAUSE_S = 1.0
BUDGET_S = 20.0

# SQLSTATE classes and codes that name a transient condition on PostgreSQL
TRANSIENT_SQLSTATES = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "57P01",  # admin_shutdown (pg_terminate_backend)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now
    "53300",  # too_many_connections
}
TRANSIENT_SQLSTATE_CLASSES = ("08",)  # connection exceptions
SQLITE_BUSY_WORDS = ("database is locked", "database is busy", "database table is locked")
DISCONNECT_WORDS = ("server closed the connection", "terminating connection", "connection is closed",
                    "connection already closed", "consuming input failed", "the connection is lost")


def is_transient(exc: BaseException) -> bool:
    """Would the same database work succeed if tried again on a fresh connection?"""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no free connection in time
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code and (code in TRANSIENT_SQLSTATES or code.startswith(TRANSIENT_SQLSTATE_CLASSES)):
        return True
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        words = str(orig).lower()
        return any(w in words for w in SQLITE_BUSY_WORDS + DISCONNECT_WORDS)
    return False


def with_retries(work: Callable[[], T], what: str, *, attempts: int = ATTEMPTS, budget_s: float = BUDGET_S,
                 before_retry: Callable[[], T | None] | None = None) -> T:
    """``work()``, tried again after a transient database error, at most ``attempts`` times in ``budget_s``.

    ``work`` must be one whole unit (its own transaction), so a retry starts from a clean state.
    ``before_retry``, when given, runs before each new try and may return a result instead: the
    earlier try's commit did land although its acknowledgement was lost (see ``run_upload``).
    The last error is raised when the attempts or the time run out, or at once when it is not transient.
    """
    deadline = time.monotonic() + budget_s
    pause = FIRST_PAUSE_S
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            wait = random.uniform(0, pause)  # full jitter
            if time.monotonic() + wait > deadline:
                raise
            log.info("%s: transient database error (try %d of %d), again in %.0f ms: %s", what, attempt, attempts, wait * 1000,
                     str(exc).splitlines()[0])
            time.sleep(wait)
            pause = min(pause * 2, MAX_PAUSE_S)
        if before_retry is not None:
            landed = _checked(before_retry, what)
            if landed is not None:
                return landed
    raise AssertionError("unreachable")  # the loop returns or raises


def _checked(check: Callable[[], T | None], what: str) -> T | None:
    """``check()``, itself retried: it is one read, and the connection may drop again under it."""
    return with_retries(check, f"{what} (checking an earlier try)", attempts=ATTEMPTS)


def retried_transaction(
    transaction: Callable[[], AbstractContextManager[Any]],
    body: Callable[[Any], T],
    what: str,
    landed: Callable[[Any, T], bool] | None = None,
) -> T:
    """``body(session)`` in one transaction, the whole transaction tried again after a transient error.

    A connection can drop after the server committed but before it said so. When a try failed that far
    (``body`` had returned), ``landed(session, value)`` is asked, in a fresh transaction, whether that
    try's writes are there; if so its ``value`` is the result, and nothing is written twice.
    """
    committing: list[T] = []  # the value of the try that reached its commit, if the last one did

    def once() -> T:
        committing.clear()
        with transaction() as s:
            value = body(s)
            s.flush()
            committing.append(value)
        return value

    def check() -> T | None:
        if not committing or landed is None:
            return None
        value = committing[0]
        with transaction() as s:
            return value if landed(s, value) else None

    return with_retries(once, what, before_retry=check)
