"""How the database connections are used, for the ``kingdom_db_pool_connections`` gauges."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.pool import Pool, QueuePool


class OwnConnections(Protocol):
    """Connections kept outside the pools (the direct reader's, :mod:`kingdom.adapters.sql.direct_reads`)."""

    def connection_usage(self) -> tuple[int, int]:
        """(in use, idle)."""
        ...


def pool_usage(*pools: Pool, direct: OwnConnections | None = None) -> dict[str, float]:
    """Connections ``in_use`` (checked out), ``idle`` (kept open, waiting) and ``overflow``.

    ``overflow`` counts the connections opened beyond the pool size (they
    close again when returned). Several pools add up (SQLite's writer has its
    own); a pool given twice (engines sharing one) counts once. A pool that
    is no queue pool (SQLite in memory, ``NullPool``) has nothing to count.
    The ``direct`` reader's own connections (PostgreSQL) are in ``in_use``
    and ``idle`` too: they come out of the engine's overflow, so every
    connection the worker holds is counted. Reading the numbers takes no
    lock and no I/O.
    """
    in_use = idle = overflow = 0
    for pool in dict.fromkeys(pools):
        if isinstance(pool, QueuePool):
            in_use += pool.checkedout()
            idle += pool.checkedin()
            overflow += max(0, pool.overflow())
    if direct is not None:
        reading, waiting = direct.connection_usage()
        in_use += reading
        idle += waiting
    return {"in_use": in_use, "idle": idle, "overflow": overflow}
