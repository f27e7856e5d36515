"""The outbox as the relay's feed: claim unpublished rows, mark them published, prune.

* PostgreSQL: a claim is one write transaction on ``database.writer``, held
  while the relay sends. ``SELECT ... FOR UPDATE SKIP LOCKED`` locks the
  rows claimed, and a concurrent relay skips them and claims the next ones,
  so no row is published twice in one round (several relays interleave, so
  order holds per relay, not across them). The ``published_at`` stamps are
  written inside the claim and commit when it ends normally; an exception
  rolls them back.
* SQLite: holding its one write lock across the send would stall every
  command for the send's duration, and deadlock the embedded default, whose
  in-process workers write while the relay sends. So the rows are read
  without a lock and stamped in a short write transaction after the send.
  Two relays on one SQLite file (two uvicorn workers) may then send a row
  twice, never lose one: the consumers' inbox makes the repeat harmless.

Outages surface as :class:`~kingdom.services.outages.Unavailable` (see
:mod:`.outages`), lock trouble as
:class:`~kingdom.services.ports.ConcurrencyConflict`: the relay backs off
from either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.errors import translated_errors
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.system import SystemClock
from kingdom.services.ports import Clock
from kingdom.services.ports.outbox import Backlog, ClaimedBatch, OutboxFeed, OutboxMessage

PRUNE_CHUNK = 1000
"""Rows deleted per transaction: short enough not to hold SQLite's writer for long."""

_MARK_CHUNK = 500  # ids per UPDATE: well below either driver's bound-parameter limit


class SqlOutboxFeed(OutboxFeed):
    def __init__(
        self, database: Database, clock: Clock | None = None, *, prune_chunk: int = PRUNE_CHUNK
    ) -> None:
        self._database = database
        self._clock = clock or SystemClock()
        self._prune_chunk = prune_chunk

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[ClaimedBatch]:
        query = (
            select(outbox)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.position)
            .limit(limit)
        )
        if self._database.dialect != "postgresql":
            async with translated_errors(), self._database.reader.connect() as reading:
                rows = (await reading.execute(query)).mappings().all()
            batch = _SqlBatch([_message(row) for row in rows], self._clock)
            yield batch
            async with translated_errors(), self._database.writer.begin() as connection:
                await batch.stamp(connection)
            return
        async with (
            translated_errors(),
            self._database.writer.connect() as connection,
            connection.begin(),
        ):
            rows = (
                (await connection.execute(query.with_for_update(skip_locked=True))).mappings().all()
            )
            batch = _SqlBatch([_message(row) for row in rows], self._clock)
            yield batch
            await batch.stamp(connection)

    async def prune(self, published_before: datetime) -> int:
        oldest = (
            select(outbox.c.position)
            .where(outbox.c.published_at.is_not(None), outbox.c.published_at < published_before)
            .order_by(outbox.c.position)
            .limit(self._prune_chunk)
        )
        statement = delete(outbox).where(outbox.c.position.in_(oldest.scalar_subquery()))
        pruned = 0
        while True:
            async with translated_errors(), self._database.writer.begin() as connection:
                deleted = (await connection.execute(statement)).rowcount or 0
            pruned += deleted
            if deleted < self._prune_chunk:
                return pruned

    async def backlog(self) -> Backlog:
        query = select(func.count(), func.min(outbox.c.occurred_at)).where(
            outbox.c.published_at.is_(None)
        )
        async with translated_errors(), self._database.reader.connect() as connection:
            unpublished, oldest = (await connection.execute(query)).one()
        return Backlog(int(unpublished), oldest)


class _SqlBatch(ClaimedBatch):
    """The claimed messages; what the relay marks published is stamped when the claim ends."""

    def __init__(self, messages: Sequence[OutboxMessage], clock: Clock) -> None:
        self.messages = messages
        self._clock = clock
        self._claimed = {message.message_id for message in messages}
        self._published: set[str] = set()

    async def published(self, message_ids: Collection[str]) -> None:
        # Only what this claim holds: any other row may be another relay's.
        self._published.update(self._claimed.intersection(message_ids))

    async def stamp(self, connection: AsyncConnection) -> None:
        ids = sorted(self._published)
        statement = (
            update(outbox)
            .where(
                outbox.c.message_id.in_(bindparam("ids", expanding=True)),
                outbox.c.published_at.is_(None),  # SQLite: another relay's stamp stands
            )
            .values(published_at=self._clock.now())
        )
        for start in range(0, len(ids), _MARK_CHUNK):
            await connection.execute(statement, {"ids": ids[start : start + _MARK_CHUNK]})


def _message(row: RowMapping) -> OutboxMessage:
    return OutboxMessage(
        message_id=row["message_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        payload=row["payload"],
        occurred_at=row["occurred_at"],
        aggregate_type=row["aggregate_type"],
        aggregate_id=row["aggregate_id"],
        aggregate_version=row["aggregate_version"],
        position=row["position"],
        trace_parent=row["trace_parent"],
        actor_id=row["actor_id"],
        request_id=row["request_id"],
    )
