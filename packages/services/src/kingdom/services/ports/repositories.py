"""Repositories: aggregates by id, and the records that travel with them.

Each aggregate repository is also an identity map: it remembers every
aggregate it handed out or was given (``seen``), so the unit of work knows
what to write and whose events to collect, and loading the same id twice in
one transaction gives the same object rather than two diverging copies.

The public methods are concrete (tracking is the same for every adapter);
adapters implement the protected ``_``-methods, which only talk to storage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar, Generic, TypeVar

from kingdom.domain.identity import ResetToken, Role, User
from kingdom.domain.ledger import Account, Transfer
from kingdom.domain.shared import Aggregate, Conflict, NotFound

A = TypeVar("A", bound=Aggregate)


class Repository(ABC, Generic[A]):
    """Load and add aggregates of one type within one unit of work."""

    noun: ClassVar[str] = "aggregate"
    """How error messages name the aggregate ("user 'u-1' does not exist")."""

    def __init__(self) -> None:
        self._seen: dict[str, A] = {}

    @property
    def seen(self) -> tuple[A, ...]:
        """Every aggregate loaded or added through this repository, in that order."""
        return tuple(self._seen.values())

    async def add(self, aggregate: A) -> None:
        """Stage a new aggregate; it is written when the unit of work commits.

        A duplicate id is refused here when this repository already knows it;
        one that only the store knows surfaces at commit (as a
        :class:`~kingdom.services.ports.ConcurrencyConflict`, so the bus retries and the
        handler's own existence check then answers properly).
        """
        if aggregate.id in self._seen:
            raise Conflict(f"{self.noun} {aggregate.id!r} already exists")
        await self._add(aggregate)
        self._seen[aggregate.id] = aggregate

    async def find(self, id: str) -> A | None:
        """The aggregate with ``id``, or ``None``."""
        if id in self._seen:
            return self._seen[id]
        return self._track(await self._find(id))

    async def get(self, id: str) -> A:
        """The aggregate with ``id``, or :class:`~kingdom.domain.shared.NotFound`."""
        found = await self.find(id)
        if found is None:
            raise NotFound(f"{self.noun} {id!r} does not exist")
        return found

    def _track(self, found: A | None) -> A | None:
        """Remember ``found``, or return the copy already remembered (identity map)."""
        if found is None:
            return None
        return self._seen.setdefault(found.id, found)

    @abstractmethod
    async def _add(self, aggregate: A) -> None: ...

    @abstractmethod
    async def _find(self, id: str) -> A | None: ...


class UserRepository(Repository[User]):
    noun = "user"

    async def find_by_email(self, email: str) -> User | None:
        """The user registered with ``email`` (already normalised by the caller), or ``None``."""
        for user in self._seen.values():
            if user.email == email:
                return user
        return self._track(await self._find_by_email(email))

    @abstractmethod
    async def _find_by_email(self, email: str) -> User | None: ...


class RoleRepository(Repository[Role]):
    noun = "role"

    async def get_many(self, codes: Iterable[str]) -> list[Role]:
        """The roles with these codes, sorted by code; codes of missing roles are skipped.

        Skipping (rather than failing) is the safe reading for its use, the
        effective policies of a user: a role that no longer exists grants
        nothing.
        """
        wanted = set(codes)
        missing = wanted - self._seen.keys()
        if missing:
            for role in await self._find_many(missing):
                self._track(role)
        return [self._seen[code] for code in sorted(wanted) if code in self._seen]

    @abstractmethod
    async def _find_many(self, codes: set[str]) -> list[Role]: ...


class AccountRepository(Repository[Account]):
    noun = "account"


class TransferLog(ABC):
    """The append-only record of completed transfers."""

    @abstractmethod
    async def add(self, transfer: Transfer) -> None: ...


class ResetTokenRepository(ABC):
    """One-time password reset tokens, looked up by the hash of their secret.

    Tokens are plain records, not aggregates, but they change (``redeem``
    stamps ``used_at``), so the repository remembers the ones it handed out
    and the unit of work writes them back on commit.
    """

    def __init__(self) -> None:
        self._seen: dict[str, ResetToken] = {}

    @property
    def seen(self) -> tuple[ResetToken, ...]:
        return tuple(self._seen.values())

    async def add(self, token: ResetToken) -> None:
        await self._add(token)
        self._seen[token.id] = token

    async def find_by_hash(self, token_hash: str) -> ResetToken | None:
        """The token whose secret hashes to ``token_hash`` (sha256 hex), or ``None``.

        Looking up by hash, never comparing secrets, leaves no timing signal
        about how much of a guessed secret was right.
        """
        for token in self._seen.values():
            if token.token_hash == token_hash:
                return token
        found = await self._find_by_hash(token_hash)
        if found is None:
            return None
        return self._seen.setdefault(found.id, found)

    @abstractmethod
    async def _add(self, token: ResetToken) -> None: ...

    @abstractmethod
    async def _find_by_hash(self, token_hash: str) -> ResetToken | None: ...
