"""Prometheus metrics that more than one entry point records (the HTTP server, the workers).

The metric objects write into a ``prometheus_client`` registry the
composition root creates and scrapes (``GET /metrics`` in
:mod:`kingdom.entrypoints.http.metrics`); nothing here keeps global state.
"""

from kingdom.adapters.metrics.pool import pool_usage
from kingdom.adapters.metrics.worker import WorkerMetrics

__all__ = ["WorkerMetrics", "pool_usage"]
