"""SQL repositories of the identity context, on the unit of work's transaction.

Each loads rows with Core and builds records through its
:class:`~kingdom.adapters.sql.records.Rows`, which also writes them back at
commit (a compare-and-set on the guard column). A user's role codes are read
from ``user_roles`` with the user and remembered as loaded, so the user
repository writes just the difference.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, insert, select

from kingdom.adapters.identity.tables import refresh_sessions as refresh_sessions_table
from kingdom.adapters.identity.tables import reset_tokens as reset_tokens_table
from kingdom.adapters.identity.tables import roles as roles_table
from kingdom.adapters.identity.tables import user_roles, users
from kingdom.adapters.sql.records import Rows, SqlTransaction
from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.services.ports import (
    Change,
    RefreshSessionRepository,
    ResetTokenRepository,
    RoleRepository,
    Tracker,
    UserRepository,
)


class SqlUserRepository(UserRepository):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.rows = Rows(transaction, users, User, self.noun, guard="version")
        self._stored_role_codes: dict[str, frozenset[str]] = {}
        """Role codes as stored, per loaded user id (absent: a new user, nothing stored)."""

    def changed(self, record: User) -> bool:
        return self.rows.changed(record) or self._role_codes_changed(record)

    def stored(self, record: User) -> None:
        self.rows.stored(record)
        self._stored_role_codes[record.id] = frozenset(record.role_codes)

    async def write(self, change: Change) -> None:
        """The row (its version goes up even if only its roles changed), then ``user_roles``."""
        await self.rows.write(change)
        user: User = change.record
        stored = self._stored_role_codes.get(user.id, frozenset())
        removed = stored - user.role_codes
        added = user.role_codes - stored
        execute = self.rows.transaction.execute
        if removed:
            await execute(
                delete(user_roles).where(
                    user_roles.c.user_id == user.id, user_roles.c.role_code.in_(removed)
                )
            )
        if added:
            await execute(
                insert(user_roles),
                [{"user_id": user.id, "role_code": code} for code in sorted(added)],
            )

    async def _add(self, aggregate: User) -> None:
        pass  # inserted at commit

    async def _find(self, id: str) -> User | None:
        return await self._one(select(users).where(users.c.id == id))

    async def _find_by_email(self, email: str) -> User | None:
        return await self._one(select(users).where(users.c.email == email))

    async def _find_holders_of_role(self, role_code: str) -> list[User]:
        holders = select(user_roles.c.user_id).where(user_roles.c.role_code == role_code)
        execute = self.rows.transaction.execute
        result = await execute(select(users).where(users.c.id.in_(holders)).order_by(users.c.id))
        found = [user for user in map(self.rows.build, result) if user is not None]
        # Every holder's roles in one more query, not one per holder.
        codes = await execute(
            select(user_roles.c.user_id, user_roles.c.role_code).where(
                user_roles.c.user_id.in_(holders)
            )
        )
        by_user: dict[str, set[str]] = {}
        for row in codes:
            by_user.setdefault(row.user_id, set()).add(row.role_code)
        for user in found:
            if user.id not in self._stored_role_codes:
                self._with_codes(user, frozenset(by_user.get(user.id, ())))
        return found

    async def _one(self, query: Select[tuple[object, ...]]) -> User | None:
        user = self.rows.build((await self.rows.transaction.execute(query)).one_or_none())
        if user is None or user.id in self._stored_role_codes:
            return user
        result = await self.rows.transaction.execute(
            select(user_roles.c.role_code).where(user_roles.c.user_id == user.id)
        )
        return self._with_codes(user, frozenset(result.scalars()))

    def _with_codes(self, user: User, codes: frozenset[str]) -> User:
        user.role_codes = set(codes)
        self._stored_role_codes[user.id] = codes
        return user

    def _role_codes_changed(self, user: User) -> bool:
        return frozenset(user.role_codes) != self._stored_role_codes.get(user.id, frozenset())


class SqlRoleRepository(RoleRepository):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.rows = Rows(transaction, roles_table, Role, self.noun, guard="version")

    def changed(self, record: Role) -> bool:
        return self.rows.changed(record)

    def stored(self, record: Role) -> None:
        self.rows.stored(record)

    async def write(self, change: Change) -> None:
        await self.rows.write(change)

    async def _add(self, aggregate: Role) -> None:
        pass  # inserted at commit

    async def _find(self, id: str) -> Role | None:
        result = await self.rows.transaction.execute(
            select(roles_table).where(roles_table.c.id == id)
        )
        return self.rows.build(result.one_or_none())

    async def _find_many(self, codes: set[str]) -> list[Role]:
        result = await self.rows.transaction.execute(
            select(roles_table)
            .where(roles_table.c.id.in_(sorted(codes)))
            .order_by(roles_table.c.id)
        )
        return [role for role in map(self.rows.build, result) if role is not None]


class SqlResetTokenRepository(ResetTokenRepository):
    """A redeemed or voided token is written only while it is still unused as stored."""

    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.rows = Rows(transaction, reset_tokens_table, ResetToken, self.noun, guard=None)

    def changed(self, record: ResetToken) -> bool:
        return self.rows.changed(record)

    def stored(self, record: ResetToken) -> None:
        self.rows.stored(record)

    async def write(self, change: Change) -> None:
        await self.rows.write(change)

    async def _add(self, token: ResetToken) -> None:
        pass  # inserted at commit, after its user

    async def _find_by_hash(self, token_hash: str) -> ResetToken | None:
        table = reset_tokens_table
        return await self._first(select(table).where(table.c.token_hash == token_hash))

    async def _find_latest_for_user(self, user_id: str) -> ResetToken | None:
        table = reset_tokens_table
        return await self._first(
            select(table)
            .where(table.c.user_id == user_id)
            .order_by(table.c.issued_at.desc(), table.c.id.desc())
            .limit(1)
        )

    async def _list_usable_for_user(self, user_id: str, now: datetime) -> list[ResetToken]:
        table = reset_tokens_table
        result = await self.rows.transaction.execute(
            select(table)
            .where(table.c.user_id == user_id, table.c.used_at.is_(None), table.c.expires_at > now)
            .order_by(table.c.id)
        )
        return [token for token in map(self.rows.build, result) if token is not None]

    async def _first(self, query: Select[tuple[object, ...]]) -> ResetToken | None:
        return self.rows.build((await self.rows.transaction.execute(query)).first())


class SqlRefreshSessionRepository(RefreshSessionRepository):
    """A changed session is updated only while its stored row is the one loaded.

    That compare-and-set (on the token hash above all) is what two concurrent
    refreshes or revocations of one session compete for: exactly one
    commits, the other gets a ConcurrencyConflict.
    """

    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self.rows = Rows(transaction, refresh_sessions_table, RefreshSession, self.noun, guard=None)

    def changed(self, record: RefreshSession) -> bool:
        return self.rows.changed(record)

    def stored(self, record: RefreshSession) -> None:
        self.rows.stored(record)

    async def write(self, change: Change) -> None:
        await self.rows.write(change)

    async def _add(self, session: RefreshSession) -> None:
        pass  # inserted at commit, after its user

    async def _find(self, id: str) -> RefreshSession | None:
        table = refresh_sessions_table
        return await self._first(select(table).where(table.c.id == id))

    async def _find_by_hash(self, token_hash: str) -> RefreshSession | None:
        table = refresh_sessions_table
        return await self._first(select(table).where(table.c.token_hash == token_hash))

    async def _list_live_for_user(self, user_id: str, now: datetime) -> list[RefreshSession]:
        table = refresh_sessions_table
        result = await self.rows.transaction.execute(
            select(table)
            .where(
                table.c.user_id == user_id,
                table.c.revoked_at.is_(None),
                table.c.expires_at > now,
            )
            .order_by(table.c.created_at, table.c.id)
        )
        return [session for session in map(self.rows.build, result) if session is not None]

    async def _first(self, query: Select[tuple[object, ...]]) -> RefreshSession | None:
        return self.rows.build((await self.rows.transaction.execute(query)).first())
