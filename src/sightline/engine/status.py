"""The session state machine and the status snapshot a session reports."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class SessionState(str, enum.Enum):
    """pending -> running -> (stopping ->) completed | stopped | failed | interrupted.

    ``interrupted``: the server shut down or died during the run. It is final (nothing runs), and a
    server session can be resumed from its first unfinished item (``POST /v1/sessions/{id}/resume``)."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self in (SessionState.COMPLETED, SessionState.STOPPED, SessionState.FAILED, SessionState.INTERRUPTED)


@dataclass
class SessionStatus:
    """A snapshot of a session's progress."""

    state: SessionState
    done: int  # items finished, failed ones included
    total: int
    failed: int  # items that finished with an error
    rate: float  # items per second since the session started
    elapsed_s: float
    eta_s: float | None
    error: str | None = None
    traceback: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SessionStatus:
        return cls(**{**d, "state": SessionState(d["state"])})


# documented and shown as sightline.<name>, where users import them from
SessionState.__module__ = "sightline"
