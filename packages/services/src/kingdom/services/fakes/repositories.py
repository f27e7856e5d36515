"""In-memory repositories: copy on load, remember the original, write back on commit.

Keeping the copy as loaded lets the unit of work tell a changed record from
one that was only read, so reading never bumps a version or causes a
conflict, exactly as with a real database. Each repository checks and writes
its own records (:class:`FakeKeeper`); the unit of work only asks.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.domain.ledger import Account, Transfer
from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.ports import (
    AccountRepository,
    Change,
    ConcurrencyConflict,
    RefreshSessionRepository,
    ResetTokenRepository,
    RoleRepository,
    Tracker,
    TransferLog,
    UserRepository,
)

R = TypeVar("R")


def state(record: object) -> dict[str, object]:
    """A record's persistent state: its attributes minus an aggregate's pending events."""
    return {name: value for name, value in vars(record).items() if name != "_pending"}


class Copies(Generic[R]):
    """One store table as a repository sees it: copy on load, remember the copy as loaded.

    ``guard`` names the attribute a write compares with the stored record
    (``version`` for aggregates; ``None``: the whole record, for records
    without a version): a stored value other than the one loaded means
    someone else wrote it first, as the SQL compare-and-set would find.
    """

    def __init__(self, table: dict[str, R], noun: str, guard: str | None = "version") -> None:
        self.table = table
        self.noun = noun
        self.guard = guard
        self.originals: dict[str, R] = {}

    def load(self, id: str | None) -> R | None:
        stored = self.table.get(id) if id is not None else None
        if stored is None:
            return None
        key = getattr(stored, "id")  # noqa: B009
        self.originals.setdefault(key, copy.deepcopy(stored))
        return copy.deepcopy(stored)

    def changed(self, record: R) -> bool:
        original = self.originals.get(getattr(record, "id"))  # noqa: B009
        return original is None or state(record) != state(original)

    def check(self, change: Change) -> None:
        """Raise ConcurrencyConflict if writing ``change`` would lose someone else's write."""
        key = getattr(change.record, "id")  # noqa: B009
        stored = self.table.get(key)
        if change.new:
            if stored is not None:  # a primary-key violation in a database
                raise ConcurrencyConflict(f"{self.noun} {key!r} was created concurrently")
            return
        original = self.originals[key]
        if stored is None or (
            state(stored) != state(original)
            if self.guard is None
            else getattr(stored, self.guard) != getattr(original, self.guard)
        ):
            raise ConcurrencyConflict(f"{self.noun} {key!r} was changed concurrently")

    def write(self, change: Change) -> None:
        stored = copy.deepcopy(change.record)
        if change.version is not None:
            stored.version = change.version
        self.table[getattr(stored, "id")] = stored  # noqa: B009

    def stored(self, record: R) -> None:
        self.originals[getattr(record, "id")] = copy.deepcopy(record)  # noqa: B009


class FakeKeeper(Protocol):
    """What :class:`~kingdom.services.fakes.FakeUnitOfWork` asks of each fake repository."""

    def check(self, change: Change) -> None: ...

    def write(self, change: Change) -> None: ...


class FakeUserRepository(UserRepository):
    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store
        self.copies = Copies(store.users, self.noun)

    def changed(self, record: User) -> bool:
        return self.copies.changed(record)

    def stored(self, record: User) -> None:
        self.copies.stored(record)

    def check(self, change: Change) -> None:
        self.copies.check(change)
        user = change.record
        for other in self.store.users.values():
            if other.email == user.email and other.id != user.id:  # a unique index
                raise ConcurrencyConflict(f"e-mail {user.email!r} was taken concurrently")

    def write(self, change: Change) -> None:
        self.copies.write(change)

    async def _add(self, aggregate: User) -> None:
        pass  # registered by the base class; written on commit

    async def _find(self, id: str) -> User | None:
        return self.copies.load(id)

    async def _find_by_email(self, email: str) -> User | None:
        match = next((u.id for u in self.store.users.values() if u.email == email), None)
        return self.copies.load(match)

    async def _find_holders_of_role(self, role_code: str) -> list[User]:
        ids = sorted(u.id for u in self.store.users.values() if role_code in u.role_codes)
        loaded = (self.copies.load(id) for id in ids)
        return [user for user in loaded if user is not None]


