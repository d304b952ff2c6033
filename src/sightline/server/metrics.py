"""``/metrics`` for Prometheus, and one structured access-log line per request (logger ``sightline.access``).

Counters and histograms are updated as requests and batches happen; gauges (queue depth, sessions by
state) are read from the server's state at scrape time. Each app has its own registry, so several
servers in one process (tests, ``deploy`` in a thread) never share or collide.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

access_log = logging.getLogger("sightline.access")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _StateCollector(Collector):
    """Gauges read at scrape time: work queued per model, sessions by state, failed items of live sessions."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = GaugeMetricFamily("sightline_queue_depth", "Inference requests waiting for the model", labels=["model"])
        for worker in self.state.models.loaded():
            queue.add_metric([worker.model.name], worker.queued())
        yield queue
        sessions = self.state.sessions.list()
        by_state = Counter(s.status().state.value for s in sessions)
        gauge = GaugeMetricFamily("sightline_sessions", "Sessions the server holds, by state", labels=["state"])
        for name in ("pending", "running", "stopping", "completed", "stopped", "failed", "interrupted"):
            gauge.add_metric([name], by_state.get(name, 0))
        yield gauge
        yield GaugeMetricFamily("sightline_session_failed_items", "Items that failed in the sessions the server holds",
                                value=sum(s.status().failed for s in sessions))


class ServerMetrics:
    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = PromCounter("sightline_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("sightline_http_request_duration_seconds", "Time to answer a request (a stream: its whole life)",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("sightline_batch_size", "Images per forward pass of the model", ["model"], buckets=BATCH_BUCKETS,
                                    registry=self.registry)
        self.images = PromCounter("sightline_predicted_images", "Images the model has predicted", ["model"], registry=self.registry)
        self.batch_failures = PromCounter("sightline_batch_failures", "Forward passes that raised", ["model"], registry=self.registry)
        # a session's failed items are counted by its status (sightline_session_failed_items); a request's here
        self.predict_failures = PromCounter("sightline_predict_failed_items", "Items that failed in POST /v1/predict and the compatible routes",
                                            registry=self.registry)
        self.registry.register(_StateCollector(state))

    def observe_batch(self, model: str, size: int, ok: bool) -> None:
        """Called by each inference worker after a forward pass (on its own thread)."""
        if ok:
            self.batch_size.labels(model).observe(size)
            self.images.labels(model).inc(size)
        else:
            self.batch_failures.labels(model).inc()


STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


def _method_of(scope: dict[str, Any]) -> str:
    """The request's method, or ``OTHER``: any token is a valid method, and each label value makes new series."""
    method = scope["method"]
    return method if method in STANDARD_METHODS else "OTHER"


def _route_of(scope: dict[str, Any]) -> str:
    """The route's template (``/v1/sessions/{session_id}``), so labels stay few whatever the URLs."""
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


class AccessMiddleware:
    """Plain ASGI (streams pass through untouched): counts, times and logs every HTTP request once it ends."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering
        noted = False

        def note() -> None:
            nonlocal noted
            noted = True
            seconds = time.perf_counter() - started
            method, route = _method_of(scope), _route_of(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(seconds)
            client = scope.get("client") or ("-", 0)
            fields = {"method": scope["method"][:32], "path": scope["path"][:512], "status": status, "duration_ms": round(seconds * 1000, 1), "client": client[0]}
            access_log.info(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"access": fields})

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and not noted:
                note()  # before the last bytes leave: a client that has its answer finds it counted
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            if not noted:  # the app raised, or the client went away mid-stream
                note()


def install_metrics(app: FastAPI, state: Any, require_key: Any) -> ServerMetrics:
    """Serve ``GET /metrics`` (behind the API key when one is set), log each request, and observe every batch."""
    metrics = ServerMetrics(state)
    state.models.batch_observer = metrics.observe_batch
    state.predict_failures = metrics.predict_failures.inc
    app.add_middleware(AccessMiddleware, metrics=metrics)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_key)])
    def prometheus_metrics(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
