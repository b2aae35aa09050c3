"""``/metrics`` of ``signstgcn serve`` in the Prometheus text format (``prometheus_client``, the ``[serve]`` extra).

One process: the server's own registry. ``--workers N``: every worker writes its values to the shared folder of
``PROMETHEUS_MULTIPROC_DIR`` (set by :mod:`signstgcn.inference.serve_workers` before it starts them) and whichever
worker answers ``/metrics`` (or ``/health``) reads all of them (``prometheus_client``'s multiprocess mode), so the
figures are the whole server's. Metrics:

- ``signstgcn_streams_open`` (gauge, summed over live workers), ``signstgcn_connections_total{outcome}``
  (``accepted``, ``unauthorized``, ``forbidden``, ``over_cap``);
- ``signstgcn_frames_received_total``, ``signstgcn_frames_answered_total``,
  ``signstgcn_frames_dropped_total{reason}`` (``queue``: the stream's queue was full; ``rate``: over the message
  rate; ``flush``: sent between an ``end`` and its ``ended``; ``drain``: queued at shutdown past its bound);
- ``signstgcn_errors_total{kind}`` (``bad_message``, ``oversized``, ``rate`` (a control message over the rate,
  ignored; ``end`` and ``image_size`` never are), ``slow_reader``, ``idle``, ``replay``, ``naming``);
- ``signstgcn_frame_latency_seconds`` (histogram: a frame's arrival to its result being queued for sending);
- ``signstgcn_model_info{model}`` = 1.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["MULTIPROC_ENV", "ServerMetrics", "metrics_available"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_available() -> bool:
    """Whether ``prometheus_client`` is installed."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class _Null:
    """Stands for a metric when ``prometheus_client`` is missing: every call does nothing."""

    def labels(self, *_: Any, **__: Any) -> _Null:
        return self

    def inc(self, *_: Any) -> None:
        pass

    def dec(self, *_: Any) -> None:
        pass

    def set(self, *_: Any) -> None:
        pass

    def observe(self, *_: Any) -> None:
        pass


class ServerMetrics:
    """The server's Prometheus metrics (see the module docstring); counters only count when the library is there."""

    def __init__(self, model: str) -> None:
        self.enabled = metrics_available()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        if not self.enabled:
            null = _Null()
            self.streams = self.connections = self.frames_received = self.frames_answered = null
            self.frames_dropped = self.errors = self.latency = null
            return
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: start times say nothing here and double the output

        # Multiprocess mode writes to the shared folder (no registry here: the reader collects the files).
        registry = None if self.multiprocess else CollectorRegistry()
        self._registry = registry
        self.streams = Gauge("signstgcn_streams_open", "Streams (WebSocket connections with a stream) open now",
                             registry=registry, multiprocess_mode="livesum")
        self.connections = Counter("signstgcn_connections", "WebSocket handshakes by outcome", ["outcome"],
                                   registry=registry)
        self.frames_received = Counter("signstgcn_frames_received", "Frames received", registry=registry)
        self.frames_answered = Counter("signstgcn_frames_answered", "Frames answered with a result",
                                       registry=registry)
        self.frames_dropped = Counter("signstgcn_frames_dropped", "Frames dropped and reported to their client",
                                      ["reason"], registry=registry)
        self.errors = Counter("signstgcn_errors", "Errors by kind", ["kind"], registry=registry)
        self.latency = Histogram("signstgcn_frame_latency_seconds", "Frame arrival to its result",
                                 buckets=LATENCY_BUCKETS, registry=registry)
        for outcome in ("accepted", "unauthorized", "forbidden", "over_cap"):  # known labels show from the start
            self.connections.labels(outcome=outcome)
        for reason in ("queue", "rate", "flush", "drain"):
            self.frames_dropped.labels(reason=reason)
        for kind in ("bad_message", "oversized", "rate", "slow_reader", "idle", "replay", "naming"):
            self.errors.labels(kind=kind)
        info = Gauge("signstgcn_model_info", "The detector served", ["model"], registry=registry,
                     multiprocess_mode="max")
        info.labels(model=model).set(1)

    def _collecting_registry(self) -> Any:
        if not self.multiprocess:
            return self._registry
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry

    def render(self) -> bytes:
        """The exposition text of every worker's metrics."""
        from prometheus_client import generate_latest

        return generate_latest(self._collecting_registry())

    def totals(self) -> dict[str, float]:
        """``frames_received``, ``frames_answered``, ``dropped`` and ``streams`` over every worker (for ``/health``)."""
        out = {"frames_received": 0.0, "frames_answered": 0.0, "dropped": 0.0, "streams": 0.0}
        names = {"signstgcn_frames_received_total": "frames_received",
                 "signstgcn_frames_answered_total": "frames_answered",
                 "signstgcn_frames_dropped_total": "dropped", "signstgcn_streams_open": "streams"}
        for family in self._collecting_registry().collect():
            for sample in family.samples:
                if sample.name in names:
                    out[names[sample.name]] += sample.value
        return out
