"""The workers' message counters, and the connection pool's usage as the gauges read it."""

from __future__ import annotations

import sqlite3
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.pool import NullPool, QueuePool

from kingdom.adapters.metrics import WorkerMetrics, pool_usage


def connect() -> Any:
    return sqlite3.connect(":memory:")


def messages(registry: CollectorRegistry) -> dict[str, float | None]:
    return {
        outcome: registry.get_sample_value("kingdom_worker_messages_total", {"outcome": outcome})
        for outcome in ("processed", "failed", "redelivered")
    }


def test_each_outcome_is_counted_and_every_series_exists_from_the_start() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)

    assert messages(registry) == {"processed": 0, "failed": 0, "redelivered": 0}

    metrics.processed()
    metrics.processed(9)
    metrics.failed()
    metrics.redelivered(2)

    assert messages(registry) == {"processed": 10, "failed": 1, "redelivered": 2}


def test_separate_registries_count_separately() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    WorkerMetrics(first).failed()
    WorkerMetrics(second)

    assert messages(first)["failed"] == 1
    assert messages(second)["failed"] == 0


def test_pool_usage_counts_checked_out_idle_and_overflow_connections() -> None:
    pool = QueuePool(connect, pool_size=2, max_overflow=2)
    held = [pool.connect() for _ in range(3)]

    assert pool_usage(pool) == {"in_use": 3, "idle": 0, "overflow": 1}
    assert pool_usage(pool, pool) == pool_usage(pool)  # one pool given twice counts once

    for connection in held:
        connection.close()  # back to the pool; the one beyond its size is closed

    assert pool_usage(pool) == {"in_use": 0, "idle": 2, "overflow": 0}
    pool.dispose()


def test_pools_add_up_and_other_pools_count_nothing() -> None:
    reader = QueuePool(connect, pool_size=1, max_overflow=0)
    writer = QueuePool(connect, pool_size=1, max_overflow=0)
    held = [reader.connect(), writer.connect()]

    assert pool_usage(reader, writer, NullPool(connect)) == {
        "in_use": 2,
        "idle": 0,
        "overflow": 0,
    }
    for connection in held:
        connection.close()
    reader.dispose()
    writer.dispose()


class FakeDirectReads:
    def connection_usage(self) -> tuple[int, int]:
        return 2, 1


def test_the_direct_readers_own_connections_count_as_in_use_and_idle() -> None:
    pool = QueuePool(connect, pool_size=2, max_overflow=0)
    held = pool.connect()

    usage = pool_usage(pool, direct=FakeDirectReads())

    assert usage == {"in_use": 3, "idle": 1, "overflow": 0}
    held.close()
    pool.dispose()
