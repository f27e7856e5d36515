"""SQL repositories of the identity context, on the unit of work's ORM session.

They only load and stage; the unit of work decides what to write at commit
(see :mod:`kingdom.adapters.sql.unit_of_work`). A user's role codes are read
from ``user_roles`` with the user and remembered as loaded, so the unit of
work can write just the difference (see :mod:`kingdom.adapters.sql.mapping`
for why they are not an ORM relationship).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kingdom.adapters.identity.tables import refresh_sessions as refresh_sessions_table
from kingdom.adapters.identity.tables import reset_tokens as reset_tokens_table
from kingdom.adapters.identity.tables import roles as roles_table
from kingdom.adapters.identity.tables import user_roles, users
from kingdom.adapters.sql.errors import translated_errors
from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.services.ports import (
    RefreshSessionRepository,
    ResetTokenRepository,
    RoleRepository,
    UserRepository,
)


class SqlUserRepository(UserRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session
        self._stored_role_codes: dict[str, frozenset[str]] = {}
        """Role codes as stored, per loaded user id (absent: a new user, nothing stored)."""

    async def _add(self, aggregate: User) -> None:
        pass  # the unit of work inserts new aggregates at commit, parents first

    async def _find(self, id: str) -> User | None:
        async with translated_errors():
            user = await self._session.get(User, id)
            return await self._with_role_codes(user)

    async def _find_by_email(self, email: str) -> User | None:
        async with translated_errors():
            result = await self._session.execute(select(User).where(users.c.email == email))
            return await self._with_role_codes(result.scalar_one_or_none())

    async def _find_holders_of_role(self, role_code: str) -> list[User]:
        holders = select(user_roles.c.user_id).where(user_roles.c.role_code == role_code)
        async with translated_errors():
            result = await self._session.execute(
                select(User).where(users.c.id.in_(holders)).order_by(users.c.id)
            )
            found = list(result.scalars())
            # Every holder's roles in one more query, not one per holder.
            codes = await self._session.execute(
                select(user_roles.c.user_id, user_roles.c.role_code).where(
                    user_roles.c.user_id.in_(holders)
                )
            )
        by_user: dict[str, set[str]] = {}
        for row in codes:
            by_user.setdefault(row.user_id, set()).add(row.role_code)
        for user in found:
            # A user already loaded here keeps its roles as they are in memory.
            if user.id not in self._stored_role_codes:
                stored = frozenset(by_user.get(user.id, ()))
                user.role_codes = set(stored)
                self._stored_role_codes[user.id] = stored
        return found

    async def _with_role_codes(self, user: User | None) -> User | None:
        if user is None or user.id in self._stored_role_codes:
            return user
        result = await self._session.execute(
            select(user_roles.c.role_code).where(user_roles.c.user_id == user.id)
        )
        codes: frozenset[str] = frozenset(result.scalars())
        user.role_codes = set(codes)
        self._stored_role_codes[user.id] = codes
        return user

    def role_codes_changed(self, user: User) -> bool:
        return frozenset(user.role_codes) != self._stored_role_codes.get(user.id, frozenset())

    async def write_role_codes(self) -> None:
        """Bring ``user_roles`` in line with every seen user's ``role_codes`` (after the flush)."""
        for user in self.seen:
            stored = self._stored_role_codes.get(user.id, frozenset())
            removed = stored - user.role_codes
            added = user.role_codes - stored
            if removed:
                await self._session.execute(
                    delete(user_roles).where(
                        user_roles.c.user_id == user.id, user_roles.c.role_code.in_(removed)
                    )
                )
            if added:
                await self._session.execute(
                    insert(user_roles),
                    [{"user_id": user.id, "role_code": code} for code in sorted(added)],
                )

    def role_codes_committed(self) -> None:
        """The commit succeeded: what is in memory is now what is stored."""
        for user in self.seen:
            self._stored_role_codes[user.id] = frozenset(user.role_codes)


class SqlRoleRepository(RoleRepository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def _add(self, aggregate: Role) -> None:
        pass  # inserted by the unit of work at commit

    async def _find(self, id: str) -> Role | None:
        async with translated_errors():
            return await self._session.get(Role, id)

    async def _find_many(self, codes: set[str]) -> list[Role]:
        async with translated_errors():
            result = await self._session.execute(
                select(Role).where(roles_table.c.id.in_(sorted(codes))).order_by(roles_table.c.id)
            )
            return list(result.scalars())


class SqlResetTokenRepository(ResetTokenRepository):
    """Tokens are ORM-mapped, so a redeemed one (``used_at`` set) is flushed on commit."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def _add(self, token: ResetToken) -> None:
        pass  # inserted by the unit of work at commit, after its user

    async def _find_by_hash(self, token_hash: str) -> ResetToken | None:
        async with translated_errors():
            result = await self._session.execute(
                select(ResetToken).where(reset_tokens_table.c.token_hash == token_hash)
            )
            return result.scalar_one_or_none()

    async def _find_latest_for_user(self, user_id: str) -> ResetToken | None:
        table = reset_tokens_table
        async with translated_errors():
            result = await self._session.execute(
                select(ResetToken)
                .where(table.c.user_id == user_id)
                .order_by(table.c.issued_at.desc(), table.c.id.desc())
                .limit(1)
            )
            return result.scalar_one_or_none()

    async def _list_usable_for_user(self, user_id: str, now: datetime) -> list[ResetToken]:
        table = reset_tokens_table
        async with translated_errors():
            result = await self._session.execute(
                select(ResetToken)
                .where(
                    table.c.user_id == user_id,
                    table.c.used_at.is_(None),
                    table.c.expires_at > now,
                )
                .order_by(table.c.id)
            )
            return list(result.scalars())


class SqlRefreshSessionRepository(RefreshSessionRepository):
    """Sessions are ORM-mapped: new ones are inserted and changed ones updated on commit.

    The update is a compare-and-set on the token hash as loaded (the mapper's
    version column, see :mod:`kingdom.adapters.sql.mapping`), so a session
    rotated or revoked by someone else since it was loaded here makes the
    commit raise :class:`~kingdom.services.ports.ConcurrencyConflict`.
    """

    def __init__(self, session: AsyncSession) -> None:
        super().__init__()
        self._session = session

    async def _add(self, session: RefreshSession) -> None:
        pass  # inserted by the unit of work at commit, after its user

    async def _find(self, id: str) -> RefreshSession | None:
        async with translated_errors():
            return await self._session.get(RefreshSession, id)

    async def _find_by_hash(self, token_hash: str) -> RefreshSession | None:
        async with translated_errors():
            result = await self._session.execute(
                select(RefreshSession).where(refresh_sessions_table.c.token_hash == token_hash)
            )
            return result.scalar_one_or_none()

    async def _list_live_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        table = refresh_sessions_table
        async with translated_errors():
            result = await self._session.execute(
                select(RefreshSession)
                .where(
                    table.c.user_id == user_id,
                    table.c.revoked_at.is_(None),
                    table.c.expires_at > now,
                )
                .order_by(table.c.created_at, table.c.id)
            )
            return list(result.scalars())
