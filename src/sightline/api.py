"""What every model handle offers, local or remote, built on one method: ``predict_detached``."""

from __future__ import annotations

import asyncio
import concurrent.futures
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Self

from typing_extensions import Unpack

from sightline.engine.live import NewestFrameWorker
from sightline.engine.session import PredictionSession
from sightline.errors import PredictionFailedError, ResultsNotReadyError, SessionTimeoutError
from sightline.models.base import ModelInfo, Task, ZooEntry
from sightline.prediction import Prediction
from sightline.request import PredictKwargs, PredictRequest
from sightline.upload_result import UploadResult


class PredictionFuture:
    """The eventual result of ``predict_async``: ``get(timeout)`` blocks until it is ready."""

    def __init__(self, future: concurrent.futures.Future[list[Prediction]]) -> None:
        self._future = future

    def get(self, timeout: float | None = None) -> list[Prediction]:
        """The predictions; ``SessionTimeoutError`` if not ready in time, the run's own error if it failed."""
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise SessionTimeoutError(f"the prediction was not ready within {timeout:g} s") from None

    def result_now(self) -> list[Prediction]:
        """The predictions if done, else ``ResultsNotReadyError`` (never blocks)."""
        if not self._future.done():
            raise ResultsNotReadyError("the prediction is still running")
        return self._future.result()

    def done(self) -> bool:
        return self._future.done()

    def add_done_callback(self, fn: Any) -> None:
        self._future.add_done_callback(lambda _f: fn(self))


_END = object()


class AsyncPredictionSession:
    """``async for`` over a session, for asyncio programs; waits run in worker threads."""

    def __init__(self, session: PredictionSession) -> None:
        self.session = session

    def __aiter__(self) -> AsyncIterator[Prediction]:
        return self

    def _next_or_end(self, timeout: float | None = None) -> Prediction | None | object:
        # StopIteration cannot cross into an asyncio future: turn it into a sentinel in the thread
        try:
            return self.session.next(timeout)
        except StopIteration:
            return _END

    async def __anext__(self) -> Prediction:
        got = await asyncio.to_thread(self._next_or_end)
        if got is _END:
            raise StopAsyncIteration
        return got  # type: ignore[return-value]

    async def next(self, timeout: float | None = None) -> Prediction | None:
        """The next prediction, or None at the end of the session."""
        got = await asyncio.to_thread(self._next_or_end, timeout)
        return None if got is _END else got  # type: ignore[return-value]

    async def stop(self) -> None:
        await asyncio.to_thread(self.session.stop)

    def status(self):  # type: ignore[no-untyped-def]
        return self.session.status()

    async def __aenter__(self) -> AsyncPredictionSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self.session.is_done():
            await self.stop()


