"""An outbox and a transport in memory: the relay's two ports, for tests.

:class:`InMemoryOutbox` claims like SQLite (one claim at a time) and marks
published only when the claim ends normally. :class:`RecordingTransport`
keeps every message sent and can be told to refuse some or to fail outright.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from kingdom.services.ports import Clock
from kingdom.services.ports.outbox import (
    Backlog,
    ClaimedBatch,
    EventTransport,
    OutboxFeed,
    OutboxMessage,
)


@dataclass
class StoredMessage:
    message: OutboxMessage
    published_at: datetime | None = None


class _Batch(ClaimedBatch):
    def __init__(self, messages: Sequence[OutboxMessage]) -> None:
        self.messages = messages
        self.marked: set[str] = set()

    async def published(self, message_ids: Collection[str]) -> None:
        self.marked |= set(message_ids) & {m.message_id for m in self.messages}


class InMemoryOutbox(OutboxFeed):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rows: list[StoredMessage] = []
        self.claims = 0
        self._lock = asyncio.Lock()

    def add(self, *messages: OutboxMessage) -> None:
        """Commit messages to the outbox (positions follow the order added)."""
        for message in messages:
            position = len(self.rows) + 1
            self.rows.append(StoredMessage(replace(message, position=position)))

    def published_ids(self) -> list[str]:
        return [row.message.message_id for row in self.rows if row.published_at is not None]

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[ClaimedBatch]:
        async with self._lock:
            self.claims += 1
            waiting = [row.message for row in self.rows if row.published_at is None][:limit]
            batch = _Batch(waiting)
            yield batch
            now = self.clock.now()
            for row in self.rows:
                if row.message.message_id in batch.marked:
                    row.published_at = now

    async def prune(self, published_before: datetime) -> int:
        kept = [
            row
            for row in self.rows
            if row.published_at is None or row.published_at >= published_before
        ]
        pruned, self.rows = len(self.rows) - len(kept), kept
        return pruned

    async def backlog(self) -> Backlog:
        waiting = [row.message for row in self.rows if row.published_at is None]
        return Backlog(len(waiting), min((m.occurred_at for m in waiting), default=None))


@dataclass
class RecordingTransport(EventTransport):
    """Accepts everything, except ids in ``refuse`` (once each) and calls while ``failures`` > 0."""

    sent: list[OutboxMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    failures: int = 0
    """How many of the next calls raise :class:`TransportDown` before any is accepted."""
    calls: int = 0

    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise TransportDown("the queue is unreachable")
        refused = {m.message_id for m in messages if m.message_id in self.refuse}
        self.refuse -= refused
        self.sent += [m for m in messages if m.message_id not in refused]
        return refused

    def sent_ids(self) -> list[str]:
        return [m.message_id for m in self.sent]


class TransportDown(ConnectionError):
    """What :class:`RecordingTransport` raises for a whole-call failure."""


def messages(count: int, occurred_at: datetime, prefix: str = "m") -> Iterable[OutboxMessage]:
    """``count`` distinct messages, ``m-0001``... for arranging an outbox."""
    for n in range(1, count + 1):
        yield OutboxMessage(
            message_id=f"{prefix}-{n:04d}",
            event_type="test.Happened",
            schema_version=1,
            payload={"n": n},
            occurred_at=occurred_at,
        )
