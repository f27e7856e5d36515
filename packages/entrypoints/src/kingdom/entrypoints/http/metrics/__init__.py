"""``GET /metrics``: Prometheus metrics of the server, for the addresses allowed to scrape them.

- :class:`RequestMetrics` counts and times every HTTP request (fed by the
  access log middleware, which already knows each request's operation,
  status and duration);
- :class:`MetricsEndpoint` answers the scrape: the recorded metrics, plus
  gauges read at scrape time (the connection pool, the outbox backlog);
- :func:`prepare_multiprocess` makes the numbers of several uvicorn workers
  add up (prometheus_client's multiprocess mode).
"""

from kingdom.entrypoints.http.metrics.endpoint import (
    PATH,
    MetricsEndpoint,
    OutboxBacklog,
    PoolStats,
)
from kingdom.entrypoints.http.metrics.multiprocess import (
    multiprocess_directory,
    prepare_multiprocess,
)
from kingdom.entrypoints.http.metrics.peers import PeerAllowList
from kingdom.entrypoints.http.metrics.requests import RequestMetrics

__all__ = [
    "PATH",
    "MetricsEndpoint",
    "OutboxBacklog",
    "PeerAllowList",
    "PoolStats",
    "RequestMetrics",
    "multiprocess_directory",
    "prepare_multiprocess",
]
