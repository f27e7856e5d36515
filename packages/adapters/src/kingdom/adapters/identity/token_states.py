"""What an access token's holder looks like *now*: token version and status.

A token carries the ``token_version`` current when it was issued; a password
change, disabling the user or any change of the user's grants bumps the
stored one, which voids older tokens (the client refreshes).
Checking that costs one indexed read per request: a single statement, run
straight on the driver (:mod:`kingdom.adapters.sql.direct_reads`: an asyncpg
prepared statement, or SQLite's own module in the event loop's thread), no
transaction, no lock. :class:`SqlTokenStates` never caches: on PostgreSQL
:mod:`kingdom.adapters.identity.token_state_cache` may, while the database's
notifications prove that a revoked token fails on its next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from kingdom.adapters.identity.tables import users
from kingdom.adapters.sql.direct_reads import direct_reads
from kingdom.adapters.sql.engine import Database
from kingdom.domain.identity import UserStatus

_STATE = select(users.c.token_version, users.c.status).where(users.c.id == bindparam("user_id"))


@dataclass(frozen=True, slots=True)
class TokenState:
    token_version: int
    status: UserStatus


class SqlTokenStates:
    def __init__(self, database: Database) -> None:
        self._state = direct_reads(database).statement(_STATE)

    async def current(self, user_id: str) -> TokenState | None:
        row = await self._state.first({"user_id": user_id})
        if row is None:
            return None
        return TokenState(row[0], UserStatus(row[1]))
