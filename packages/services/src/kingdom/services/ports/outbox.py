"""The way out for committed events: the outbox as a feed, and the transport beyond it.

Every committed event is a row in the outbox, written in the transaction that
committed the change it describes. The relay (:mod:`kingdom.services.relay`)
claims a batch of unpublished rows, hands them to an :class:`EventTransport`
(SQS, or the embedded in-process one) and marks what was sent as published.
A relay killed between sending and marking sends again: delivery is
at-least-once, and consumers deduplicate by ``message_id`` (the inbox).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class OutboxMessage:
    """One stored event as it travels: the encoded payload and where it came from."""

    message_id: str
    event_type: str
    """The event codec's stable name, e.g. ``ledger.TransferCompleted``."""
    schema_version: int
    payload: Mapping[str, Any]
    """The event codec's JSON-safe payload (decode with the same codec)."""
    occurred_at: datetime
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    aggregate_version: int | None = None
    position: int = 0
    """Order in the outbox (0 once it left the database: it means nothing elsewhere)."""
    trace_parent: str | None = None
    """W3C ``traceparent`` of the request that caused the event, if known."""
    actor_id: str | None = None
    """The user whose command committed the event, if any."""
    request_id: str | None = None
    """The ``X-Request-ID`` of the request that committed the event, if any."""


@dataclass(frozen=True)
class Backlog:
    """What is waiting in the outbox: how many rows and since when."""

    unpublished: int
    oldest: datetime | None


class ClaimedBatch(ABC):
    """Unpublished messages claimed by one relay until the claim ends.

    Where the feed can lock them (PostgreSQL) no other relay sees them meanwhile.
    """

    messages: Sequence[OutboxMessage]

    @abstractmethod
    async def published(self, message_ids: Collection[str]) -> None:
        """Mark these messages as published; committed when the claim ends normally."""


class OutboxFeed(ABC):
    @abstractmethod
    def claim(self, limit: int) -> AbstractAsyncContextManager[ClaimedBatch]:
        """Hold the oldest ``limit`` unpublished messages (position order) for this relay.

        Several relays may claim at once. On PostgreSQL each gets rows no
        other holds (``FOR UPDATE SKIP LOCKED``); on SQLite claims take no
        lock (see ``kingdom.adapters.sql.outbox_feed``), so two relays on one
        file may both send a row: at-least-once either way. Leaving the block
        with an exception marks nothing.
        """

    @abstractmethod
    async def prune(self, published_before: datetime) -> int:
        """Delete messages published before the given time; how many went."""

    @abstractmethod
    async def backlog(self) -> Backlog: ...


class EventTransport(ABC):
    """Carries outbox messages to the workers (a queue, or straight into this process)."""

    @abstractmethod
    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        """Send ``messages``; return the ids of those that were *not* accepted (to retry).

        Raises for a failure of the whole call (endpoint down, credentials):
        then nothing is known to be sent and the relay backs off.
        """
