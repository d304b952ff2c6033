"""sightline as a Ray Serve application: the same FastAPI app (``create_app``, compatibility layers included)
as the ingress deployment, and each model a deployment of its own that batches with ``@serve.batch``.

```
clients ──HTTP──► Serve proxy ──► HttpIngress × H (create_app) ──handle──► ModelReplica × M (@serve.batch)
                                        │                                     (one per model name)
                                        └── sessions: the shared session database (leases, queued items)
```

The HTTP replicas share sessions through the database (``shared_sessions``; see docs/scale-out.md), so a
request for a session may land on any of them. Needs ``pip install "sightline-cv[ray]"``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray import serve

from sightline.engine.worker import InferenceWorker, Result
from sightline.errors import ConflictError, InputError, NotFoundError
from sightline.server import ray_ingress
from sightline.server.config import ServerConfig
from sightline.server.manager import ModelManager
from sightline.server.serve_worker import ServeWorker
from sightline.settings import PredictSettings

log = logging.getLogger("sightline.server")

INFO_TIMEOUT_S = 600.0  # a model replica's first answer: it loads its weights first
PROXY_START_TRIES = 3
HTTP_MAX_ONGOING = 256  # requests one HTTP replica holds at once: event streams and long polls stay open
local_cluster: ray_ingress.ClusterSettings | None = None  # the settings of the local cluster ``start`` began, if any


@dataclass
class RayOptions:
    """How the application is laid out on the cluster (``sightline serve --ray`` and ``deploy(ray=True)``)."""

    replicas: int = 1  # model replicas per model (ignored with autoscale)
    autoscale: tuple[int, int] | None = None  # (min, max) model replicas, scaled on ongoing requests
    http_replicas: int = 1  # replicas of the FastAPI app
    address: str | None = None  # an existing cluster ("auto", "ray://head:10001"); None starts a local one
    # per model replica: Ray places replicas by it and gives the model as many threads (OMP_NUM_THREADS,
    # which torch follows); None: ``replica_cpus``
    num_cpus: float | None = None
    num_gpus: float | None = None  # per model replica; None: 1 when the cluster has a GPU, else 0
    http_num_cpus: float = 0.5  # per HTTP replica
    app_name: str = "sightline"


def parse_autoscale(text: str) -> tuple[int, int]:
    """``"MIN:MAX"`` → ``(MIN, MAX)``; ``InputError`` naming the value otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text or "")
    if not match:
        raise InputError(f"--autoscale takes MIN:MAX replicas (e.g. 1:4), got {text!r}")
    low, high = int(match[1]), int(match[2])
    if low < 0 or high < 1 or low > high:
        raise InputError(f"--autoscale needs 0 <= MIN <= MAX and MAX >= 1, got {text!r}")
    return low, high