class PredictAPI(ABC):
    """``predict``, ``predict_async``, ``stream`` and the async twins, on top of ``predict_detached``."""

    _executor: concurrent.futures.ThreadPoolExecutor | None = None
    max_concurrent_requests: int = 4

    @property
    @abstractmethod
    def info(self) -> ModelInfo: ...

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def classes(self) -> list[str]:
        return list(self.info.classes)

    @property
    def task(self) -> Task:
        return self.info.task

    @abstractmethod
    def _start(self, request: PredictRequest, input: Any, tqdm: Any) -> PredictionSession:
        """Run a parsed request (the one place each handle differs)."""

    def _begin(self, where: str, input: Any, tqdm: Any, kwargs: dict[str, Any]) -> PredictionSession:
        return self._start(PredictRequest.from_kwargs(kwargs, where, self.classes), input, tqdm)

    def predict_detached(self, input: Any = None, *, tqdm: Any = False, **kwargs: Unpack[PredictKwargs]) -> PredictionSession:
        """Start predicting in the background and return the session at once (``tqdm=True`` shows a bar).

        Also accepted: ``settings={...}`` and ``video_params={...}`` (merged into the keywords, validated as
        strictly), ``image_id=`` for ``image_ids=``, and a completion callback: ``callback_url=`` with
        ``callback_auth_kind="basic"``, ``callback_auth_username=``, ``callback_auth_password=``."""
        return self._begin("predict_detached", input, tqdm, dict(kwargs))

    def predict(self, input: Any = None, *, tqdm: Any = False, **kwargs: Unpack[PredictKwargs]) -> list[Prediction]:
        """Predict and return one ``Prediction`` per image or sampled video frame, in input order."""
        request = PredictRequest.from_kwargs(dict(kwargs), "predict", self.classes)
        answered, input = self._answer_now(request, input, tqdm)
        if answered is not None:
            return answered
        with self._start(request, input, tqdm) as session:
            return list(session)

    def _answer_now(self, request: PredictRequest, input: Any, tqdm: Any) -> tuple[list[Prediction] | None, Any]:
        """A short call's predictions made without a session, or None when it needs one (every call, by
        default); and the input for that session (the sources, when the hook had to collect them to decide)."""
        return None, input

    def stream(self, input: Any = None, **kwargs: Unpack[PredictKwargs]) -> Iterator[Prediction]:
        """Yield predictions as they are produced; leaving the loop early stops the run."""
        with self._begin("stream", input, False, dict(kwargs)) as session:
            yield from session

    def _run(self, request: PredictRequest, input: Any) -> list[Prediction]:
        answered, input = self._answer_now(request, input, False)
        if answered is not None:
            return answered
        with self._start(request, input, False) as session:
            return list(session)

    def predict_async(self, input: Any = None, **kwargs: Unpack[PredictKwargs]) -> PredictionFuture:
        """Start ``predict`` without waiting; at most ``max_concurrent_requests`` run at once. The arguments are
        checked at the call (a mistake raises here, not at ``get``)."""
        request = PredictRequest.from_kwargs(dict(kwargs), "predict_async", self.classes)
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(self.max_concurrent_requests, thread_name_prefix="sightline-async")
        return PredictionFuture(self._executor.submit(self._run, request, input))

    async def apredict(self, input: Any = None, **kwargs: Unpack[PredictKwargs]) -> list[Prediction]:
        """``predict`` for asyncio code."""
        return await asyncio.to_thread(self.predict, input, **kwargs)

    async def apredict_detached(self, input: Any = None, **kwargs: Unpack[PredictKwargs]) -> AsyncPredictionSession:
        """``predict_detached`` for asyncio code: ``async for pred in session``."""
        return AsyncPredictionSession(await asyncio.to_thread(self.predict_detached, input, **kwargs))

    @abstractmethod
    def live(self, *, tracking: bool = False, tracking_config: dict[str, Any] | None = None, **settings: Any) -> NewestFrameWorker:
        """A live stream: ``push(frame)`` each camera frame and get the newest finished prediction back (maybe of
        an earlier frame: frames that arrive while the model is busy are dropped, and counted in ``stats()``)."""

    @abstractmethod
    def list_models(self) -> list[ZooEntry]:
        """The models this handle can load by name: the zoo of this process, or of the server."""

    @abstractmethod
    def loaded_models(self) -> list[ModelInfo]:
        """The models loaded now: this handle's own, or every one the server has loaded."""

    @abstractmethod
    def upload(
        self,
        predictions: list[Prediction],
        mode: str,
        *,
        project: str | None = None,
        iou_merge_threshold: float = 0.9,
        dry_run: bool = False,
        video: str | Path | None = None,
        details: bool = False,
    ) -> UploadResult:
        """Upload predictions already made (after review) to the workspace; ``dry_run`` previews the counts.

        ``details``: each of the answer's ``items`` also lists, per object sent, what the upload does with it
        (``{"action": "added" | "duplicate", "iou", "existing_id"}``); with ``dry_run`` a preview of exactly that.

        ``video``: the video file the predictions' frames come from; ``create`` then adds it as a video with
        each frame's objects and track ids, rather than one image per frame.

        Returns an ``UploadResult``: ``totals`` (objects added, replaced, skipped, failed), the ``project_id`` a
        ``create`` made, and ``items``, what each prediction's upload did.
        """

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["AsyncPredictionSession", "PredictAPI", "PredictionFailedError", "PredictionFuture"]


# documented and shown as sightline.<name>, where users import them from
PredictionFuture.__module__ = "sightline"
AsyncPredictionSession.__module__ = "sightline"
