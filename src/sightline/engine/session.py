"""``PredictionSession``: a detached run's results as they are produced, with progress and stop."""

from __future__ import annotations

import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from sightline.engine.status import SessionState, SessionStatus
from sightline.errors import NotFoundError, PredictionFailedError, SessionTimeoutError
from sightline.prediction import Prediction
from sightline.video.timeline import VideoTimeline, build_timeline

if TYPE_CHECKING:
    from sightline.engine.runner import SessionRunner
    from sightline.engine.video_steps import VideoSteps


class PredictionSession(ABC):
    """Iterate to get predictions in input order as they finish; reading never removes results.

    ``next()`` returns the next unread prediction; ``results()`` pages any part of them by cursor.
    """

    id: str  # the server's id of a remote session (``model.session(id)`` re-attaches); unique in this process for a local one

    def __init__(self, progress_bar: Any = False) -> None:
        self._cursor = 0
        self._bar = None
        if progress_bar:
            from tqdm.auto import tqdm

            self._bar = progress_bar if not isinstance(progress_bar, bool) else tqdm(total=len(self), unit="img")

    # --- what a backend provides -----------------------------------------------------------------
    @abstractmethod
    def status(self) -> SessionStatus:
        """A snapshot: state, done/total, failures, rate, error and traceback."""

    @abstractmethod
    def stop(self) -> None:
        """End the run after the batch in flight; finished predictions stay readable."""

    @abstractmethod
    def results(self, after: int = 0, limit: int | None = None) -> list[Prediction]:
        """Finished predictions from cursor ``after`` on."""

    @abstractmethod
    def _wait(self, after: int, timeout: float | None) -> bool:
        """Block until a result past ``after`` exists or the session is final; False on timeout."""

    @abstractmethod
    def __len__(self) -> int:
        """How many items the session will predict."""

    @abstractmethod
    def _annotated_video(self, path: Path | None, source: str | None) -> Path:
        """The finished session's annotated video of ``source`` (None: the first), at ``path`` when given."""

    # --- video outputs ---------------------------------------------------------------------------
    def annotated_video(self, path: str | Path | None = None, *, source: str | None = None) -> Path:
        """Wait for the end, then the annotated video (asked for with ``annotated_video=``): of ``source`` (a
        prediction's ``source``; by default the first video), saved to ``path`` when given. Its file path is
        returned; ``NotFoundError`` when the session made none (or none of ``source``)."""
        self.wait_done()
        return self._annotated_video(Path(path) if path is not None else None, source)

    def timeline(self) -> VideoTimeline:
        """Wait for the end, then per tracked object: class, visible time ranges, one observation per sampled frame."""
        self.wait_done()
        return build_timeline(self.results())

    # --- shared behaviour ------------------------------------------------------------------------
    def progress(self) -> tuple[int, int]:
        """(done, total)."""
        s = self.status()
        return s.done, s.total

    def is_done(self) -> bool:
        return self.status().state.is_final

    @overload
    def next(self, timeout: float | None = None, block: Literal[True] = True) -> Prediction: ...
    @overload
    def next(self, timeout: float | None = None, *, block: bool) -> Prediction | None: ...

    def next(self, timeout: float | None = None, block: bool = True) -> Prediction | None:
        """The next unread prediction.

        Returns None when ``block=False`` and none is ready; raises ``SessionTimeoutError`` when
        ``timeout`` passes first, ``StopIteration`` at the end, ``PredictionFailedError`` after the last
        good result of a failed session.
        """
        if not self._wait(self._cursor, 0 if not block else timeout):
            if not block:
                return None
            raise SessionTimeoutError(f"no prediction arrived within {timeout:g} s (done {self.progress()[0]} of {len(self)})")
        got = self.results(self._cursor, 1)
        if got:
            self._cursor += 1
            if self._bar is not None:
                self._bar.update(1)
            return got[0]
        status = self.status()
        if self._bar is not None:
            self._bar.close()
        if status.state is SessionState.FAILED:
            raise PredictionFailedError(f"prediction failed: {status.error}", status.traceback)
        raise StopIteration

    def __iter__(self) -> Iterator[Prediction]:
        while True:
            try:
                yield self.next()
            except StopIteration:
                return

    def wait_result(self, after: int = 0, timeout: float | None = None) -> bool:
        """Block until a result past cursor ``after`` is finished or the session is final (without reading
        results); False when ``timeout`` passes first."""
        return self._wait(after, timeout)

    def wait_done(self, timeout: float | None = None) -> SessionStatus:
        """Block until the session is final (without reading results)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (status := self.status()).state.is_final:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise SessionTimeoutError(f"the session did not finish within {timeout:g} s")
            self._wait(max(status.done, self._cursor) + 10**12, min(0.2, remaining) if remaining else 0.2)
        return status

    def __enter__(self) -> PredictionSession:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.is_done():
            self.stop()
        if self._bar is not None:
            self._bar.close()


def chain_steps(steps: list[Any]) -> Any:
    """One postprocess callable running each step in order (None when there are none)."""
    if not steps:
        return None

    def run(pred: Prediction, item: Any) -> None:
        for step in steps:
            step(pred, item)

    return run


def chain_finish(steps: list[Any]) -> Any:
    if not steps:
        return None

    def run(status: SessionStatus) -> None:
        """Every step finishes even when an earlier one raised (a run record must end); the first error is raised."""
        first: Exception | None = None
        for step in steps:
            try:
                step.finish(status)
            except Exception as exc:  # noqa: BLE001 (raised below, after the other steps)
                first = first or exc
        if first is not None:
            raise first

    return run


class LocalPredictionSession(PredictionSession):
    """A session run by the in-process engine."""

    def __init__(self, runner: SessionRunner, progress_bar: Any = False, video: VideoSteps | None = None) -> None:
        self._runner = runner
        self._video = video  # writes the annotated videos, when asked for
        self.id = uuid.uuid4().hex
        super().__init__(progress_bar)

    def _annotated_video(self, path: Path | None, source: str | None) -> Path:
        if self._video is None:
            raise NotFoundError("this session made no annotated video (pass annotated_video=True or a path with a video input)")
        made = self._video.output(source)
        if path is None or path == made:
            return made
        shutil.copyfile(made, path)
        return path

    def status(self) -> SessionStatus:
        return self._runner.status()

    def stop(self) -> None:
        self._runner.stop()
        self._runner.join(timeout=60)

    def results(self, after: int = 0, limit: int | None = None) -> list[Prediction]:
        return self._runner.results(after, limit)

    def _wait(self, after: int, timeout: float | None) -> bool:
        return self._runner.wait(after, timeout)

    def __len__(self) -> int:
        return len(self._runner)


# documented and shown as sightline.<name>, where users import them from
PredictionSession.__module__ = "sightline"
