"""``RemoteModel``: a model behind a sightline server, driven exactly like a ``LocalModel``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from sightline.api import PredictAPI
from sightline.client.downsize import restore
from sightline.client.encoding import Encoding, encoding_for
from sightline.client.live import RemoteLiveStream
from sightline.client.session import RemotePredictionSession
from sightline.client.transport import Transport
from sightline.client.uploader import FORM_OVERHEAD_BYTES, IMAGE_KINDS, ImagePayload, Uploader, image_payload
from sightline.client.workspace import RemoteWorkspace
from sightline.engine.session import PredictionSession
from sightline.errors import InputError, InvalidSettingError, PayloadTooLargeError, SightlineError
from sightline.inputs.sources import collect_sources
from sightline.models.base import ModelInfo, ZooEntry, info_from_dict
from sightline.prediction import Prediction, prediction_bytes
from sightline.request import LiveRequest, PredictRequest, options_from_kwargs
from sightline.upload_result import UploadResult, UploadTotals

# a call of at most this many images (and at most one batch) is one POST /v1/predict, without a session
ANSWER_NOW_ITEMS = 4
UPLOAD_PART_ITEMS = 64  # predictions per upload request (servers take up to 256 files per request)
UPLOAD_PART_BYTES = 32 * 1024 * 1024  # image bytes per upload request of a ``create``


class RemoteModel(PredictAPI):
    """Connect with ``sightline.connect(url)`` or start a server with ``sightline.deploy(...)``.

    ``downsize=True`` shrinks images on this side to the model's input size before sending them and
    maps boxes and masks back to the full-size image, which saves bandwidth to a distant server.

    On a server without an API key, the sessions a handle starts belong to its ``client_id`` (a random
    token made per handle; ``use_model`` handles share their parent's): other clients cannot list, read or
    stop them. To re-attach from another process, pass the same ``client_id`` to ``connect``.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        max_backoff_time: float = 30.0,
        max_concurrent_requests: int = 8,
        downsize: bool = False,
        upload_window: int = 64,
        client_id: str | None = None,
        _transport: Transport | None = None,
        _process: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self._owns_transport = _transport is None  # a handle from use_model borrows its parent's connection
        self._transport = _transport or Transport(url, api_key, timeout, max_retries, max_backoff_time, max_concurrent_requests,
                                                  client_id=client_id)
        self.url = self._transport.url
        self.max_concurrent_requests = max_concurrent_requests
        self.downsize = downsize
        self.upload_window = upload_window
        self.array_encoding = encoding_for(self.url)  # how arrays and PIL images travel: raw on loopback, else PNG
        self._process = _process
        self._model_name = model
        self._info: ModelInfo | None = None
        self._workspace: RemoteWorkspace | None = None
        self._server_limits: dict[str, Any] | None = None

    @property
    def client_id(self) -> str:
        """The token this handle sends as ``X-Sightline-Client``: who owns its sessions on a keyless server."""
        return self._transport.client_id

    def as_client(self, client_id: str) -> RemoteModel:
        """A handle on the same model and connection that acts as another client (its own sessions); the web
        app gives each browser one. Closing it leaves the shared connection open."""
        other = RemoteModel(self.url, model=self._model_name, downsize=self.downsize, upload_window=self.upload_window,
                            max_concurrent_requests=self.max_concurrent_requests, _transport=self._transport.with_client(client_id))
        other._info = self._info
        return other

    # --- what is served --------------------------------------------------------------------------
    @property
    def info(self) -> ModelInfo:
        """The served model's task, classes, colours, defaults and device (fetched once)."""
        if self._info is None:
            params = {"model": self._model_name} if self._model_name else None
            self._info = info_from_dict(self._transport.get("/v1/models/info", params=params))
            self._model_name = self._info.name
        return self._info

    @property
    def workspace(self) -> RemoteWorkspace:
        """The server's workspace, read-only: projects, datasets, images, annotations."""
        if self._workspace is None:
            self._workspace = RemoteWorkspace(self._transport)
        return self._workspace

    def _limits(self) -> dict[str, Any]:
        """The server's limits (fetched once per handle), which the uploader keeps files within."""
        if self._server_limits is None:
            self._server_limits = self.server_info().get("limits") or {}
        return self._server_limits

    def server_info(self) -> dict[str, Any]:
        """Versions, limits and loaded models of the server."""
        info: dict[str, Any] = self._transport.get("/v1/info")
        return info

    def list_models(self) -> list[ZooEntry]:
        """The models the server can load by name (``load_model``); ``server_info()`` names its default."""
        return [ZooEntry.from_dict(e) for e in self._transport.get("/v1/models")["available"]]

    def loaded_models(self) -> list[ModelInfo]:
        """Every model the server has loaded now."""
        return [info_from_dict(m) for m in self._transport.get("/v1/models")["loaded"]]

    def load_model(self, model: str, device: str = "auto", default: bool = False) -> ModelInfo:
        """Load another model on the server (idempotent)."""
        return info_from_dict(self._transport.post("/v1/models/load", json={"model": model, "device": device, "default": default}))

    def upload_model(self, path: str | Path, device: str = "auto", default: bool = False) -> ModelInfo:
        """Send a sightline checkpoint file to the server and serve it there (``use_model(info.name)``).

        Raises ``PayloadTooLargeError`` over the server's ``max_checkpoint_bytes`` (checked before sending)
        and ``InputError`` (status 422) for a file that is not a sightline checkpoint."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise InputError(f"no checkpoint file at {str(path)!r}")
        limit = self.server_info().get("limits", {}).get("max_checkpoint_bytes")
        size = path.stat().st_size
        if isinstance(limit, int) and size > limit:
            raise PayloadTooLargeError(f"{str(path)!r} is {size:,} bytes, over the server's checkpoint limit of {limit:,}")
        with path.open("rb") as f:
            files = {"file": (path.name, f, "application/octet-stream")}
            data = {"device": device, "default": "true" if default else "false"}
            return info_from_dict(self._transport.post("/v1/models/upload", files=files, data=data))

    def unload_model(self, model: str) -> None:
        self._transport.post("/v1/models/unload", json={"model": model})

    def unload_all_models(self) -> list[str]:
        unloaded: list[str] = self._transport.post("/v1/models/unload_all")["unloaded"]
        return unloaded

    def use_model(self, model: str) -> RemoteModel:
        """A handle on another model of the same server, sharing this connection."""
        return RemoteModel(self.url, model=model, downsize=self.downsize, upload_window=self.upload_window,
                           max_concurrent_requests=self.max_concurrent_requests, _transport=self._transport)

    def session(self, session_id: str, after: int = 0) -> RemotePredictionSession:
        """Re-attach to a session by id (after a crash, or from another process); reading resumes at ``after``."""
        status = self._transport.get(f"/v1/sessions/{session_id}")
        session = RemotePredictionSession(self._transport, session_id, status, start=after)
        session._model = self
        return session

    def resume(self, session_id: str, input: Any = None, **options: Any) -> RemotePredictionSession:
        """Resume an interrupted session (the server restarted mid-run) from its first unfinished item.

        A session on workspace IDs goes on by itself. A session fed by this client needs ``input`` again:
        the same folder, list or files (with the same ``recursive``); the items it had finished are not
        sent again. Returns the session, re-attached."""
        status = self._transport.get(f"/v1/sessions/{session_id}")
        sources = None
        if status.get("kind") == "client":  # checked before the server is asked, so a mistake changes nothing
            if input is None:
                raise InputError(f"session {session_id} was fed by its client: resume(input=...) with the same input, to send "
                                 f"the remaining {status['total'] - status['done']} items")
            sources = collect_sources(input, options_from_kwargs(options, "resume"))
            if sources.total != status["total"]:
                raise InputError(f"this input has {sources.total} items, the session was made for {status['total']}: give the same input")
        status = self._transport.post(f"/v1/sessions/{session_id}/resume")
        if sources is None or status["input_closed"]:
            return self.session(session_id)
        return self._with_uploader(status, sources, 8, False, None, first=status["done"])

    # --- predicting ------------------------------------------------------------------------------
    def _answer_now(self, request: PredictRequest, input: Any, tqdm: Any) -> tuple[list[Prediction] | None, Any]:
        """A ``predict`` of at most one batch of images, with nothing but settings, as one ``POST /v1/predict``.

        A session costs its creation, an event stream and a second request before the model starts: about a
        quarter of a one-image call on loopback (docs/benchmarks.md). The answer is the same predictions a session
        gives (``tests/client/test_answer_now.py``). None: the call needs a session (more images, a video, a
        URL, an item this client cannot read or send, tracking, uploads, a progress bar...); it is given the
        sources collected here, so a folder is not listed twice."""
        if tqdm or request.device is not None or request.engine != "local" or set(request.wire()) - {"settings", "options"}:
            return None, input
        if request.source(input) != "input":
            return None, input
        sources = collect_sources(input, request.input_options())
        if sources.total > min(ANSWER_NOW_ITEMS, request.predict_settings().batch_size):
            return None, sources
        items = list(sources)
        if any(s.kind not in IMAGE_KINDS for s in items):
            return None, sources
        longest = max(self.info.input_size) if self.downsize and self.info.input_size else None
        try:
            payloads = [image_payload(s, longest, self.array_encoding) for s in items]
        except (ValueError, SightlineError):  # a session fails that item alone, with the reason
            return None, sources
        if not self._fits(payloads):
            return None, sources
        files = [("files", (p.name, p.data, "application/octet-stream")) for p in payloads]
        form = {"model": json.dumps(self.info.name), "settings": json.dumps(request.wire()["settings"]),
                "meta": json.dumps([{**s.meta, "kind": "image"} for s in items])}
        answer = self._transport.post("/v1/predict", files=files, data=form)
        preds = [Prediction.from_dict(d) for d in answer["predictions"]]
        for pred, payload in zip(preds, payloads, strict=True):  # as a session's reader adopts its results
            if payload.scale is not None:
                restore(pred, payload.scale)
            pred._image = payload.pixels
        return preds, sources

    def _fits(self, payloads: list[ImagePayload]) -> bool:
        """Whether these images go in one request within the server's limits."""
        limits = self._limits()
        largest, total = max(len(p.data) for p in payloads), sum(len(p.data) for p in payloads)
        per_file, per_request = limits.get("max_file_bytes"), limits.get("max_request_bytes")
        items = limits.get("max_items_per_request")
        return ((per_file is None or largest <= per_file) and (per_request is None or total <= per_request - FORM_OVERHEAD_BYTES)
                and (items is None or len(payloads) <= items))

    def _start(self, request: PredictRequest, input: Any, tqdm: Any) -> PredictionSession:
        if request.device is not None:  # a server's model is shared: it moves only by an explicit load
            raise InvalidSettingError(
                f"device={request.device!r}: a served model runs where the server loaded it; "
                "use model.load_model(name, device=...) to load it elsewhere"
            )
        if request.engine == "ray":  # the job's driver reads the workspace's database itself: it runs where the workspace is
            raise InvalidSettingError(
                "engine='ray' runs a Ray Data job from the process that holds the workspace: use "
                "sightline.load(..., workspace=...) or `sightline predict --ray`; a server on the same database follows the job"
            )
        video_path = request.annotated_video if isinstance(request.annotated_video, (str, Path)) else None  # downloaded there
        body = request.wire() | {"model": self.info.name}  # workspace IDs and uploads are resolved by the server, which owns the workspace
        if request.source(input) != "input":
            status = self._transport.post("/v1/sessions", json=body)
            session = RemotePredictionSession(self._transport, status["id"], status, None, progress_bar=tqdm)
            session.video_target = video_path
            session._model = self
            return session
        sources = collect_sources(input, request.input_options())
        status = self._transport.post("/v1/sessions", json=body | {"total": sources.total})
        # raw pixels would land in the workspace as they were sent: a run that uploads sends PNG
        encoding = "png" if request.upload else self.array_encoding
        return self._with_uploader(status, sources, request.predict_settings().batch_size, tqdm, video_path, encoding=encoding)

    def _with_uploader(self, status: dict[str, Any], sources: Any, batch_size: int, tqdm: Any, video_path: Any,
                       first: int = 0, encoding: Encoding = "png") -> RemotePredictionSession:
        """The session, with a thread sending ``sources`` from item ``first`` on."""
        longest = max(self.info.input_size) if self.downsize and self.info.input_size else None
        session: RemotePredictionSession | None = None

        def done() -> int:
            return session._status.done if session is not None else 0

        def wait(at_least: int, timeout: float) -> None:
            if session is not None:
                session.wait_progress(at_least, timeout)

        def ended() -> bool:
            return session is not None and session.ended()

        window = max(self.upload_window, 2 * batch_size)
        uploader = Uploader(self._transport, status["id"], sources, window, done, wait, ended, downsize_to=longest, limits=self._limits(),
                            encoding=encoding, first=first)
        session = RemotePredictionSession(self._transport, status["id"], status, uploader, progress_bar=tqdm)
        session.video_target = video_path
        session._model = self
        return session

    def live(self, *, tracking: bool = False, tracking_config: dict[str, Any] | None = None, **settings: Any) -> RemoteLiveStream:
        """A live stream on the server: ``push(frame)``, ``latest()``, ``stats()``."""
        request = LiveRequest.from_kwargs(tracking, tracking_config, settings, self.classes)
        return RemoteLiveStream(self._transport, request.wire() | {"model": self.info.name})

    def upload(self, predictions: list[Prediction], mode: str, *, project: str | None = None, iou_merge_threshold: float = 0.9,
               dry_run: bool = False, video: str | Path | None = None, details: bool = False) -> UploadResult:
        """Upload (or with ``dry_run`` preview) predictions into the server's workspace.

        Large uploads go in parts of at most ``UPLOAD_PART_ITEMS`` predictions (and, for ``create``, about
        ``UPLOAD_PART_BYTES`` of images); a ``create`` in parts fills one project. The answer sums the parts.
        ``video``: the local video file the predictions' frames come from; ``create`` then sends it once and
        the new project gets a video with each frame's objects and track ids (one request, no parts).
        ``details``: each of the answer's ``items`` also lists, per object sent, what the upload does with it:
        ``{"action": "added" | "duplicate", "iou", "existing_id"}`` (``iou_merge`` gives the best IoU with an
        existing object of its class and that object's id); with ``dry_run`` a preview of exactly that.
        """
        if video is not None and mode == "create" and not dry_run:
            return self._upload_video(predictions, Path(video), project, iou_merge_threshold)
        answer = UploadResult(UploadTotals())
        for part in self._upload_parts(predictions, mode, dry_run):
            request = {"mode": mode, "predictions": [p.to_dict() for p, _ in part], "iou_merge_threshold": iou_merge_threshold,
                       "project": project, "dry_run": dry_run, "model": self.info.name}
            if details:
                request["details"] = True  # asked only when wanted: older servers refuse keys they do not know
            if mode == "create" and answer.project_id is not None:
                request["project_id"] = answer.project_id  # later parts join the project the first one made
            if mode == "create" and not dry_run:  # the server needs the pixels to copy them into the new project
                files = [("files", (f"{k}.img", data, "application/octet-stream")) for k, (_, data) in enumerate(part)]
                got = self._transport.post("/v1/uploads", files=files, data={"request": json.dumps(request)})
            else:
                got = self._transport.post("/v1/uploads", json=request)
            part_result = UploadResult.from_dict(got)
            answer.totals.merge(part_result.totals)
            answer.project_id = answer.project_id if answer.project_id is not None else part_result.project_id
            answer.items.extend(part_result.items)
        return answer

    def _upload_video(self, predictions: list[Prediction], video: Path, project: str | None, threshold: float) -> UploadResult:
        if any(p.frame_idx is None for p in predictions):
            raise InputError("video= is for predictions of that video's frames: some of these have no frame_idx")
        request = {"mode": "create", "predictions": [p.to_dict() for p in predictions], "iou_merge_threshold": threshold,
                   "project": project, "model": self.info.name, "video": True}
        try:
            with video.open("rb") as fh:
                got = self._transport.post("/v1/uploads", files=[("files", (video.name, fh, "application/octet-stream"))],
                                           data={"request": json.dumps(request)})
        except OSError as exc:
            raise InputError(f"the video {video.name!r} could not be read: {exc.strerror or exc}") from None
        return UploadResult.from_dict(got)

    def _upload_parts(self, predictions: list[Prediction], mode: str, dry_run: bool) -> Any:
        """Predictions in request-sized parts, each paired with its image bytes when the server needs them."""
        with_images = mode == "create" and not dry_run
        part: list[tuple[Prediction, bytes | None]] = []
        size = 0
        for pred in predictions:
            data = self._image_bytes(pred) if with_images else None
            if part and (len(part) >= UPLOAD_PART_ITEMS or size + len(data or b"") > UPLOAD_PART_BYTES):
                yield part
                part, size = [], 0
            part.append((pred, data))
            size += len(data or b"")
        if part:
            yield part

    def _image_bytes(self, pred: Prediction) -> bytes:
        """A prediction's encoded image: its own file or pixels, else the server's copy of a workspace image."""
        if pred._image is None and not pred.image_path and not pred.image_url and pred.image_id is not None:
            return self.workspace.image_bytes(pred.image_id)
        return prediction_bytes(pred)

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; a server started by ``deploy`` is shut down too. A handle from ``use_model``
        leaves the connection it shares open for its parent."""
        super().close()
        if self._owns_transport:
            self._transport.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __repr__(self) -> str:
        return f"<RemoteModel {self._model_name or '?'} at {self.url}>"


def connect(
    url: str,
    api_key: str | None = None,
    *,
    model: str | None = None,
    timeout: float = 60.0,
    max_retries: int = 5,
    max_backoff_time: float = 30.0,
    max_concurrent_requests: int = 8,
    downsize: bool = False,
    client_id: str | None = None,
) -> RemoteModel:
    """Bind to a running sightline server (``api_key`` defaults to ``$SIGHTLINE_API_KEY``); checks it answers.
    ``client_id``: act as the client that started sessions elsewhere (``model.client_id``), to re-attach to them."""
    import os

    remote = RemoteModel(
        url,
        api_key if api_key is not None else os.environ.get("SIGHTLINE_API_KEY"),
        model=model,
        timeout=timeout,
        max_retries=max_retries,
        max_backoff_time=max_backoff_time,
        max_concurrent_requests=max_concurrent_requests,
        downsize=downsize,
        client_id=client_id,
    )
    _ = remote.info  # fail now, with a clear error, rather than at the first predict
    return remote


# documented and shown as sightline.<name>, where users import them from
RemoteModel.__module__ = "sightline"
connect.__module__ = "sightline"
