"""The audit trail in memory, checked and written by the fake unit of work's commit."""

from __future__ import annotations

from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import Change, ConcurrencyConflict
from kingdom.services.ports.audit import AuditEntry, AuditTrail
from kingdom.services.ports.tracking import Tracker


class FakeAuditTrail(AuditTrail):
    """``store.audit``, keyed by message id (the SQL table's primary key)."""

    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store

    async def _find(self, message_id: str) -> AuditEntry | None:
        return self.store.audit.get(message_id)  # frozen: no copy needed

    def check(self, change: Change) -> None:
        entry: AuditEntry = change.record
        if entry.message_id in self.store.audit:
            raise ConcurrencyConflict(f"{self.noun} {entry.message_id!r} was added concurrently")

    def write(self, change: Change) -> None:
        entry: AuditEntry = change.record
        self.store.audit[entry.message_id] = entry