def replica_cpus(options: RayOptions, models: int, cores: int | None = None) -> float:
    """CPUs per model replica: ``options.num_cpus`` when given; on a local cluster, the machine's cores shared
    out among its model replicas (at least 1 each); on an existing cluster, 1 (set it to the node's share).

    Ray sets an actor's ``OMP_NUM_THREADS`` to its CPUs, and torch runs that many threads: with 1, a lone
    replica on this 2-core machine used one core where the plain server's model uses both."""
    if options.num_cpus is not None:
        if not 0 < options.num_cpus < math.inf:  # NaN and infinity too
            raise InputError(f"CPUs per model replica must be a number more than 0, got {options.num_cpus:g}")
        return options.num_cpus
    if options.address is not None:
        return 1.0
    replicas = max(1, models) * (options.autoscale[1] if options.autoscale else options.replicas)
    return float(max(1, (cores or os.cpu_count() or 1) // max(1, replicas)))


def deployment_name(model: str) -> str:
    """A Serve deployment name for a model name (``#`` is Serve's own separator; ``/`` reads badly in its logs)."""
    return "model-" + re.sub(r"[^A-Za-z0-9_.-]", "_", model)


def calls_size(calls: list[tuple[list[Any], PredictSettings, int]]) -> int:
    """The size Serve gives a batch of ``ModelReplica`` calls: their images, a call counting at least 1 and at
    most a whole pass (its third item), so a call larger than a pass runs in a batch of its own (the worker
    splits it into passes) instead of being refused by Serve."""
    return sum(min(max(1, len(images)), cap) for images, _, cap in calls)


class ModelReplica:
    """One replica of a model: the model behind its own ``InferenceWorker`` (which isolates an image the model
    raises on), fed by ``@serve.batch`` with the images of every caller."""

    def __init__(self, name: str, device: str, max_batch_size: int, batch_wait_s: float,
                 loader: Callable[[str, str], Any] | None = None) -> None:
        from sightline.models.zoo import load_model

        model = (loader or load_model)(name, device)
        model.name = name
        self.max_batch_size = max_batch_size
        self.worker = InferenceWorker(model, max_batch_size, batch_wait_ms=0.0)  # Serve has batched already
        self._batch.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]  # serve.batch adds these
        self._batch.set_batch_wait_timeout_s(batch_wait_s)  # type: ignore[attr-defined]

    def info(self) -> dict[str, Any]:
        m = self.worker.model
        return {"name": m.name, "classes": list(m.classes), "task": m.task.value if hasattr(m.task, "value") else str(m.task),
                "default_settings": dict(m.default_settings), "input_size": list(m.input_size) if m.input_size else None,
                "device": str(m.device), "framework": m.framework, "max_batch_size": self.max_batch_size, "pid": os.getpid()}

    async def predict(self, images: list[Any], settings: PredictSettings) -> list[Result]:
        """The results of one caller's images (a session's batch, or one image), in order; Serve gathers
        concurrent calls into one ``_batch``. A list per call, not an image: each Serve request costs the
        caller, the router and the replica about a millisecond of Python, which on small machines capped a
        replica far below its model's speed (docs/benchmarks.md, scale-out (a))."""
        return await self._batch((images, settings, self.max_batch_size))

    # max_batch_size counts images (calls_size), as the plain server's worker does: a Serve batch is one forward
    # pass, so each caller is answered when its own pass ends, not when every call gathered with it has run
    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.003, batch_size_fn=calls_size)  # sizes set in __init__
    async def _batch(self, calls: list[tuple[list[Any], PredictSettings, int]]) -> list[list[Result]]:
        out: list[list[Result]] = [[] for _ in calls]
        groups: list[tuple[PredictSettings, list[int]]] = []  # calls with equal settings share forward passes
        for i, (_, settings, _) in enumerate(calls):
            for s, idx in groups:
                if s == settings:
                    idx.append(i)
                    break
            else:
                groups.append((settings, [i]))
        for settings, idx in groups:  # on a thread: the replica's event loop keeps taking requests meanwhile
            images = [im for i in idx for im in calls[i][0]]
            # the worker runs them in passes of at most max_batch_size images, and fails only an image that raised
            results = await asyncio.to_thread(self.worker.predict, images, settings)
            at = 0
            for i in idx:
                n = len(calls[i][0])
                out[i], at = results[at:at + n], at + n
        return out

    def __del__(self) -> None:
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.close(timeout=5)


