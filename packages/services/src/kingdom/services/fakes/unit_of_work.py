"""An in-memory unit of work with the guarantees handlers rely on from a database.

- Atomic: every check runs before anything is written, so a failed commit
  writes nothing.
- Isolated: handlers work on copies; a rollback (or forgetting to commit)
  leaves the store untouched.
- Optimistic concurrency: writing an aggregate whose version is stale, or
  adding one whose id (or a user's e-mail) is already taken, raises
  :class:`~kingdom.services.ports.ConcurrencyConflict`; each write bumps the version.
  A refresh session is compared by its token hash instead (it has no version):
  writing one whose stored hash changed since it was loaded conflicts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from kingdom.domain.identity import User
from kingdom.domain.shared import Event
from kingdom.services.fakes.repositories import (
    FakeAccountRepository,
    FakeRefreshSessionRepository,
    FakeResetTokenRepository,
    FakeRoleRepository,
    FakeTransferLog,
    FakeUserRepository,
)
from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import ConcurrencyConflict, UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    users: FakeUserRepository
    roles: FakeRoleRepository
    accounts: FakeAccountRepository
    transfers: FakeTransferLog
    reset_tokens: FakeResetTokenRepository
    sessions: FakeRefreshSessionRepository

    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self._fresh_repositories()

    def _fresh_repositories(self) -> None:
        self.users = FakeUserRepository(self.store)
        self.roles = FakeRoleRepository(self.store)
        self.accounts = FakeAccountRepository(self.store)
        self.transfers = FakeTransferLog()
        self.reset_tokens = FakeResetTokenRepository(self.store)
        self.sessions = FakeRefreshSessionRepository(self.store)

    async def _commit(self, events: Sequence[Event]) -> None:
        store = self.store
        if store.conflicts_to_raise > 0:
            store.conflicts_to_raise -= 1
            raise ConcurrencyConflict("simulated concurrent change")
        # Check everything first, then write: all or nothing.
        users = self.users.tracker.changes(store.users, self.users.seen, "user")
        roles = self.roles.tracker.changes(store.roles, self.roles.seen, "role")
        accounts = self.accounts.tracker.changes(store.accounts, self.accounts.seen, "account")
        sessions = self.sessions.changes()
        self._check_unique_emails(users)
        for transfer in self.transfers.staged:
            if transfer.id in store.transfers:
                raise ConcurrencyConflict(f"transfer {transfer.id!r} already exists")

        self.users.tracker.write(store.users, users)
        self.roles.tracker.write(store.roles, roles)
        self.accounts.tracker.write(store.accounts, accounts)
        for transfer in self.transfers.staged:
            store.transfers[transfer.id] = transfer
        self.transfers.staged.clear()
        for token in self.reset_tokens.seen:
            store.reset_tokens[token.id] = copy.deepcopy(token)
        self.sessions.write(sessions)
        store.outbox.extend(events)
        store.commits += 1

    async def _rollback(self) -> None:
        # The store was never touched; forgetting what was loaded or staged is enough.
        self._fresh_repositories()

    def _check_unique_emails(self, changed: list[User]) -> None:
        for user in changed:
            for other in self.store.users.values():
                if other.email == user.email and other.id != user.id:
                    raise ConcurrencyConflict(f"e-mail {user.email!r} was taken concurrently")