class _Kept(Generic[R]):
    """Delegates the unit of work's questions to the repository's :class:`Copies`."""

    copies: Copies[R]

    def changed(self, record: R) -> bool:
        return self.copies.changed(record)

    def stored(self, record: R) -> None:
        self.copies.stored(record)

    def check(self, change: Change) -> None:
        self.copies.check(change)

    def write(self, change: Change) -> None:
        self.copies.write(change)


class FakeRoleRepository(_Kept[Role], RoleRepository):
    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store
        self.copies = Copies(store.roles, self.noun)

    async def _add(self, aggregate: Role) -> None:
        pass

    async def _find(self, id: str) -> Role | None:
        return self.copies.load(id)

    async def _find_many(self, codes: set[str]) -> list[Role]:
        loaded = (self.copies.load(code) for code in sorted(codes))
        return [role for role in loaded if role is not None]


class FakeAccountRepository(_Kept[Account], AccountRepository):
    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store
        self.copies = Copies(store.accounts, self.noun)

    async def _add(self, aggregate: Account) -> None:
        pass

    async def _find(self, id: str) -> Account | None:
        return self.copies.load(id)


class FakeTransferLog(_Kept[Transfer], TransferLog):
    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store
        self.copies = Copies(store.transfers, self.noun, guard=None)

    @property
    def staged(self) -> list[Transfer]:
        return list(self.seen)

    def changed(self, record: Transfer) -> bool:
        return False  # a value: appended once, never changed


class FakeResetTokenRepository(_Kept[ResetToken], ResetTokenRepository):
    """A redeemed or voided token is written only if it is still stored as loaded."""

    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store
        self.copies = Copies(store.reset_tokens, self.noun, guard=None)

    async def _add(self, token: ResetToken) -> None:
        pass

    async def _find_by_hash(self, token_hash: str) -> ResetToken | None:
        stored = self.store.reset_tokens.values()
        return self.copies.load(next((t.id for t in stored if t.token_hash == token_hash), None))

    async def _find_latest_for_user(self, user_id: str) -> ResetToken | None:
        mine = [t for t in self.store.reset_tokens.values() if t.user_id == user_id]
        latest = max(mine, key=lambda token: token.issued_at, default=None)
        return self.copies.load(latest.id if latest else None)

    async def _list_usable_for_user(self, user_id: str, now: datetime) -> list[ResetToken]:
        ids = [
            t.id
            for t in self.store.reset_tokens.values()
            if t.user_id == user_id and t.used_at is None and now < t.expires_at
        ]
        return [token for token in map(self.copies.load, ids) if token is not None]


class FakeRefreshSessionRepository(_Kept[RefreshSession], RefreshSessionRepository):
    """A changed session is written only while it is stored as loaded (token hash and all).

    That reproduces the SQL adapter's compare-and-set: of two units of work
    rotating one session, exactly one commits.
    """

    def __init__(self, store: InMemoryStore, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.store = store
        self.copies = Copies(store.refresh_sessions, self.noun, guard=None)

    def check(self, change: Change) -> None:
        self.copies.check(change)
        session = change.record
        for other in self.store.refresh_sessions.values():  # token_hash is unique
            if other.token_hash == session.token_hash and other.id != session.id:
                raise ConcurrencyConflict(f"{self.noun} token hash taken concurrently")

    async def _add(self, session: RefreshSession) -> None:
        pass  # registered by the base class; written on commit

    async def _find(self, id: str) -> RefreshSession | None:
        return self.copies.load(id)

    async def _find_by_hash(self, token_hash: str) -> RefreshSession | None:
        stored = self.store.refresh_sessions.values()
        return self.copies.load(next((s.id for s in stored if s.token_hash == token_hash), None))

    async def _list_live_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        ids = [
            s.id
            for s in self.store.refresh_sessions.values()
            if s.user_id == user_id and s.revoked_at is None and now < s.expires_at
        ]
        return [session for session in map(self.copies.load, ids) if session is not None]
