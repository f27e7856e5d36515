"""Idempotency records in memory, checked and written by the fake unit of work's commit."""

from __future__ import annotations

from datetime import datetime

from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import Change
from kingdom.services.ports.idempotency import (
    IdempotencyKeyInUse,
    IdempotencyRecord,
    IdempotencyRecords,
)
from kingdom.services.ports.tracking import Tracker


class FakeIdempotencyRecords(IdempotencyRecords):
    """``store.idempotency``, keyed by (scope, key), as the SQL table's primary key."""

    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store

    async def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self.store.idempotency.get((scope, key))

    async def prune(self, before: datetime) -> int:
        # At once rather than on commit: the only caller commits right after.
        table = self.store.idempotency
        old = [at for at, record in table.items() if record.created_at < before]
        for at in old:
            del table[at]
        return len(old)

    def check(self, change: Change) -> None:
        """A key taken since it was looked up (and not the expired record it replaces)."""
        record: IdempotencyRecord = change.record
        stored = self.store.idempotency.get((record.scope, record.key))
        if stored is not None and stored != self.replaces(record):
            raise IdempotencyKeyInUse()

    def write(self, change: Change) -> None:
        record: IdempotencyRecord = change.record
        self.store.idempotency[(record.scope, record.key)] = record
