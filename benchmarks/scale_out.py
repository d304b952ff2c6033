"""Scale-out on Ray, measured on one local Ray cluster started here. Each part is one function that returns
its figures; run them all, or some: ``python benchmarks/scale_out.py [--parts a,b] [--rounds 3]``.

(a) Model replicas: a fake model whose batch takes a fixed 100 ms and releases the GIL (``time.sleep``, as a
    GPU kernel does), deployed with 1, 2 and 4 replicas side by side; images are sent through the deployment
    handles with enough in flight to fill every replica's batches. Targets: ≥ 1.8× at 2, ≥ 3.2× at 4.
(b) The demo model behind the whole app: Ray Serve (1 HTTP + 1 model replica) against the plain server
    (one uvicorn process), the same client load over HTTP. Target: ≥ 0.90.
(c) A workspace project run with ``upload="iou_merge"``: a Ray Data job (1 and 2 model actors) against the
    single-process session (``engine="local"``), each into a fresh copy of the project. A job's time includes
    starting its actors (each loads the model), not starting the cluster, which a deployment keeps running.

Rounds interleave the variants, in alternating order, so a machine whose load changes affects them alike; the
median round counts. ``paired`` figures are the median of the per-round ratios with a 90% bootstrap interval
(``common.paired``; what the interval covers: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from common import alternating, paired

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BATCH_S = 0.100  # part (a): the fake model's fixed time per batch
BATCH = 8  # images per batch (the deployments' max_batch_size)


def fake_model(name: str, device: str):  # built on the replicas (pickled by value: this script is __main__)
    import supervision as sv

    from sightline.models.base import Model, Task

    class FixedTime(Model):
        """Every batch takes BATCH_S whatever its size, the GIL released: replicas, not cores, are the limit."""

        classes, task, default_settings, input_size, device, framework = ["x"], Task.DETECTION, {}, None, "cpu", "fake"

        def predict_batch(self, images, settings):
            time.sleep(BATCH_S)
            return [sv.Detections.empty() for _ in images]

    model = FixedTime()
    model.name = name
    return model


def _start_ray() -> int:
    """A local cluster and Serve's HTTP proxy on a free port (every part's apps share the one proxy); returns the port.
    The cluster takes the Serve settings ``sightline serve --ray`` gives its own (``SIGHTLINE_RAY_SERVE_TUNED=0``: Serve's defaults)."""
    from sightline.server import ray_ingress
    from sightline.server.ray_serve import start_proxy

    settings = ray_ingress.init(address="local", num_cpus=16, include_dashboard=False, logging_level=logging.WARNING,
                                log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "src")}})
    print(settings.describe(), flush=True)  # the folder goes at exit (ray_ingress registers it)
    port = _free_port()
    start_proxy("127.0.0.1", port)
    return port


