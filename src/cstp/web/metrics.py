"""Prometheus metrics, on a registry owned by the app (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _Gauges(Collector):
    """Values read at scrape time (decision count, loaded guardrails)."""

    def __init__(self, sources: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (doc, read) in self._sources.items():
            try:
                value = float(read())
            except Exception:  # a failing dependency must not break the scrape
                continue
            yield GaugeMetricFamily(name, doc, value=value)


class Metrics:
    """The app's metrics, on its own registry (two apps in one process never share counters).

    Thread safety: prometheus_client's metrics lock internally; the registry is read at scrape time
    on a worker thread. Built eagerly by `create_app` (it does no I/O).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "cstp_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.rpc_requests = Counter(
            "cstp_rpc_requests",
            "JSON-RPC calls by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.rpc_latency = Histogram(
            "cstp_rpc_duration_seconds",
            "JSON-RPC call latency by method",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.store_latency = Histogram(
            "cstp_store_duration_seconds",
            "Decision store call latency by operation",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.embed_latency = Histogram(
            "cstp_embed_duration_seconds",
            "Embedding call latency",
            ["purpose"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.embed_batch = Histogram(
            "cstp_embed_batch_size",
            "Texts per embedding call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )

    def observe_rpc(self, method: str | None, outcome: str, seconds: float) -> None:
        name = method or "invalid"
        self.rpc_requests.labels(name, outcome).inc()
        self.rpc_latency.labels(name).observe(seconds)

    def add_gauges(self, sources: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self.registry.register(_Gauges(sources))