class ServeModelManager(ModelManager):
    """The models of an HTTP replica: the application's model deployments, each behind a ``ServeWorker``.
    Which models exist is the deployment's choice, so loading another, uploading one or unloading one is refused."""

    def __init__(self, handles: dict[str, Any], config: ServerConfig) -> None:
        super().__init__(max(1, len(handles)), config.max_batch_size, config.batch_wait_ms)
        self.handles = handles

    def load(self, name: str, device: str = "auto") -> InferenceWorker:
        with self._lock:
            if name in self._workers:
                self._workers.move_to_end(name)
                return self._workers[name]
        handle = self.handles.get(name)
        if handle is None:
            raise NotFoundError(f"model {name!r} is not deployed on this Ray Serve application (deployed: "
                                f"{', '.join(self.handles) or 'none'}); deploy it with --model")
        info = handle.info.remote().result(timeout_s=INFO_TIMEOUT_S)
        return self.attach(ServeWorker(handle, info))  # type: ignore[arg-type]

    def add(self, model: Any, make_default: bool = False) -> InferenceWorker:
        raise ConflictError("on Ray Serve every model is a deployment of the application: deploy it with --model "
                            "(a model cannot be added to one HTTP replica)", 409)

    def unload(self, name: str) -> None:
        raise ConflictError("on Ray Serve the models are the application's deployments: scale or redeploy the application "
                            "instead of unloading one", 409)

    def unload_all(self) -> list[str]:
        """At this replica's shutdown: stop using the deployments (they stay up for the other replicas)."""
        with self._lock:
            workers = list(self._workers.items())
            self._workers.clear()
        for _, w in workers:
            w.close()
        return [n for n, _ in workers]


class HttpIngress:
    """One HTTP replica: ``create_app`` built on the replica (never pickled), its models behind Serve handles."""

    def __init__(self, config: ServerConfig, handles: dict[str, Any]) -> None:
        self._config, self._handles = config, handles

    async def __serve_build_asgi_app__(self) -> Any:
        return await asyncio.to_thread(self._build)  # loads the models' descriptions: blocking calls, off the loop

    def _build(self) -> Any:
        from sightline.server.app import create_app

        manager = ServeModelManager(self._handles, self._config)
        for name in self._handles:
            manager.load(name)
        manager.default = self._config.model
        return create_app(self._config, manager=manager, load_default=False)


def gpus_per_replica(options: RayOptions) -> float:
    """``options.num_gpus``, or 1 when the cluster has a GPU and 0 otherwise."""
    if options.num_gpus is not None:
        return options.num_gpus
    import ray

    return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def build_application(config: ServerConfig, models: list[str], options: RayOptions,
                      loader: Callable[[str, str], Any] | None = None) -> Any:
    """The Serve application: ``HttpIngress`` bound to one ``ModelReplica`` deployment per model name.

    ``config`` is the server's (limits, workspace, state folder); its sessions are shared by the HTTP
    replicas through the session database. ``loader(name, device)`` replaces the zoo (tests, benchmarks)."""
    if not models:
        raise InputError("give at least one model to deploy")
    if options.http_replicas < 1 or options.replicas < 1:
        raise InputError(f"replicas must be at least 1, got {options.replicas} model and {options.http_replicas} HTTP replicas")
    config = dataclasses.replace(config, model=models[0], shared_sessions=True)
    # ``start`` resolves it for a local cluster; given (ray_entry), it is checked
    cpus = replica_cpus(options, len(models)) if options.num_cpus is not None else 1.0
    gpus = gpus_per_replica(options)
    scaling: dict[str, Any] = ({"autoscaling_config": {"min_replicas": options.autoscale[0], "max_replicas": options.autoscale[1],
                                                       "target_ongoing_requests": config.max_batch_size}}
                               if options.autoscale else {"num_replicas": options.replicas})
    handles = {}
    for name in models:
        deployment = serve.deployment(ModelReplica).options(  # type: ignore[attr-defined]  # a class gives a Deployment
            name=deployment_name(name), ray_actor_options={"num_cpus": cpus, "num_gpus": gpus},
            max_ongoing_requests=4 * config.max_batch_size,  # enough waiting images to fill the next batch
            **scaling,
        )
        handles[name] = deployment.bind(name, "auto" if config.device == "auto" and gpus else config.device,
                                        config.max_batch_size, config.batch_wait_ms / 1000, loader)
    ingress = serve.deployment(serve.ingress()(HttpIngress)).options(  # type: ignore[attr-defined]
        name="http", num_replicas=options.http_replicas, ray_actor_options={"num_cpus": options.http_num_cpus},
        max_ongoing_requests=HTTP_MAX_ONGOING,
    )
    return ingress.bind(config, handles)


