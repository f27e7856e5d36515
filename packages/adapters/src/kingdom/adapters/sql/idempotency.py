"""Idempotency records in SQL: one row per (scope, key), written with the effect.

The unit of work hands each staged record to :meth:`SqlIdempotencyRecords.write`
inside its commit transaction. The primary key (scope, key) is what makes a
concurrent repeat safe: on PostgreSQL the second INSERT waits for the first
transaction and then fails (unique violation, or a serialization failure at
REPEATABLE READ); on SQLite writers are serial anyway. Either way the
repeat's transaction is rolled back whole as
:class:`~kingdom.services.ports.idempotency.IdempotencyKeyInUse`, which the
message bus retries and which then finds the first one's record.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, Table, Text, delete, insert, select

from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.records import SqlTransaction
from kingdom.adapters.sql.types import UtcDateTime
from kingdom.services.ports import Change, ConcurrencyConflict
from kingdom.services.ports.idempotency import (
    IdempotencyKeyInUse,
    IdempotencyRecord,
    IdempotencyRecords,
)
from kingdom.services.ports.tracking import Tracker

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(100), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Serves pruning: "records created before T".
    Index(None, "created_at"),
)


class SqlIdempotencyRecords(IdempotencyRecords):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self._transaction = transaction

    async def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        table = idempotency_keys
        result = await self._transaction.execute(
            select(table).where(table.c.scope == scope, table.c.key == key)
        )
        row = result.one_or_none()
        if row is None:
            return None
        return IdempotencyRecord(row.scope, row.key, row.fingerprint, row.result, row.created_at)

    async def prune(self, before: datetime) -> int:
        result = await self._transaction.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def write(self, change: Change) -> None:
        """Insert the staged record (in the commit's transaction), replacing the expired one."""
        record: IdempotencyRecord = change.record
        table = idempotency_keys
        try:
            replaced = self.replaces(record)
            if replaced is not None:
                deleted = await self._transaction.execute(
                    delete(table).where(
                        table.c.scope == replaced.scope,
                        table.c.key == replaced.key,
                        table.c.created_at == replaced.created_at,
                    )
                )
                if getattr(deleted, "rowcount", 1) != 1:  # replaced meanwhile
                    raise IdempotencyKeyInUse()
            await self._transaction.execute(
                insert(table).values(
                    scope=record.scope,
                    key=record.key,
                    fingerprint=record.fingerprint,
                    result=record.result,
                    created_at=record.created_at,
                )
            )
        except IdempotencyKeyInUse:
            raise
        except ConcurrencyConflict as conflict:  # the key, inserted concurrently
            raise IdempotencyKeyInUse() from conflict
