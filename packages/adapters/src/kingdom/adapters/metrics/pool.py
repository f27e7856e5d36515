"""How a SQLAlchemy connection pool is used, for the ``kingdom_db_pool_connections`` gauges."""

from __future__ import annotations

from sqlalchemy.pool import Pool, QueuePool


def pool_usage(*pools: Pool) -> dict[str, float]:
    """Connections ``in_use`` (checked out), ``idle`` (kept open, waiting) and ``overflow``.

    ``overflow`` counts the connections opened beyond the pool size (they
    close again when returned). Several pools add up (SQLite's writer has its
    own); a pool given twice (engines sharing one) counts once. A pool that
    is no queue pool (SQLite in memory, ``NullPool``) has nothing to count.
    Reading the numbers takes no lock and no I/O.
    """
    in_use = idle = overflow = 0
    for pool in dict.fromkeys(pools):
        if isinstance(pool, QueuePool):
            in_use += pool.checkedout()
            idle += pool.checkedin()
            overflow += max(0, pool.overflow())
    return {"in_use": in_use, "idle": idle, "overflow": overflow}
