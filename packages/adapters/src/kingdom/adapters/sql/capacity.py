"""Pool sizing that cannot exceed the server: checked once, at start-up.

Every uvicorn worker has its own pool: ``pool_size`` connections kept open
and as many again in a burst, a few of those the direct reader's own (see
:func:`~kingdom.adapters.sql.engine.create_database`).
All of them together, plus a reserve for everything else that connects
(migrations, administrators, monitoring, a second deployment during a
rollout), must fit under PostgreSQL's ``max_connections`` minus its
``superuser_reserved_connections``; otherwise a burst after a recovery ends
in "sorry, too many clients already".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from kingdom.adapters.sql.engine import Database

RESERVE_FRACTION = 10
"""Percent of ``max_connections`` kept free for other clients (at least :data:`RESERVE_MIN`)."""
RESERVE_MIN = 5


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int
    superuser_reserved: int = 0

    @property
    def reserve(self) -> int:
        """Connections left to everything but this server's workers."""
        return max(RESERVE_MIN, -(-self.max_connections * RESERVE_FRACTION // 100))

    @property
    def usable(self) -> int:
        """Connections this server's workers may use together."""
        return self.max_connections - self.superuser_reserved - self.reserve


def connections_per_worker(pool_size: int) -> int:
    """The most one worker's pool opens: ``pool_size`` kept plus as many in overflow."""
    return 2 * pool_size


class PoolTooLarge(ValueError):
    """The workers' pools together could take more connections than the server allows."""

    def __init__(self, workers: int, pool_size: int, limits: ServerLimits) -> None:
        needed = workers * connections_per_worker(pool_size)
        fits = max(0, limits.usable // (2 * workers))
        advice = (
            f"lower KINGDOM_DATABASE_POOL_SIZE (at most {fits} with {workers} worker(s)) "
            "or KINGDOM_WORKERS"
            if fits
            else f"lower KINGDOM_WORKERS (not even a pool of 1 fits {workers} workers)"
        )
        super().__init__(
            f"KINGDOM_WORKERS={workers} x (KINGDOM_DATABASE_POOL_SIZE={pool_size} kept + "
            f"{pool_size} overflow) = {needed} connections, but the database allows "
            f"{limits.usable} (max_connections {limits.max_connections} - "
            f"{limits.superuser_reserved} superuser-reserved - {limits.reserve} kept in "
            f"reserve): {advice}, or raise the server's max_connections"
        )
        self.needed = needed
        self.limits = limits


def check_pool_fits(workers: int, pool_size: int, limits: ServerLimits) -> None:
    """Raise :class:`PoolTooLarge` unless ``workers`` pools of ``pool_size`` fit under ``limits``."""
    if workers * connections_per_worker(pool_size) > limits.usable:
        raise PoolTooLarge(workers, pool_size, limits)


async def server_limits(database: Database) -> ServerLimits | None:
    """PostgreSQL's connection limits; ``None`` on SQLite, which has none."""
    if database.dialect != "postgresql":
        return None
    async with database.reader.connect() as connection:
        max_connections: str = (await connection.execute(text("SHOW max_connections"))).scalar_one()
        reserved: str = (
            await connection.execute(text("SHOW superuser_reserved_connections"))
        ).scalar_one()
    return ServerLimits(int(max_connections), int(reserved))


async def ensure_pool_fits(database: Database, workers: int, pool_size: int) -> None:
    """:func:`check_pool_fits` against the server behind ``database`` (nothing on SQLite)."""
    limits = await server_limits(database)
    if limits is not None:
        check_pool_fits(workers, pool_size, limits)
