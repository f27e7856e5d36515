"""The inbox in SQL: one row per (message_id, handler) a worker handler processed.

The unit of work hands each staged entry to :meth:`SqlInbox.write` inside its
commit transaction, with the handler's effects. The primary key is what makes
two concurrent deliveries safe: on PostgreSQL the second INSERT waits for the
first transaction and then fails (unique violation, or a serialization
failure at REPEATABLE READ); on SQLite writers are serial anyway and the
second one's lookup already sees the row. The failure is a
:class:`~kingdom.services.ports.ConcurrencyConflict` (see
:mod:`kingdom.adapters.sql.errors`): the whole transaction rolls back and the
consumer's retry finds the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, Table, delete, exists, insert, select

from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.records import SqlTransaction
from kingdom.adapters.sql.types import UtcDateTime
from kingdom.services.ports import Change
from kingdom.services.ports.inbox import Inbox, InboxEntry
from kingdom.services.ports.tracking import Tracker

inbox = Table(
    "inbox",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("handler", String(200), primary_key=True),
    Column("processed_at", UtcDateTime(), nullable=False),
    # Serves pruning: "entries processed before T".
    Index(None, "processed_at"),
)

_INSERT = insert(inbox)


class SqlInbox(Inbox):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self._transaction = transaction

    async def _contains(self, message_id: str, handler: str) -> bool:
        found = await self._transaction.execute(
            select(exists().where(inbox.c.message_id == message_id, inbox.c.handler == handler))
        )
        return bool(found.scalar())

    async def prune(self, before: datetime) -> int:
        result = await self._transaction.execute(delete(inbox).where(inbox.c.processed_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def write(self, change: Change) -> None:
        """Insert the staged entry (in the commit's transaction)."""
        entry: InboxEntry = change.record
        await self._transaction.execute(
            _INSERT,
            {
                "message_id": entry.message_id,
                "handler": entry.handler,
                "processed_at": entry.processed_at,
            },
        )
