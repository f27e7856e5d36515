"""Login throttle counters in the database, shared by every server process.

One row per key (``account:...`` or ``address:...``). The policy decides
everything (:class:`~kingdom.services.ports.ThrottlePolicy`); this module only
makes each change atomic:

1. ``INSERT ... ON CONFLICT (key) DO UPDATE`` with a no-op update creates the
   row (as a ``failures = 0`` placeholder) or locks the existing one, and
   returns it — on SQLite and PostgreSQL alike;
2. the new counter is computed in Python by the policy, and written back.

Both run in one short transaction of their own, never the login's unit of
work (whose failure rolls back). On PostgreSQL it runs at READ COMMITTED: the
upsert then waits for a concurrent one's row lock and continues from its
committed result, where REPEATABLE READ would fail with a serialization
error; on SQLite ``BEGIN IMMEDIATE`` serialises writers anyway. So N
concurrent failures for one key add exactly N.

Rows whose counters are forgotten (quiet window over since the last failure
and the block) are deleted now and then by the process that writes (every
``prune_every``-th write), so keys sprayed by a bot do not pile up forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kingdom.adapters.sql.engine import Database, Isolation
from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.types import UtcDateTime
from kingdom.services.ports import LoginThrottle, ThrottleCounter, ThrottlePolicy
from kingdom.services.ports.throttling import MAX_KEY_LENGTH

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(MAX_KEY_LENGTH), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UtcDateTime(), nullable=False),
    Column("blocked_until", UtcDateTime(), nullable=True),
    # Serves pruning: "rows quiet since before T".
    Index(None, "last_failure_at"),
)

PRUNE_EVERY = 256
"""Writes between two prunes, per process: rare enough to cost nothing, often enough to bound."""


class SqlLoginThrottle(LoginThrottle):
    def __init__(
        self, database: Database, policy: ThrottlePolicy, *, prune_every: int = PRUNE_EVERY
    ) -> None:
        super().__init__(policy)
        self._reader = database.engine
        self._writer: AsyncEngine = (
            database.writer
            if database.dialect == "sqlite"
            else database.engine.execution_options(isolation_level=Isolation.READ_COMMITTED.value)
        )
        self._insert: Any = sqlite.insert if database.dialect == "sqlite" else postgresql.insert
        self._prune_every = prune_every
        self._writes = 0

    async def load(self, keys: Sequence[str]) -> Sequence[ThrottleCounter]:
        if not keys:
            return []
        async with self._reader.connect() as connection:
            rows = await connection.execute(
                select(login_throttle).where(login_throttle.c.key.in_(keys))
            )
            return [_counter(row) for row in rows]

    async def count_failures(self, keys: Sequence[str], now: datetime) -> None:
        async with self._writer.begin() as connection:
            for key in sorted(keys):  # one lock order for every writer: no deadlocks
                previous = await self._lock(connection, key, now)
                counter = self.policy.after_failure(key, previous, now)
                await connection.execute(
                    update(login_throttle)
                    .where(login_throttle.c.key == key)
                    .values(
                        failures=counter.failures,
                        last_failure_at=counter.last_failure_at,
                        blocked_until=counter.blocked_until,
                    )
                )
        self._writes += 1
        if self._writes % self._prune_every == 0:
            await self.prune(now)

    async def forget(self, key: str) -> None:
        async with self._writer.begin() as connection:
            await connection.execute(delete(login_throttle).where(login_throttle.c.key == key))

    async def prune(self, now: datetime) -> int:
        """Delete every forgotten counter (see ``ThrottlePolicy.is_forgotten``); returns how many."""
        forget_before = self.policy.forget_before(now)
        async with self._writer.begin() as connection:
            result = await connection.execute(
                delete(login_throttle).where(
                    login_throttle.c.last_failure_at <= forget_before,
                    or_(
                        login_throttle.c.blocked_until.is_(None),
                        login_throttle.c.blocked_until <= forget_before,
                    ),
                )
            )
        return int(result.rowcount)

    async def _lock(
        self, connection: AsyncConnection, key: str, now: datetime
    ) -> ThrottleCounter | None:
        """Create (as a placeholder) or lock ``key``'s row; its counter, None if it had none."""
        statement = self._insert(login_throttle).values(
            key=key, failures=0, last_failure_at=now, blocked_until=None
        )
        statement = statement.on_conflict_do_update(
            index_elements=[login_throttle.c.key],
            set_={"failures": login_throttle.c.failures},  # no change: just take the row lock
        ).returning(*login_throttle.c)
        row = (await connection.execute(statement)).one()
        # A placeholder lives only inside this transaction: a committed row has failures >= 1.
        return None if row.failures == 0 else _counter(row)


def _counter(row: Any) -> ThrottleCounter:
    return ThrottleCounter(
        key=row.key,
        failures=row.failures,
        last_failure_at=row.last_failure_at,
        blocked_until=row.blocked_until,
    )