def prepare_database(config: ServerConfig) -> None:
    """Bring the session database to the current schema once, here, before the replicas open it together
    (two processes migrating one database at once would both try to create the tables)."""
    if config.workspace:
        from sightline.workspace.store import Workspace

        Workspace(config.workspace).close()
    elif config.state_dir and config.persist_sessions:
        from pathlib import Path

        from sightline.server.session_db import _sqlite_engine
        from sightline.workspace import migrate

        engine = _sqlite_engine(Path(config.state_dir) / "sessions.db")
        migrate.upgrade(engine)
        engine.dispose()


def start_proxy(host: str, port: int) -> None:
    """``serve.start`` with Serve's HTTP proxy on ``host:port``; Serve gives the proxy 60 s to start, which a
    loaded machine may need more than, so it is tried again."""
    import ray

    for attempt in range(PROXY_START_TRIES):
        try:
            serve.start(http_options={"host": host, "port": port})
            return
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            if attempt == PROXY_START_TRIES - 1:
                raise
            log.warning("Serve's HTTP proxy did not start within its 60 s; trying again")


def start(config: ServerConfig, models: list[str], options: RayOptions, host: str = "127.0.0.1", port: int = 8000,
          loader: Callable[[str, str], Any] | None = None) -> Any:
    """Connect to (or start) the Ray cluster, start Serve's proxy on ``host:port`` and run the application.

    Sessions need a database every HTTP replica reaches: the workspace's, or ``config.state_dir`` (a SQLite
    file: one machine only). Without either, a temp folder of this process's is used (local clusters)."""
    import ray

    global local_cluster
    cpus = replica_cpus(options, len(models))
    options = dataclasses.replace(options, num_cpus=cpus)
    if not ray.is_initialized():
        # "local": a cluster of this process's own, never another one found on this machine
        kwargs: dict[str, Any] = {"address": options.address or "local", "include_dashboard": False, "logging_level": logging.WARNING}
        if options.address is None:  # a local cluster: room for every replica (logical CPUs, not cores)
            need = options.http_replicas * options.http_num_cpus + cpus * len(models) * (
                options.autoscale[1] if options.autoscale else options.replicas)
            kwargs["num_cpus"] = max(os.cpu_count() or 1, int(need + 1.5))
            # Serve's throughput settings, with ports and HAProxy files of this cluster's own (ray_ingress)
            local_cluster = ray_ingress.init(**kwargs)
            log.info(local_cluster.describe())
        else:
            ray.init(**kwargs)
    if not config.workspace and not config.state_dir:
        config = dataclasses.replace(config, state_dir=tempfile.mkdtemp(prefix="sightline-ray-state-"))
    prepare_database(config)
    start_proxy(host, port)
    return serve.run(build_application(config, models, options, loader), name=options.app_name, route_prefix="/",
                     logging_config={"log_level": "WARNING"})


def run_forever(config: ServerConfig, models: list[str], options: RayOptions, host: str, port: int) -> None:
    """``sightline serve --ray``: run until SIGTERM or Ctrl+C, then shut Serve down (and a local cluster with it)."""
    import ray

    ended = threading.Event()
    start(config, models, options, host, port)
    # after ray.init, which installs Ray's own SIGTERM handler: it aborts the process, so the cluster (and
    # its HAProxy, which then outlives it holding its ports) was never shut down
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: ended.set())
    print(f"sightline on Ray Serve: http://{host}:{port} ({options.http_replicas} HTTP replicas; models: {', '.join(models)})", flush=True)
    try:
        ended.wait()
    finally:
        serve.delete(options.app_name)
        if options.address is None:
            serve.shutdown()
            ray.shutdown()
            if local_cluster is not None:
                local_cluster.close()
