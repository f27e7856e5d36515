"""Read-side listings of users and roles, straight from the tables (no aggregates).

The caller's :class:`~kingdom.domain.access.ReadScope` becomes part of the
WHERE clause, so a page is always full and a total counts only what the
caller may see. Pages are keyset-paginated (see :mod:`kingdom.adapters.sql.keyset`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kingdom.adapters.identity.tables import roles, user_roles, users
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import (
    Keyset,
    allowed_ids,
    map_page,
    member_of,
    scoped,
    snapshot_reads,
)
from kingdom.domain.access import ReadScope
from kingdom.domain.identity import UserStatus, sorted_policies
from kingdom.services.ports.queries import (
    Page,
    PageRequest,
    RoleQueries,
    RoleView,
    UserQueries,
    UserView,
)

USERS = Keyset("users", (users.c.email, users.c.id), (str, str))
"""Users by e-mail, then id (e-mail is unique, so the id only makes the key explicit)."""

ROLES = Keyset("roles", (roles.c.id,), (str,))
"""Roles by code."""

# Never the password hash or the token version: views are for display.
_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.display_name,
    users.c.status,
    users.c.policies,
    users.c.version,
)
_ROLE_COLUMNS = (roles.c.id, roles.c.name, roles.c.policies, roles.c.version)


class SqlUserQueries(UserQueries):
    """Users sorted by e-mail, then id; with ``count_totals`` pages carry an exact total."""

    def __init__(
        self, database: Database, codec: CursorCodec, *, count_totals: bool = False
    ) -> None:
        self._engine = snapshot_reads(database)
        self._dialect = database.dialect
        self._pager = USERS.cursors(codec)
        self._count_totals = count_totals

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[UserView]:
        query = self._pager.query(page)  # a bad cursor fails before any I/O
        branches = scoped(users.c.id, scope, self._dialect)
        if not branches:
            return Page.empty()
        async with self._engine.connect() as connection:
            rows = await self._pager.fetch(
                connection,
                query,
                columns=_USER_COLUMNS,
                branches=branches,
                count_total=self._count_totals,
            )
            held = await self._role_codes(connection, [row["id"] for row in rows.items])
        return map_page(rows, lambda row: _user_view(row, held.get(row["id"], ())))

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, UserView]:
        wanted = allowed_ids(scope, ids)
        if not wanted:
            return {}
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(*_USER_COLUMNS).where(member_of(users.c.id, wanted, self._dialect))
            )
            rows = result.mappings().all()
            held = await self._role_codes(connection, [row["id"] for row in rows])
        return {row["id"]: _user_view(row, held.get(row["id"], ())) for row in rows}

    async def _role_codes(
        self, connection: AsyncConnection, user_ids: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """The roles of these users, one query for the whole page (sorted by code)."""
        if not user_ids:
            return {}
        result = await connection.execute(
            select(user_roles.c.user_id, user_roles.c.role_code)
            .where(member_of(user_roles.c.user_id, user_ids, self._dialect))
            .order_by(user_roles.c.user_id, user_roles.c.role_code)
        )
        codes: defaultdict[str, list[str]] = defaultdict(list)
        for row in result:
            codes[row.user_id].append(row.role_code)
        return {user_id: tuple(held) for user_id, held in codes.items()}


class SqlRoleQueries(RoleQueries):
    """Roles sorted by code; with ``count_totals`` pages carry an exact total."""

    def __init__(
        self, database: Database, codec: CursorCodec, *, count_totals: bool = False
    ) -> None:
        self._engine = snapshot_reads(database)
        self._dialect = database.dialect
        self._pager = ROLES.cursors(codec)
        self._count_totals = count_totals

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[RoleView]:
        query = self._pager.query(page)
        branches = scoped(roles.c.id, scope, self._dialect)
        if not branches:
            return Page.empty()
        async with self._engine.connect() as connection:
            rows = await self._pager.fetch(
                connection,
                query,
                columns=_ROLE_COLUMNS,
                branches=branches,
                count_total=self._count_totals,
            )
        return map_page(rows, _role_view)

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, RoleView]:
        wanted = allowed_ids(scope, ids)
        if not wanted:
            return {}
        async with self._engine.connect() as connection:
            result = await connection.execute(
                select(*_ROLE_COLUMNS).where(member_of(roles.c.id, wanted, self._dialect))
            )
            rows = result.mappings().all()
        return {row["id"]: _role_view(row) for row in rows}


def _user_view(row: RowMapping, role_codes: tuple[str, ...]) -> UserView:
    return UserView(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        status=UserStatus(row["status"]),
        role_codes=role_codes,
        policies=sorted_policies(row["policies"]),
        version=row["version"],
    )


def _role_view(row: RowMapping) -> RoleView:
    return RoleView(
        code=row["id"],
        name=row["name"],
        policies=sorted_policies(row["policies"]),
        version=row["version"],
    )
