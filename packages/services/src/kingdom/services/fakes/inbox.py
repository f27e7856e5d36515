"""The inbox in memory, checked and written by the fake unit of work's commit."""

from __future__ import annotations

from datetime import datetime

from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import Change, ConcurrencyConflict
from kingdom.services.ports.inbox import Inbox, InboxEntry
from kingdom.services.ports.tracking import Tracker


class FakeInbox(Inbox):
    """``store.inbox``, keyed by (message_id, handler), as the SQL table's primary key."""

    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store

    async def _contains(self, message_id: str, handler: str) -> bool:
        return (message_id, handler) in self.store.inbox

    async def prune(self, before: datetime) -> int:
        # At once rather than on commit, like the fake idempotency records.
        table = self.store.inbox
        old = [key for key, entry in table.items() if entry.processed_at < before]
        for key in old:
            del table[key]
        return len(old)

    def check(self, change: Change) -> None:
        """Another delivery of the message committed this handler's entry first."""
        entry: InboxEntry = change.record
        if (entry.message_id, entry.handler) in self.store.inbox:
            raise ConcurrencyConflict(
                f"{self.noun} {entry.message_id!r} / {entry.handler!r} was added concurrently"
            )

    def write(self, change: Change) -> None:
        entry: InboxEntry = change.record
        self.store.inbox[(entry.message_id, entry.handler)] = entry
