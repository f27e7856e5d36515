"""Repositories: aggregates by id, and the records that travel with them.

Each aggregate repository is also an identity map: it remembers every
aggregate it handed out or was given (``seen``), so the unit of work knows
what to write and whose events to collect, and loading the same id twice in
one transaction gives the same object rather than two diverging copies.

The public methods are concrete (tracking is the same for every adapter);
adapters implement the protected ``_``-methods, which only talk to storage.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.domain.ledger import Account, Transfer
from kingdom.domain.shared import Aggregate, Conflict, NotFound
from kingdom.services.ports.tracking import Keeper

A = TypeVar("A", bound=Aggregate)


class Repository(Keeper[A], Generic[A]):
    """Load and add aggregates of one type within one unit of work."""

    noun: ClassVar[str] = "aggregate"

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
        self._stage(aggregate)

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

    async def holders_of_role(self, role_code: str) -> list[User]:
        """Every user holding ``role_code``, sorted by id, tracked like any loaded user.

        Users loaded in this unit of work count as they are in memory (one
        whose role was just revoked here is not a holder any more).
        """
        for user in await self._find_holders_of_role(role_code):
            self._track(user)
        holders = [user for user in self._seen.values() if role_code in user.role_codes]
        return sorted(holders, key=lambda user: user.id)

    @abstractmethod
    async def _find_by_email(self, email: str) -> User | None: ...

    @abstractmethod
    async def _find_holders_of_role(self, role_code: str) -> list[User]:
        """The stored users with ``role_code`` among their roles (role codes loaded)."""


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


class TransferLog(Keeper[Transfer]):
    """The append-only record of completed transfers (inserted on commit, never changed)."""

    noun = "transfer"

    async def add(self, transfer: Transfer) -> None:
        self._stage(transfer)

    def changed(self, record: Transfer) -> bool:
        return False

    def stored(self, record: Transfer) -> None:
        pass


class ResetTokenRepository(Keeper[ResetToken]):
    """One-time password reset tokens, looked up by the hash of their secret.

    Tokens are plain records, not aggregates, but they change (``redeem`` and
    ``void`` stamp ``used_at``), so the repository remembers the ones it
    handed out and the unit of work writes them back on commit.
    """

    noun = "reset token"

    async def add(self, token: ResetToken) -> None:
        await self._add(token)
        self._stage(token)

    async def find_by_hash(self, token_hash: str) -> ResetToken | None:
        """The token whose secret hashes to ``token_hash`` (sha256 hex), or ``None``.

        Looking up by hash, never comparing secrets, leaves no timing signal
        about how much of a guessed secret was right.
        """
        for token in self._seen.values():
            if token.token_hash == token_hash:
                return token
        return self._track(await self._find_by_hash(token_hash))

    async def latest_for_user(self, user_id: str) -> ResetToken | None:
        """The user's most recently issued token, used or not, or ``None``.

        Tokens added in this unit of work count too.
        """
        self._track(await self._find_latest_for_user(user_id))
        mine = [token for token in self._seen.values() if token.user_id == user_id]
        return max(mine, key=lambda token: token.issued_at, default=None)

    async def void_all_for_user(self, user_id: str, now: datetime) -> list[ResetToken]:
        """Void every token of the user still usable at ``now`` (written on commit); return them.

        For a password change by any route: a code mailed before must not
        set the password again afterwards.
        """
        for token in await self._list_usable_for_user(user_id, now):
            self._track(token)
        usable = [
            token
            for token in self._seen.values()
            if token.user_id == user_id and token.is_usable(now)
        ]
        for token in usable:
            token.void(now)
        return usable

    @abstractmethod
    async def _add(self, token: ResetToken) -> None: ...

    @abstractmethod
    async def _find_by_hash(self, token_hash: str) -> ResetToken | None: ...

    @abstractmethod
    async def _find_latest_for_user(self, user_id: str) -> ResetToken | None:
        """The stored token of the user with the latest ``issued_at``, or ``None``."""

    @abstractmethod
    async def _list_usable_for_user(self, user_id: str, now: datetime) -> list[ResetToken]:
        """The user's stored tokens with ``used_at`` unset and ``expires_at`` after ``now``."""


class RefreshSessionRepository(Keeper[RefreshSession]):
    """Refresh sessions (login families), by id, by the hash of their current token, by user.

    Sessions are plain records, not aggregates, but they change (``rotate``,
    ``revoke``), so the repository is an identity map like the others: it
    remembers every session it handed out or was given (``seen``), loading
    one twice gives the same object, and the unit of work writes the changed
    ones on commit. That write is a compare-and-set on the token hash as
    loaded: of two units of work rotating the same session concurrently,
    exactly one commits and the other gets a ConcurrencyConflict.
    """

    noun = "refresh session"

    async def add(self, session: RefreshSession) -> None:
        """Stage a new session (written on commit); an id already known here is a Conflict."""
        if session.id in self._seen:
            raise Conflict(f"{self.noun} {session.id!r} already exists")
        await self._add(session)
        self._stage(session)

    async def find(self, id: str) -> RefreshSession | None:
        """The session (family) with ``id``, or ``None``."""
        if id in self._seen:
            return self._seen[id]
        return self._track(await self._find(id))

    async def get(self, id: str) -> RefreshSession:
        """The session with ``id``, or :class:`~kingdom.domain.shared.NotFound`."""
        found = await self.find(id)
        if found is None:
            raise NotFound(f"{self.noun} {id!r} does not exist")
        return found

    async def find_by_hash(self, token_hash: str) -> RefreshSession | None:
        """The session whose *current* token hashes to ``token_hash``, or ``None``.

        A token rotated away (in storage, or in memory in this unit of work)
        is not found: to tell a replayed old token from an unknown one, look
        its family up by id.
        """
        for session in self._seen.values():
            if session.token_hash == token_hash:
                return session
        found = self._track(await self._find_by_hash(token_hash))
        # The stored row may be one this unit of work already rotated in memory.
        if found is None or found.token_hash != token_hash:
            return None
        return found

    async def list_live_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        """The user's sessions neither revoked nor past their absolute expiry, oldest first.

        Idleness is not judged here: the idle limit is the caller's policy
        (:meth:`RefreshSession.is_active`). Sessions added or changed in this
        unit of work count as they are in memory.
        """
        for session in await self._list_live_for_user(user_id, now):
            self._track(session)
        live = [
            session
            for session in self._seen.values()
            if session.user_id == user_id
            and session.revoked_at is None
            and now < session.expires_at
        ]
        return sorted(live, key=lambda session: (session.created_at, session.id))

    async def revoke_all_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        """Revoke every live session of the user at ``now`` (on commit); return them.

        For a password change, a disabled account or "log out everywhere".
        """
        sessions = await self.list_live_for_user(user_id, now)
        for session in sessions:
            session.revoke(now)
        return sessions

    @abstractmethod
    async def _add(self, session: RefreshSession) -> None: ...

    @abstractmethod
    async def _find(self, id: str) -> RefreshSession | None: ...

    @abstractmethod
    async def _find_by_hash(self, token_hash: str) -> RefreshSession | None:
        """The stored session whose token hash is ``token_hash``, or ``None``."""

    @abstractmethod
    async def _list_live_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        """The user's stored sessions with ``revoked_at`` unset and ``expires_at`` after ``now``."""
