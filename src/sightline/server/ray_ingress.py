"""The Serve settings a local Ray cluster that sightline starts gets, each cluster with ports and files of its own.

Serve's default ingress is a Python proxy actor that relays every request and response, body chunk by body
chunk, to an HTTP replica, and every handle call between deployments goes through Ray's object store: on a
2-core machine that cost a third of the plain server's throughput (docs/benchmarks.md, scale-out (b)). With
``RAY_SERVE_ENABLE_HA_PROXY`` HAProxy (C, bundled with ``ray[serve]``) takes the port and sends each request
straight to an HTTP replica's own server; ``RAY_SERVE_THROUGHPUT_OPTIMIZED`` has the deployments talk over
gRPC; sightline calls its model deployments from session threads, so Serve's router keeps its own event loop
(``RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP``; without it the HTTP replicas fail to start in that mode).

In that mode Serve also binds fixed ports on the machine: HAProxy's stats (8404) and metrics (9101) ports,
and the head node's fallback proxy (8500, 9500), which HAProxy sends requests to while it counts a replica
down. The fallback proxy binds with ``SO_REUSEPORT``, so a second cluster on the machine binds the same
port without an error and the kernel shares its connections between the two: a request for a session of
one cluster could be answered by the other's replicas (a 404; read from Serve's code, not reproduced). So
every cluster started here gets free ports of its
own for all four, a range of its own for the replicas' direct-ingress ports, and a short folder of its own
for HAProxy's config and sockets (HAProxy refuses a socket path over 97 characters, and Serve adds a
56-character node folder).

Ray's background reporting (task events, metrics) is switched off too: nothing reads it without the
dashboard, and it costs CPU on every process of the cluster; and Serve's controller loop runs twice a second
instead of ten times. An idle cluster used 4.7 CPU-seconds per 30 s with the reporting on, 3.7 with both
(docs/scale-out.md).

``SIGHTLINE_RAY_SERVE_TUNED=0`` keeps Serve's defaults. A ``RAY_*`` variable already set wins. A cluster one
joins (``--ray-address``) keeps its operator's settings (docs/scale-out.md says which to set there).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SWITCH = "SIGHTLINE_RAY_SERVE_TUNED"
THROUGHPUT = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}
# a stopping HTTP replica keeps serving this long so that load balancers in front drop it first (30 s by
# default, for cloud ones); HAProxy here hears of it within a second, and a stopping server (SIGTERM) has
# about 15 s before it is killed and leaves its HAProxy behind
DRAIN = {"RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "3"}
QUIET = {
    "RAY_task_events_report_interval_ms": "0",  # no task events to the GCS (the state API's task list)
    "RAY_enable_metrics_collection": "0",  # no metrics to the node agents (nothing scrapes them here)
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",  # the HAProxy manager would parse one log line per request in Python
    # Serve's controller looks at every deployment 10 times a second (its largest idle cost); twice a second
    # halves it, and a dead replica is replaced 0.4 s later at most
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
}
PORTS = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT",
         "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT", "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT")
FILES = {  # HAProxy's files, each put under <folder>/<node id>/ by Serve
    "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": "haproxy.cfg", "RAY_SERVE_HAPROXY_SOCKET_PATH": "admin.sock",
    "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": "server-state", "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": "metrics.sock",
}
RANGE = 100  # direct-ingress HTTP ports per cluster (one per ingress replica, plus the ones found taken), then as many gRPC
RANGE_LOW, RANGE_HIGH = 20000, 32000  # below Linux's ephemeral ports (32768-), beside Ray's worker ports (10002-19999)
SOCKET_MAX = 97  # the longest socket path HAProxy takes
NODE_FOLDER = 57  # "/" + the 56 hex characters of a node id


def tuned() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _range_is_free(low: int) -> bool:
    for port in (low, low + RANGE // 2, low + RANGE, low + 2 * RANGE - 1):  # a sample: a replica that finds one taken tries the next
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                return False
    return True


def port_range() -> int:
    """The first of 2 × RANGE ports for the replicas' own servers, picked at random so that two clusters rarely
    share one (a port found taken is skipped by the replica, but a range of its own keeps a stopped replica's
    port, which HAProxy may still try for a while, from being handed to the other cluster)."""
    blocks = list(range(RANGE_LOW, RANGE_HIGH, 2 * RANGE))
    random.shuffle(blocks)
    return next((b for b in blocks if _range_is_free(b)), blocks[0])


def short_folder() -> Path:
    """A new folder for HAProxy's files whose socket paths stay within HAProxy's limit."""
    base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    folder = Path(tempfile.mkdtemp(prefix="sl-hap-", dir=base))
    longest = len(str(folder)) + NODE_FOLDER + len("/metrics.sock")
    if longest > SOCKET_MAX:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"HAProxy's socket paths under {folder} would be {longest} characters (HAProxy takes {SOCKET_MAX}); "
                           f"set TMPDIR to a shorter folder or {SWITCH}=0")
    return folder


@dataclass
class ClusterSettings:
    """The variables one local cluster is started with, and the folder it owns (removed by ``close``)."""

    env: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None

    def describe(self) -> str:
        if self.env.get("RAY_SERVE_ENABLE_HA_PROXY", os.environ.get("RAY_SERVE_ENABLE_HA_PROXY")) == "1":
            return "ingress: HAProxy straight to the HTTP replicas, gRPC between deployments"
        return f"ingress: Serve's Python proxy ({SWITCH}=0 or the RAY_SERVE_* variables set)"

    def close(self) -> None:
        """After the cluster's shutdown: end an HAProxy that outlived it (one started by a reload as the
        cluster stopped is left orphaned, holding its ports) and remove the folder. Only processes whose
        command line names this cluster's own folder are signalled."""
        if self.folder is None:
            return
        for pid in _processes_naming(str(self.folder)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None


def _processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def plan() -> ClusterSettings:
    """The variables for a new local cluster (none with the switch off); a variable already set is kept."""
    if not tuned():
        return ClusterSettings()
    env: dict[str, str] = {**THROUGHPUT, **DRAIN, **QUIET}
    for name in PORTS:
        env[name] = str(free_port())
    low = port_range()
    env.update({"RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(low), "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(low + RANGE),
                "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(low + RANGE), "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(low + 2 * RANGE)})
    folder = short_folder()
    env["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"] = str(folder)
    env.update({name: str(folder / leaf) for name, leaf in FILES.items()})
    settings = ClusterSettings({k: v for k, v in env.items() if k not in os.environ}, folder)
    atexit.register(settings.close)  # a process that never reaches close(): tests, benchmarks
    return settings


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in this process's environment while the cluster starts (its processes inherit it), then the
    old values back: a server or cluster this process starts later must not inherit this cluster's ports."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def init(**kwargs: object) -> ClusterSettings:
    """``ray.init(**kwargs)`` of a new local cluster with the settings of ``plan``; returns them (``close``
    after ``ray.shutdown``)."""
    import ray

    settings = plan()
    try:
        with environment(settings.env):
            ray.init(**kwargs)  # type: ignore[arg-type]
    except BaseException:
        settings.close()
        raise
    return settings
