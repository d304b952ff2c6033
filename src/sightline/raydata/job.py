"""``RayDataJob``: a project-scale run as a Ray Data pipeline, driven from this process as a sightline session.

    blobs ──read+decode (tasks)──► images ──map_batches(Predict, concurrency, batch_size, num_gpus)──►
          results ──map_batches(Record)──► one transaction per image: its upload and its result row

The driver (this process) only counts what the last stage reports; results are read back by cursor from
the session tables, where any server on the same database reads them too. Threads: the *driver* thread
runs the job and ends when it is final; the *pump* thread pulls the pipeline's output and ends at its end
or at the first batch after a stop (closing the iterator shuts the pipeline's actors down); the
*heartbeat* thread renews the lease every few seconds and ends with the driver.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import socket
import threading
import time
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from sightline.engine.status import SessionState, SessionStatus
from sightline.errors import InvalidSettingError
from sightline.prediction import Prediction
from sightline.raydata.ledger import Ledger, request_stop
from sightline.settings import PredictSettings
from sightline.upload_result import ImageUpload
from sightline.workspace.schema import StoredResult

log = logging.getLogger("sightline.raydata")

STOP_JOIN_S = 30.0  # how long stop() waits for the driver to write the final state
_END = object()
DECODE_CPUS = 0.25  # Ray's CPU count reserved per decode task and per recording actor
RECORD_CPUS = 0.1
READ_PAGE = 64  # results read from the database at once
COUNT_EVERY_S = 0.5  # how often the driver reads the job's progress from the database


@dataclass
class RayOptions:
    """How the pipeline runs. ``address``: a cluster to join (``ray.init(address=...)``); ``None`` joins the
    one this process started already, else starts a local one (``num_cpus`` of this machine's).
    ``concurrency``: model actors (an int, or ``(min, max)`` to autoscale); ``num_gpus``: per model actor
    (``None``: 1 when the cluster has GPUs, else 0); ``model_cpus``: Ray CPUs reserved per model actor;
    ``record_concurrency``: actors writing uploads;
    ``block_size``: images per block read from the workspace."""

    address: str | None = None
    num_cpus: int | None = None
    concurrency: int | tuple[int, int] = 1
    num_gpus: float | None = None
    model_cpus: float = 1.0
    record_concurrency: int = 2
    block_size: int = 32

    @classmethod
    def parse(cls, value: Any) -> RayOptions:
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidSettingError(f"ray_options must be a dict, got {value!r}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidSettingError(f"unknown ray_options {unknown}; accepted: {', '.join(sorted(known))}")
        opts = cls(**value)
        c = opts.concurrency
        if not (isinstance(c, int) and c >= 1 or isinstance(c, (tuple, list)) and len(c) == 2 and all(isinstance(v, int) and v >= 1 for v in c)):
            raise InvalidSettingError(f"ray_options concurrency must be an int ≥ 1 or (min, max), got {c!r}")
        opts.concurrency = c if isinstance(c, int) else (int(c[0]), int(c[1]))
        for name in ("record_concurrency", "block_size"):
            v = getattr(opts, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidSettingError(f"ray_options {name} must be an integer ≥ 1, got {v!r}")
        if not isinstance(opts.model_cpus, (int, float)) or opts.model_cpus <= 0:
            raise InvalidSettingError(f"ray_options model_cpus must be a number > 0, got {opts.model_cpus!r}")
        if opts.num_gpus is not None and (not isinstance(opts.num_gpus, (int, float)) or opts.num_gpus < 0):
            raise InvalidSettingError(f"ray_options num_gpus must be a number ≥ 0, got {opts.num_gpus!r}")
        return opts


def ensure_ray(options: RayOptions) -> None:
    """Join or start the cluster once per process; it ends with the process (Ray's own exit hook)."""
    import ray
    import ray._private.auto_init_hook
    import ray.data

    # a pipeline thread still winding down after ray.shutdown() must not start a new cluster by itself
    ray._private.auto_init_hook.enable_auto_connect = False
    if not ray.is_initialized():
        # never "whatever cluster this machine ran last" (Ray's default): the one named, or a new one of our own
        address = options.address or os.environ.get("RAY_ADDRESS") or "local"
        kwargs: dict[str, Any] = {"address": address, "include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
        if address == "local" and options.num_cpus:
            kwargs["num_cpus"] = options.num_cpus
        ray.init(**kwargs)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the session reports progress; the driver's stderr stays quiet
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _pool(concurrency: int | tuple[int, int]) -> Any:
    """An actor pool of a fixed size, or autoscaling between ``(min, max)`` actors."""
    import ray.data

    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=concurrency)


def _check_room(resources: dict[str, float], opts: RayOptions, gpus: float) -> None:
    """Refuse a pipeline the cluster cannot place (Ray Data would wait for it forever)."""
    actors = opts.concurrency if isinstance(opts.concurrency, int) else opts.concurrency[0]
    cpus = actors * opts.model_cpus + opts.record_concurrency * RECORD_CPUS + DECODE_CPUS
    have_cpu, have_gpu = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    if cpus > have_cpu + 1e-9 or actors * gpus > have_gpu + 1e-9:
        raise InvalidSettingError(
            f"the cluster has {have_cpu:g} CPUs and {have_gpu:g} GPUs; {actors} model actors of {opts.model_cpus:g} CPU"
            f"{f' and {gpus:g} GPU' if gpus else ''} each, the recorders and decoding need {cpus:g} CPUs"
            f"{f' and {actors * gpus:g} GPUs' if gpus else ''}: lower ray_options concurrency or model_cpus")


def job_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:ray:{uuid.uuid4().hex[:8]}"


@dataclass
class JobSpec:
    """What the job runs: the images (``(meta, blob digest)``, in input order), the model and where to write."""

    images: list[tuple[dict[str, Any], str]]
    model: Any  # a zoo name or checkpoint path (loaded by each actor), or a ``Model`` object (sent to each)
    model_name: str
    settings: PredictSettings
    database: str  # the workspace's URL: the actors open it themselves
    blobs: str  # the blob store's location (a folder every node sees, or an fsspec URL)
    blob_options: dict[str, Any] = field(default_factory=dict)  # its file system's options (an S3 endpoint...)
    upload: dict[str, Any] | None = None  # {"mode", "threshold", "run_id"}
    description: str = ""
    definition: dict[str, Any] = field(default_factory=dict)


class RayDataJob:
    """One Ray Data job as a session runner: ``status``, ``results`` by cursor, ``wait``, ``stop``, ``join``."""

    def __init__(self, ledger: Ledger, spec: JobSpec, options: RayOptions, uploader: Any = None, *, resumed: bool = False) -> None:
        self.ledger, self.spec, self.options, self.uploader = ledger, spec, options, uploader
        self.id = ledger.sid
        self._resumed = resumed
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._state = SessionState.PENDING
        self._done = self._failed = self._before = 0
        self._error: str | None = None
        self._traceback: str | None = None
        self._started = self._ended = None  # type: float | None
        self._driver: threading.Thread | None = None
        self._page: tuple[int, list[Prediction]] = (0, [])  # the last page read, for readers going one by one
        self.context = {"model": spec.model_name, "input": spec.description, "settings": spec.settings.to_dict(),
                        "engine": "ray", "session_id": self.id, "upload": (spec.upload or {}).get("mode")}

    # --- control ---------------------------------------------------------------------------------
    def start(self) -> RayDataJob:
        with self._cond:
            self._state = SessionState.RUNNING
            self._started = time.monotonic()
        self._driver = threading.Thread(target=self._drive, name="sightline-ray-driver", daemon=True)
        self._driver.start()
        return self

    def stop(self) -> None:
        """Stop at once: the recorders refuse every result from now on; the driver then ends the job ``stopped``."""
        with self._cond:
            if self._state.is_final:
                return
            self._state = SessionState.STOPPING
            self._cond.notify_all()
        try:
            request_stop(self.ledger.engine, self.id)
        finally:
            self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._driver is not None:
            self._driver.join(timeout)
        return self.status().state.is_final

    # --- reading ---------------------------------------------------------------------------------
    def status(self) -> SessionStatus:
        with self._cond:
            end = self._ended or time.monotonic()
            elapsed = end - self._started if self._started else 0.0
            rate = (self._done - self._before) / elapsed if elapsed > 0 else 0.0
            total = len(self.spec.images)
            eta = None if self._state.is_final or rate == 0 else (total - self._done) / rate
            return SessionStatus(self._state, self._done, total, self._failed, rate, elapsed, eta, self._error, self._traceback,
                                 dict(self.context))

    def results(self, after: int = 0, limit: int | None = None) -> list[Prediction]:
        """Recorded results from cursor ``after`` (their order is the order they were recorded in).
        Read a page at a time: iterating a session asks for one result after another."""
        with self._cond:
            start, page = self._page
        if limit is not None and start <= after and after + limit <= start + len(page):
            return page[after - start:after + limit]
        want = None if limit is None else max(limit, READ_PAGE)
        q = select(StoredResult.data).where(StoredResult.session_id == self.id, StoredResult.position >= after)
        if want is not None:
            q = q.where(StoredResult.position < after + want)
        with self.ledger.engine.connect() as c:
            rows = c.execute(q.order_by(StoredResult.position)).scalars().all()
        got = [Prediction.from_dict(json.loads(zlib.decompress(d))) for d in rows]
        with self._cond:
            self._page = (after, got)  # recorded results never change: a page stays true
        return got if limit is None else got[:limit]

    def wait(self, after: int, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._done > after or self._state.is_final, timeout)

    def __len__(self) -> int:
        return len(self.spec.images)

    # --- the driver ------------------------------------------------------------------------------
    def _drive(self) -> None:
        final, error, tb = SessionState.COMPLETED, None, None
        beat = threading.Thread(target=self._heartbeat, name="sightline-ray-heartbeat", daemon=True)
        try:
            done, failed, ids = self.ledger.done()
            with self._cond:
                self._done = self._before = done
                self._failed = failed
                self._cond.notify_all()
            todo = [(k, meta, digest) for k, (meta, digest) in enumerate(self.spec.images) if meta.get("image_id") not in ids]
            beat.start()
            if todo and not self._stop.is_set():
                self._run(todo)
            if self._stop.is_set():
                final = SessionState.STOPPED
        except Exception as exc:
            final, error, tb = SessionState.FAILED, f"{exc.__class__.__name__}: {exc}", traceback.format_exc()
            log.error("ray job %s failed", self.id, exc_info=True)
        finally:
            self._finish(final, error, tb)

    def _run(self, todo: list[tuple[int, dict[str, Any], str]]) -> None:
        import ray.data

        from sightline.raydata.stages import Predict, Record, decode

        ensure_ray(self.options)
        spec, opts = self.spec, self.options
        rows = [{"index": k, "meta": json.dumps(meta), "hash": digest} for k, meta, digest in todo]
        blocks = max(1, math.ceil(len(rows) / opts.block_size))
        gpus = opts.num_gpus if opts.num_gpus is not None else (1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0)
        _check_room(ray.cluster_resources(), opts, gpus)
        ds: Any = ray.data.from_items(rows, override_num_blocks=blocks)
        # decoding and recording wait on storage and the database more than on a core: a fraction of a CPU each,
        # so that on a small machine the model actors get the cores
        blob_options = json.dumps(spec.blob_options)
        ds = ds.map_batches(decode, fn_kwargs={"blobs": spec.blobs, "blob_options": blob_options}, batch_size=min(opts.block_size, 16), batch_format="numpy",
                            num_cpus=DECODE_CPUS)
        ds = ds.map_batches(Predict, fn_constructor_kwargs={"model": spec.model, "settings": spec.settings, "device": "cuda" if gpus else "cpu"},
                            num_cpus=opts.model_cpus, compute=_pool(opts.concurrency), batch_size=spec.settings.batch_size, num_gpus=gpus or None, batch_format="numpy")
        ds = ds.map_batches(Record, fn_constructor_kwargs={"database": spec.database, "blobs": spec.blobs, "blob_options": blob_options, "sid": self.id,
                                                           "owner": self.ledger.owner, "upload": spec.upload,
                                                           "lease": self.ledger.lease},
                            compute=_pool(opts.record_concurrency), batch_size=spec.settings.batch_size, batch_format="numpy",
                            num_cpus=RECORD_CPUS)
        out: queue.Queue = queue.Queue(maxsize=4)
        pump = threading.Thread(target=self._pump, args=(ds, out), name="sightline-ray-pump", daemon=True)
        pump.start()
        while not self._stop.is_set():
            try:
                batch = out.get(timeout=0.1)
            except queue.Empty:
                continue
            if batch is _END:
                return
            if isinstance(batch, BaseException):
                raise batch
            self._count(batch)

    def _pump(self, ds: Any, out: queue.Queue) -> None:
        """Pull the pipeline's output; stop pulling at the first batch after a stop (which shuts it down)."""
        it = iter(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
        try:
            for batch in it:
                while not self._stop.is_set():
                    try:
                        out.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    break
            out.put(_END)
        except BaseException as exc:  # noqa: BLE001 (handed to the driver, which fails the job with it)
            if not self._stop.is_set():
                out.put(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def _count(self, batch: dict[str, Any]) -> None:
        recorded = batch["position"] >= 0
        if not recorded.all():  # refused: the job was stopped (from here or from another process) or taken over
            self._stop.set()
        if self.uploader is not None:
            for ok, up in zip(recorded, batch["upload"]):
                parsed = json.loads(up)
                if ok and parsed is not None:
                    self.uploader.totals.add(ImageUpload(**{k: parsed[k] for k in ("added", "replaced", "skipped_duplicates", "failed", "error")}))
        # the counts themselves come from the database (the heartbeat): a block's rows were recorded one by one

    def _heartbeat(self) -> None:
        """Every ``COUNT_EVERY_S``: the counts from the database (results are recorded one by one, while the
        pipeline hands the driver whole blocks); every third of a lease: renew it. A stop asked by another
        process (state ``stopping``) or a takeover stops the driver."""
        renew_every = max(0.2, min(5.0, self.ledger.lease / 3))
        renewed = time.monotonic()
        while not self._stop.wait(COUNT_EVERY_S):
            try:
                done, failed = self.ledger.counts()
                with self._cond:
                    if done > self._done:
                        self._done, self._failed = done, failed
                        self._cond.notify_all()
                if time.monotonic() - renewed < renew_every:
                    continue
                state = self.ledger.renew()
                renewed = time.monotonic()
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("ray job %s: reading its counts or renewing its lease failed", self.id, exc_info=True)
                continue
            if state != SessionState.RUNNING.value:
                log.info("ray job %s: %s; stopping", self.id, "taken over" if state is None else f"now {state}")
                with self._cond:
                    if not self._state.is_final:
                        self._state = SessionState.STOPPING
                self._stop.set()

    def _finish(self, final: SessionState, error: str | None, tb: str | None) -> None:
        """Counts from the database (exact: nothing commits after a stop), the run record, then the final state."""
        try:
            done, failed, _ = self.ledger.done()
        except Exception:  # noqa: BLE001 (the driver's counts stand in)
            done, failed = self._done, self._failed
        with self._cond:
            self._done, self._failed, self._error, self._traceback = done, failed, error, tb
        status = self.status()
        status.state = final
        if self.uploader is not None:
            try:
                self.uploader.finish(status)
            except Exception as exc:  # noqa: BLE001
                final, error, tb = SessionState.FAILED, f"finishing the run record failed: {exc}", traceback.format_exc()
        try:
            self.ledger.finish(final, error, tb)
        except Exception:  # noqa: BLE001 (its lease lapses: a resume or a server sees it as interrupted)
            log.error("ray job %s: could not write its final state", self.id, exc_info=True)
        with self._cond:
            self._state, self._error, self._traceback = final, error, tb
            self._ended = time.monotonic()
            self._cond.notify_all()
        self._stop.set()  # ends the heartbeat and the pump
