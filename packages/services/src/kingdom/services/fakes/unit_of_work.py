"""An in-memory unit of work with the guarantees handlers rely on from a database.

- Atomic: every check runs before anything is written, so a failed commit
  writes nothing.
- Isolated: handlers work on copies; a rollback (or forgetting to commit)
  leaves the store untouched.
- Optimistic concurrency: writing a record whose guard (an aggregate's
  version, a session's token hash, a reset token's ``used_at``) changed in
  the store since it was loaded, or adding one whose id (or a user's e-mail)
  is already taken, raises :class:`~kingdom.services.ports.ConcurrencyConflict`.

Like the SQL one it names no record type: each repository checks and writes
its own records (:class:`~kingdom.services.fakes.repositories.FakeKeeper`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from kingdom.services.fakes.audit import FakeAuditTrail
from kingdom.services.fakes.idempotency import FakeIdempotencyRecords
from kingdom.services.fakes.inbox import FakeInbox
from kingdom.services.fakes.mail import FakeOutgoingMailbox
from kingdom.services.fakes.repositories import (
    FakeAccountRepository,
    FakeKeeper,
    FakeRefreshSessionRepository,
    FakeResetTokenRepository,
    FakeRoleRepository,
    FakeTransferLog,
    FakeUserRepository,
)
from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import Change, ConcurrencyConflict, UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    users: FakeUserRepository
    roles: FakeRoleRepository
    accounts: FakeAccountRepository
    transfers: FakeTransferLog
    reset_tokens: FakeResetTokenRepository
    sessions: FakeRefreshSessionRepository
    idempotency: FakeIdempotencyRecords
    inbox: FakeInbox
    audit: FakeAuditTrail
    outgoing_mail: FakeOutgoingMailbox

    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self.users = FakeUserRepository(store, self.tracker)
        self.roles = FakeRoleRepository(store, self.tracker)
        self.accounts = FakeAccountRepository(store, self.tracker)
        self.transfers = FakeTransferLog(store, self.tracker)
        self.reset_tokens = FakeResetTokenRepository(store, self.tracker)
        self.sessions = FakeRefreshSessionRepository(store, self.tracker)
        self.idempotency = FakeIdempotencyRecords(store, self.tracker)
        self.inbox = FakeInbox(store, self.tracker)
        self.audit = FakeAuditTrail(store, self.tracker)
        self.outgoing_mail = FakeOutgoingMailbox(store, self.tracker)

    async def _commit(self, changes: Sequence[Change]) -> None:
        store = self.store
        if store.conflicts_to_raise > 0:
            store.conflicts_to_raise -= 1
            raise ConcurrencyConflict("simulated concurrent change")
        written = [change for change in changes if change.write]
        # Check everything first, then write: all or nothing.
        for change in written:
            cast(FakeKeeper, change.keeper).check(change)
        for change in written:
            cast(FakeKeeper, change.keeper).write(change)
        store.outbox.extend(event for change in changes for event in change.events)
        store.commits += 1

    async def _rollback(self) -> None:
        pass  # the store was never touched
