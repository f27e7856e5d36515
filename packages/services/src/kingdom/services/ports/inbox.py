"""The inbox: which handler already processed which delivered message.

Delivery from the outbox to the workers is at-least-once (a relay killed
between sending and marking sends again; SQS redelivers what a worker did not
acknowledge), so a worker handler must tell a redelivery from a new message.
:class:`~kingdom.services.consumers.Consumer` does it with this record: it
stages an :class:`InboxEntry` in the unit of work the handler commits, so the
entry exists exactly when the handler's effects do. A redelivery finds the
entry and is skipped; two deliveries racing both stage one, and the loser's
commit fails on the (message_id, handler) key as a
:class:`~kingdom.services.ports.ConcurrencyConflict` and is retried, finding
the winner's entry.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.shared import Conflict
from kingdom.services.ports.tracking import Keeper


@dataclass(frozen=True)
class InboxEntry:
    """``handler`` processed message ``message_id`` (and committed) at ``processed_at``."""

    message_id: str
    handler: str
    """The handler's stable name (module and qualified name): part of the key."""
    processed_at: datetime


class Inbox(Keeper[InboxEntry]):
    """The entries in one unit of work: looked up now, added on commit, never changed."""

    noun = "inbox entry"

    def add(self, entry: InboxEntry) -> None:
        """Stage ``entry`` for the commit.

        Adding one this unit of work already holds is a :class:`Conflict`;
        one stored by a concurrent transaction surfaces at commit as a
        :class:`~kingdom.services.ports.ConcurrencyConflict`.
        """
        if self._key(entry) in self._seen:
            raise Conflict(f"{self.noun} for {entry.message_id!r} / {entry.handler!r} exists")
        self._stage(entry)

    async def contains(self, message_id: str, handler: str) -> bool:
        """Whether ``handler`` processed ``message_id`` (stored, or staged here)."""
        if _key(message_id, handler) in self._seen:
            return True
        return await self._contains(message_id, handler)

    def changed(self, record: InboxEntry) -> bool:
        return False  # written once, when added

    def stored(self, record: InboxEntry) -> None:
        pass

    def _key(self, record: InboxEntry) -> str:
        return _key(record.message_id, record.handler)

    @abstractmethod
    async def _contains(self, message_id: str, handler: str) -> bool: ...

    @abstractmethod
    async def prune(self, before: datetime) -> int:
        """Delete the entries processed before ``before``; returns how many.

        A redelivery of a pruned message runs its handlers again, so keep
        entries longer than anything can be redelivered (the queue's retention).
        In the unit of work's transaction (the fake deletes at once).
        """


def _key(message_id: str, handler: str) -> str:
    return f"{message_id}\n{handler}"
