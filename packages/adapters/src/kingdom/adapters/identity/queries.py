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

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kingdom.adapters.identity.tables import roles, user_roles, users
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.direct_reads import direct_reads
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import Keyset, Row, allowed_ids, member_of_parameter
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
            to_view=_user_view,
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
                row = await self._one.first({"id": wanted[0]})
                return {} if row is None else {row[0]: _user_view(row)}
        return await self._by_ids(scope, ids, details=with_roles)

    async def _details(
        self, connection: AsyncConnection, rows: Sequence[Row]
    ) -> Sequence[UserView]:
        held = await self._role_codes(connection, [row[0] for row in rows])
        return [_user_view(row, held.get(row[0], ())) for row in rows]

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


def _user_view(row: Row, role_codes: tuple[str, ...] = ()) -> UserView:
    """A row of :data:`_USER_COLUMNS` (their types give the status member and sorted policies)."""
    return UserView(row[0], row[1], row[2], row[3], role_codes, row[4], row[5])


def _role_view(row: Row) -> RoleView:
    """A row of :data:`_ROLE_COLUMNS`."""
    return RoleView(code=row[0], name=row[1], policies=row[2], version=row[3])
