"""Read-side listings of users and roles, straight from the tables (no aggregates).

The caller's :class:`~kingdom.domain.access.ReadScope` becomes part of the
WHERE clause, so a page is always full and a total counts only what the
caller may see. Pages are keyset-paginated (see :mod:`kingdom.adapters.sql.keyset`).
The role codes of users are read only for callers that show them.

One user looked up by id without role codes (``viewer``, a users DataLoader
asked for one) is a point read on the primary key run straight on the driver
(:mod:`kingdom.adapters.sql.direct_reads`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import RowMapping, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kingdom.adapters.identity.tables import roles, user_roles, users
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.direct_reads import direct_reads
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import Keyset, allowed_ids, member_of_parameter
from kingdom.adapters.sql.scoped_listing import ScopedListing
from kingdom.adapters.sql.types import policies_as_read
from kingdom.domain.access import ReadScope
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
    policies_as_read(users.c.policies),
    users.c.version,
)
_ROLE_COLUMNS = (roles.c.id, roles.c.name, policies_as_read(roles.c.policies), roles.c.version)


class SqlUserQueries(ScopedListing[UserView], UserQueries):
    """Users sorted by e-mail, then id (totals when the request asks).

    With ``with_roles`` (the default), a page's role codes come from a second
    query on the same connection, so those reads run in one snapshot
    (:func:`snapshot_reads`) to see one moment; without, the page is one
    statement and its views carry no role codes.
    """

    def __init__(self, database: Database, codec: CursorCodec) -> None:
        super().__init__(
            database,
            codec,
            keyset=USERS,
            id_column=users.c.id,
            owner_column=users.c.id,  # a user owns itself
            columns=_USER_COLUMNS,
            to_view=lambda row: _user_view(row, ()),
        )
        self._role_codes_statement = (
            select(user_roles.c.user_id, user_roles.c.role_code)
            .where(member_of_parameter(user_roles.c.user_id, self._dialect))
            .order_by(user_roles.c.user_id, user_roles.c.role_code)
        )
        self._one = direct_reads(database).statement(
            select(*_USER_COLUMNS).where(users.c.id == bindparam("id"))
        )

    async def list(
        self, scope: ReadScope, page: PageRequest, *, with_roles: bool = True
    ) -> Page[UserView]:
        return await self._list(scope, page, details=with_roles)

    async def by_ids(
        self, scope: ReadScope, ids: Sequence[str], *, with_roles: bool = True
    ) -> Mapping[str, UserView]:
        if not with_roles and scope.owner is None:
            wanted = allowed_ids(scope, ids)
            if len(wanted) == 1:
                # The viewer, a lone owner: a point read on the primary key,
                # straight on the driver (no id list to bind or expand).
                row = await self._one.first_mapping({"id": wanted[0]})
                return {} if row is None else {row["id"]: _user_view(row, ())}
        return await self._by_ids(scope, ids, details=with_roles)

    async def _details(
        self, connection: AsyncConnection, rows: Sequence[RowMapping]
    ) -> Sequence[UserView]:
        held = await self._role_codes(connection, [row["id"] for row in rows])
        return [_user_view(row, held.get(row["id"], ())) for row in rows]

    async def _role_codes(
        self, connection: AsyncConnection, user_ids: Sequence[str]
    ) -> dict[str, tuple[str, ...]]:
        """The roles of these users, one query for the whole page (sorted by code)."""
        if not user_ids:
            return {}
        result = await connection.execute(self._role_codes_statement, {"ids": sorted(user_ids)})
        codes: defaultdict[str, list[str]] = defaultdict(list)
        for row in result:
            codes[row.user_id].append(row.role_code)
        return {user_id: tuple(held) for user_id, held in codes.items()}


class SqlRoleQueries(ScopedListing[RoleView], RoleQueries):
    """Roles sorted by code (totals when the request asks)."""

    def __init__(self, database: Database, codec: CursorCodec) -> None:
        super().__init__(
            database,
            codec,
            keyset=ROLES,
            id_column=roles.c.id,
            owner_column=None,  # roles belong to nobody
            columns=_ROLE_COLUMNS,
            to_view=_role_view,
        )


def _user_view(row: Mapping[str, Any] | RowMapping, role_codes: tuple[str, ...]) -> UserView:
    # The columns' types give the status member and the sorted policies.
    return UserView(
        row["id"],
        row["email"],
        row["display_name"],
        row["status"],
        role_codes,
        row["policies"],
        row["version"],
    )


def _role_view(row: Mapping[Any, Any]) -> RoleView:
    return RoleView(
        code=row["id"],
        name=row["name"],
        policies=row["policies"],
        version=row["version"],
    )