def part_a(rounds: int, port: int, seconds: float = 4.0) -> dict[str, float]:
    """Images per second through 1, 2 and 4 replicas of the fixed-time model; ratios to 1 replica."""
    from ray import serve

    from sightline.server.ray_serve import ModelReplica
    from sightline.settings import PredictSettings

    handles = {}
    for n in (1, 2, 4):
        app = serve.deployment(ModelReplica).options(name=f"fixed{n}", num_replicas=n, ray_actor_options={"num_cpus": 1},
                                                     max_ongoing_requests=4 * BATCH).bind(f"fixed{n}", "cpu", BATCH, 0.005, fake_model)
        handles[n] = serve.run(app, name=f"fixed{n}", route_prefix=None)
    call = [np.zeros((32, 32, 3), np.uint8)] * BATCH  # one call is a session's batch, as the HTTP replicas send them
    settings = PredictSettings()

    def rate(handle, replicas: int) -> float:
        """A closed loop of ``4 × replicas`` callers, each sending its next call as soon as its last is answered:
        enough to fill every replica's next batches while one runs, and no caller waits behind another's call
        (a single loop collecting answers in order left a replica idle while the oldest call's replica lagged)."""
        start = time.monotonic()
        end = start + seconds

        def caller() -> int:
            images = 0
            while time.monotonic() < end:
                handle.predict.remote(call, settings).result(timeout_s=60)
                images += len(call)
            return images

        # each caller ends at its first answer after ``end`` (at most one batch later, or the 60 s above); a
        # caller that raises fails the figure instead of quietly lowering it
        with ThreadPoolExecutor(4 * replicas) as pool:
            done = sum(f.result(timeout=seconds + 120) for f in [pool.submit(caller) for _ in range(4 * replicas)])
        return done / (time.monotonic() - start)

    for n, h in handles.items():  # warm-up: every replica up and answering
        rate(h, n)
    measured = alternating(rounds, {str(n): (lambda n=n: rate(handles[n], n)) for n in (1, 2, 4)}, between=lambda: None)
    per = {n: measured[str(n)] for n in (1, 2, 4)}
    for n in (1, 2, 4):
        serve.delete(f"fixed{n}")
    out: dict[str, float] = {}
    for how, pick in (("best", max), ("median", statistics.median)):
        for n in (1, 2, 4):
            out[f"a_{how}_images_per_s_{n}"] = pick(per[n])
        out[f"a_{how}_ratio_2"] = pick(per[2]) / pick(per[1])
        out[f"a_{how}_ratio_4"] = pick(per[4]) / pick(per[1])
    for n in (2, 4):
        out[f"a_paired_ratio_{n}"], out[f"a_paired_low_{n}"], out[f"a_paired_high_{n}"] = paired(per[n], per[1])
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def part_b(rounds: int, port: int, images: int = 48, clients: int = 2) -> dict[str, float]:
    """Demo-model images per second over HTTP: Ray Serve (1 HTTP + 1 model replica) / the plain server."""
    from ray import serve

    import sightline
    from sightline.server import ray_serve
    from sightline.server.config import ServerConfig

    state = tempfile.mkdtemp(prefix="scale-out-b-")
    config = ServerConfig(device="cpu", api_key=None, state_dir=state)
    ray_serve.start(config, ["demo/shapes"], ray_serve.RayOptions(replicas=1, http_replicas=1), port=port)
    ray_url = f"http://127.0.0.1:{port}"
    plain = sightline.deploy("demo/shapes", device="cpu", max_batch_size=BATCH)  # its own process, as Ray's replicas are
    rng = np.random.default_rng(0)
    batch = [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(images)]

    def rate(url: str) -> float:
        models = [sightline.connect(url) for _ in range(clients)]
        start = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda m: m.predict(input=batch, batch_size=BATCH), models))
        elapsed = time.monotonic() - start
        for m in models:
            m.close()
        return clients * images / elapsed

    rate(ray_url), rate(plain.url)  # warm-up
    measured = alternating(rounds, {"ray": lambda: rate(ray_url), "plain": lambda: rate(plain.url)}, between=lambda: None)
    ray_rates, plain_rates = measured["ray"], measured["plain"]
    plain.close()
    serve.delete("sightline")
    out: dict[str, float] = {}
    for how, pick in (("best", max), ("median", statistics.median)):
        r, p = pick(ray_rates), pick(plain_rates)
        out.update({f"b_{how}_ray_images_per_s": r, f"b_{how}_plain_images_per_s": p, f"b_{how}_ratio": r / p})
    out["b_paired_ratio"], out["b_paired_low"], out["b_paired_high"] = paired(ray_rates, plain_rates)
    return out


def _project(ws, name: str, jpegs: list[bytes]) -> int:  # type: ignore[no-untyped-def]
    from sightline.inputs.images import decode_image_bytes

    project = ws.create_project(name)
    dataset = ws.create_dataset(project.id, "images")
    with ws.transaction() as s:
        for k, data in enumerate(jpegs):
            h, w = decode_image_bytes(data).shape[:2]
            ws.new_image_row(s, dataset.id, f"{k:05d}.jpg", w, h, ws.blobs.put(data), len(data))
    return project.id


