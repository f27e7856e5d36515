"""In-memory repositories: copy on load, remember the original, write back on commit.

Keeping the copy as loaded lets the unit of work tell a changed aggregate
from one that was only read, so reading never bumps a version or causes a
conflict, exactly as with a real database.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.domain.ledger import Account, Transfer
from kingdom.domain.shared import Aggregate
from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import (
    AccountRepository,
    ConcurrencyConflict,
    RefreshSessionRepository,
    ResetTokenRepository,
    RoleRepository,
    TransferLog,
    UserRepository,
)

A = TypeVar("A", bound=Aggregate)


def state(aggregate: Aggregate) -> dict[str, object]:
    """An aggregate's persistent state: its attributes minus the pending events."""
    return {name: value for name, value in vars(aggregate).items() if name != "_pending"}


class _Originals:
    """The copies of aggregates as loaded, keyed by id; absent means "added"."""

    def __init__(self) -> None:
        self.originals: dict[str, Aggregate] = {}

    def load(self, table: Mapping[str, A], id: str | None) -> A | None:
        stored = table.get(id) if id is not None else None
        if stored is None:
            return None
        self.originals.setdefault(stored.id, copy.deepcopy(stored))
        return copy.deepcopy(stored)

    def changes(self, table: Mapping[str, A], seen: tuple[A, ...], noun: str) -> list[A]:
        """The seen aggregates to write; raise ConcurrencyConflict if any is stale."""
        changed = []
        for aggregate in seen:
            original = self.originals.get(aggregate.id)
            stored = table.get(aggregate.id)
            if original is None:
                if stored is not None:  # a unique-key violation in a database
                    raise ConcurrencyConflict(f"{noun} {aggregate.id!r} was created concurrently")
            elif state(aggregate) == state(original):
                continue
            elif stored is None or stored.version != aggregate.version:
                raise ConcurrencyConflict(f"{noun} {aggregate.id!r} was changed concurrently")
            changed.append(aggregate)
        return changed

    def write(self, table: dict[str, A], changed: list[A]) -> None:
        """Store ``changed`` (already checked), bumping each version like a database would."""
        for aggregate in changed:
            aggregate.version += 1
            table[aggregate.id] = copy.deepcopy(aggregate)
            self.originals[aggregate.id] = copy.deepcopy(aggregate)


class FakeUserRepository(UserRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self.tracker = _Originals()

    async def _add(self, aggregate: User) -> None:
        pass  # staged by the base class's ``seen``; written on commit

    async def _find(self, id: str) -> User | None:
        return self.tracker.load(self.store.users, id)

    async def _find_by_email(self, email: str) -> User | None:
        match = next((u.id for u in self.store.users.values() if u.email == email), None)
        return self.tracker.load(self.store.users, match)

    async def _find_holders_of_role(self, role_code: str) -> list[User]:
        ids = sorted(u.id for u in self.store.users.values() if role_code in u.role_codes)
        loaded = (self.tracker.load(self.store.users, id) for id in ids)
        return [user for user in loaded if user is not None]


class FakeRoleRepository(RoleRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self.tracker = _Originals()

    async def _add(self, aggregate: Role) -> None:
        pass

    async def _find(self, id: str) -> Role | None:
        return self.tracker.load(self.store.roles, id)

    async def _find_many(self, codes: set[str]) -> list[Role]:
        loaded = (self.tracker.load(self.store.roles, code) for code in sorted(codes))
        return [role for role in loaded if role is not None]


class FakeAccountRepository(AccountRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self.tracker = _Originals()

    async def _add(self, aggregate: Account) -> None:
        pass

    async def _find(self, id: str) -> Account | None:
        return self.tracker.load(self.store.accounts, id)


class FakeTransferLog(TransferLog):
    def __init__(self) -> None:
        self.staged: list[Transfer] = []

    async def add(self, transfer: Transfer) -> None:
        self.staged.append(transfer)


class FakeResetTokenRepository(ResetTokenRepository):
    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store

    async def _add(self, token: ResetToken) -> None:
        pass

    async def _find_by_hash(self, token_hash: str) -> ResetToken | None:
        for token in self.store.reset_tokens.values():
            if token.token_hash == token_hash:
                return copy.deepcopy(token)
        return None

    async def _find_latest_for_user(self, user_id: str) -> ResetToken | None:
        mine = [t for t in self.store.reset_tokens.values() if t.user_id == user_id]
        latest = max(mine, key=lambda token: token.issued_at, default=None)
        return copy.deepcopy(latest)

    async def _list_usable_for_user(self, user_id: str, now: datetime) -> list[ResetToken]:
        stored = self.store.reset_tokens.values()
        return [
            copy.deepcopy(t)
            for t in stored
            if t.user_id == user_id and t.used_at is None and now < t.expires_at
        ]


class FakeRefreshSessionRepository(RefreshSessionRepository):
    """Copies on load, remembering each as loaded, like the aggregate repositories.

    :meth:`changes` then reproduces the SQL adapter's compare-and-set: a
    changed session is written only while the stored token hash is still the
    one it was loaded with.
    """

    def __init__(self, store: InMemoryStore) -> None:
        super().__init__()
        self.store = store
        self.originals: dict[str, RefreshSession] = {}

    async def _add(self, session: RefreshSession) -> None:
        pass  # staged by the base class's ``seen``; written on commit

    async def _find(self, id: str) -> RefreshSession | None:
        return self._load(id)

    async def _find_by_hash(self, token_hash: str) -> RefreshSession | None:
        stored = self.store.refresh_sessions.values()
        return self._load(next((s.id for s in stored if s.token_hash == token_hash), None))

    async def _list_live_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        ids = [
            s.id
            for s in self.store.refresh_sessions.values()
            if s.user_id == user_id and s.revoked_at is None and now < s.expires_at
        ]
        return [session for session in map(self._load, ids) if session is not None]

    def _load(self, id: str | None) -> RefreshSession | None:
        stored = self.store.refresh_sessions.get(id) if id is not None else None
        if stored is None:
            return None
        self.originals.setdefault(stored.id, copy.deepcopy(stored))
        return copy.deepcopy(stored)

    def changes(self) -> list[RefreshSession]:
        """The seen sessions to write; raise ConcurrencyConflict if any is stale or clashes."""
        table = self.store.refresh_sessions
        changed = []
        for session in self.seen:
            original = self.originals.get(session.id)
            stored = table.get(session.id)
            if original is None:
                if stored is not None:  # a primary-key violation in a database
                    raise ConcurrencyConflict(
                        f"{self.noun} {session.id!r} was created concurrently"
                    )
            elif session == original:
                continue
            elif stored is None or stored.token_hash != original.token_hash:
                raise ConcurrencyConflict(f"{self.noun} {session.id!r} was rotated concurrently")
            changed.append(session)
        for session in changed:  # token_hash is unique, as in the table
            for other in table.values():
                if other.token_hash == session.token_hash and other.id != session.id:
                    raise ConcurrencyConflict(f"{self.noun} token hash taken concurrently")
        return changed

    def write(self, changed: list[RefreshSession]) -> None:
        for session in changed:
            self.store.refresh_sessions[session.id] = copy.deepcopy(session)
            self.originals[session.id] = copy.deepcopy(session)
