"""``kingdom_token_state_checks_total{source}``: where each request's token state came from."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter

CACHE: Final = "cache"
DATABASE: Final = "database"


class TokenStateMetrics:
    """Counts token state checks by source: ``cache`` or ``database``.

    Counted by :class:`~kingdom.adapters.identity.token_state_cache.TokenStateCache`,
    so on PostgreSQL only (SQLite reads every time and counts nothing). The
    hit ratio says how much the cache saves; ``database`` alone, under load,
    says the listener is down or its checks are slow.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        checks = Counter(
            "kingdom_token_state_checks_total",
            "Token state checks of authenticated requests, by source "
            "(cache: vouched for by the notification listener; database: read).",
            ["source"],
            registry=registry,
        )
        self._cache = checks.labels(CACHE)
        self._database = checks.labels(DATABASE)

    def cached(self) -> None:
        self._cache.inc()

    def read(self) -> None:
        self._database.inc()