def part_c(rounds: int, port: int, images: int = 64, counts: tuple[int, ...] = (1, 2)) -> dict[str, float]:
    """Project images per second with uploads: Ray Data jobs of 1 and 2 model actors / a single-process session."""
    import io

    from common import make_images
    from PIL import Image

    import sightline
    from sightline.workspace.store import Workspace

    jpegs = []
    for im in make_images(images):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=90)
        jpegs.append(buf.getvalue())
    folder = Path(tempfile.mkdtemp(prefix="scale-out-c-"))
    ws = Workspace(os.environ.get("SIGHTLINE_BENCH_DATABASE") or folder / "ws", blobs=folder / "blobs")
    model = sightline.load("demo/shapes", device="cpu", workspace=ws)
    cpus = 2.0  # what the jobs may use of the 16 logical CPUs the cluster was given: the machine's cores
    rates: dict[str, list[float]] = {"local": [], **{f"ray{c}": [] for c in counts}}
    for r in range(rounds):
        for key in rates:
            pid = _project(ws, f"round {r} {key} {time.time()}", jpegs)
            start = time.monotonic()
            if key == "local":
                status = model.predict_detached(project_id=pid, upload="iou_merge", batch_size=4).wait_done(3600)
            else:
                c = int(key[3:])  # leave room for decoding and recording beside the model actors
                opts = {"concurrency": c, "model_cpus": max(0.1, min(1.0, (cpus - 0.5) / c))}
                status = model.predict_detached(project_id=pid, upload="iou_merge", engine="ray", batch_size=4,
                                                ray_options=opts).wait_done(3600)
            assert status.done == images and status.failed == 0, status
            rates[key].append(images / (time.monotonic() - start))
    model.close()
    ws.close()
    out: dict[str, float] = {}
    for how, pick in (("best", max), ("median", statistics.median)):
        local = pick(rates["local"])
        out[f"c_{how}_local_images_per_s"] = local
        for c in counts:
            out[f"c_{how}_ray{c}_images_per_s"] = pick(rates[f"ray{c}"])
            out[f"c_{how}_ratio_ray{c}"] = pick(rates[f"ray{c}"]) / local
    return out


PARTS = {"a": part_a, "b": part_b, "c": part_c}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts, e.g. a,b")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SIGHTLINE_PERSIST_SESSIONS", "1")
    port = _start_ray()
    figures: dict[str, float] = {}
    try:
        for name in args.parts.split(","):
            t = time.monotonic()
            part = PARTS[name.strip()](args.rounds, port)
            figures.update(part)
            print(f"part {name}: {time.monotonic() - t:.0f} s: " + ", ".join(f"{k} {v:.2f}" for k, v in part.items()), flush=True)
    finally:
        import ray
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    print(f"cores: {os.cpu_count()}  load average at the end: {os.getloadavg()[0]:.1f}")
    for k, v in figures.items():
        print(f"{k:24s} {v:8.2f}")
    if "a_paired_ratio_2" in figures:
        print("(a, paired) " + ", ".join(f"{n} replicas {figures[f'a_paired_ratio_{n}']:.2f}× [{figures[f'a_paired_low_{n}']:.2f}-"
                                         f"{figures[f'a_paired_high_{n}']:.2f}]" for n in (2, 4)) + " (median of per-round ratios, 90% interval)")
    if "b_paired_ratio" in figures:
        print(f"(b, paired) Ray Serve / plain {figures['b_paired_ratio']:.2f} [{figures['b_paired_low']:.2f}-{figures['b_paired_high']:.2f}]"
              " (median of per-round ratios, 90% interval)")
    for how in ("best", "median"):
        if f"a_{how}_ratio_2" in figures:
            print(f"(a, {how}) 2 replicas {figures[f'a_{how}_ratio_2']:.2f}× (target ≥ 1.8), 4 replicas {figures[f'a_{how}_ratio_4']:.2f}× (target ≥ 3.2)")
        if f"b_{how}_ratio" in figures:
            print(f"(b, {how}) Ray Serve 1 replica / plain server: {figures[f'b_{how}_ratio']:.2f} (target ≥ 0.90)")
        if f"c_{how}_ratio_ray1" in figures:
            print(f"(c, {how}) Ray Data / single process: 1 actor {figures[f'c_{how}_ratio_ray1']:.2f}, "
                  f"2 actors {figures[f'c_{how}_ratio_ray2']:.2f}")


if __name__ == "__main__":
    threading.current_thread().name = "scale-out"
    main()
