"""The scrape itself: recorded metrics plus gauges read when Prometheus asks.

The gauges of the connection pool and of the outbox are not recorded on
the way (that would cost every request something) but read at scrape time
from callbacks the composition root gives:

- ``kingdom_db_pool_connections{state="in_use"|"idle"|"overflow"}``: the
  connections of the worker that answers the scrape, its pool's and its
  direct reader's (each worker has its own pool of
  ``KINGDOM_DATABASE_POOL_SIZE``; with several workers this is one of them);
- ``kingdom_outbox_unpublished`` and ``kingdom_outbox_oldest_age_seconds``
  (0 when nothing waits): read from the database, the same whichever worker
  answers. A backlog that cannot be read in :data:`BACKLOG_TIMEOUT` is left
  out of that scrape (and logged), so an outage shows as missing series
  rather than a failed scrape.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from kingdom.entrypoints.http.metrics.multiprocess import multiprocess_directory
from kingdom.entrypoints.http.metrics.peers import PeerAllowList
from kingdom.entrypoints.http.metrics.requests import ROUTES, RequestMetrics
from kingdom.entrypoints.http.responses import OrjsonResponse
from kingdom.services.ports.outbox import Backlog

logger = logging.getLogger("kingdom.entrypoints.http.metrics")

PATH: Final = "/metrics"
BACKLOG_TIMEOUT: Final = 2.0
"""Seconds the outbox backlog may take to read before a scrape goes on without it."""

PoolStats = Callable[[], Mapping[str, float]]
"""Connections by state (``in_use``, ``idle``, ``overflow``): see
:func:`kingdom.adapters.metrics.pool_usage`."""
OutboxBacklog = Callable[[], Awaitable[Backlog]]
"""What waits in the outbox: ``OutboxFeed.backlog``."""

_FORBIDDEN: Final = {
    "errors": [
        {
            "message": "metrics are served only to the addresses in KINGDOM_METRICS_ALLOW",
            "extensions": {"code": "FORBIDDEN"},
        }
    ]
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MetricsEndpoint:
    """``GET /metrics`` for ``create_app(metrics=...)``, and the request metrics it serves.

    ``registry`` holds the metrics this process records (:class:`RequestMetrics`,
    created here, and any others such as
    :class:`~kingdom.adapters.metrics.WorkerMetrics`) and serves them. In
    multiprocess mode (:mod:`.multiprocess`; ``multiprocess`` names the
    directory, found out by itself when not given) it serves what every
    worker wrote to its files instead: the counters and histograms of all
    workers added up. The gauges read at scrape time come on top, either way.

    ``allow``: the addresses and networks that may scrape; others get 403.
    ``pool_stats`` and ``backlog`` feed the scrape-time gauges (left out
    when not given); ``now`` tells the backlog's age.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        allow: Iterable[str],
        pool_stats: PoolStats | None = None,
        backlog: OutboxBacklog | None = None,
        now: Callable[[], datetime] = _utc_now,
        multiprocess: Path | None = None,
    ) -> None:
        self.peers = PeerAllowList(allow)
        if not self.peers:
            raise ValueError("no address may scrape: pass metrics=None to turn /metrics off")
        self.requests = RequestMetrics(registry, routes=ROUTES | {PATH})
        directory = multiprocess if multiprocess is not None else multiprocess_directory()
        self._recorded: Collector = (
            registry if directory is None else MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]
        )
        self._pool_stats = pool_stats
        self._backlog = backlog
        self._now = now

    async def scrape(self, request: Request) -> Response:
        """The Prometheus text format, for an allowed peer."""
        client = request.client
        if not self.peers.allows(client.host if client is not None else None):
            return OrjsonResponse(_FORBIDDEN, status_code=403)
        self.requests.flush()  # this worker's latest requests too
        families = [*self._recorded.collect(), *self._pool_gauges(), *await self._backlog_gauges()]
        return Response(generate_latest(_Families(families)), media_type=CONTENT_TYPE_LATEST)

    def _pool_gauges(self) -> list[Metric]:
        if self._pool_stats is None:
            return []
        try:
            stats = self._pool_stats()
        except Exception:
            logger.warning("metrics: could not read the connection pool", exc_info=True)
            return []
        gauge = GaugeMetricFamily(
            "kingdom_db_pool_connections",
            "Database connections of this worker (its pool and its direct reader), by state"
            " (overflow: beyond the pool size).",
            labels=["state"],
        )
        for state, value in stats.items():
            gauge.add_metric([state], value)
        return [gauge]

    async def _backlog_gauges(self) -> list[Metric]:
        if self._backlog is None:
            return []
        try:
            async with asyncio.timeout(BACKLOG_TIMEOUT):
                backlog = await self._backlog()
        except Exception:
            logger.warning("metrics: could not read the outbox backlog", exc_info=True)
            return []
        age = 0.0
        if backlog.oldest is not None:
            oldest = backlog.oldest
            if oldest.tzinfo is None:  # stored as UTC without a zone
                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (self._now() - oldest).total_seconds())
        return [
            GaugeMetricFamily(
                "kingdom_outbox_unpublished",
                "Events committed to the outbox and not yet published.",
                value=backlog.unpublished,
            ),
            GaugeMetricFamily(
                "kingdom_outbox_oldest_age_seconds",
                "Age of the oldest unpublished event (0 when none waits).",
                value=age,
            ),
        ]


class _Families:
    """The metric families of one scrape, as the collector ``generate_latest`` renders."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families
