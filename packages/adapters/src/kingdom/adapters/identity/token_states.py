"""What an access token's holder looks like *now*: token version and status.

A token carries the ``token_version`` current when it was issued; a password
change, disabling the user or any change of the user's grants bumps the
stored one, which voids older tokens (the client refreshes).
Checking that costs one indexed read per request, a single statement on the
reader (no transaction at all, so no BEGIN/ROLLBACK round trips, no lock).
It is never cached: a revoked token must fail on its very next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from kingdom.adapters.identity.tables import users
from kingdom.adapters.sql.engine import Database
from kingdom.domain.identity import UserStatus

# Built once: compiling it is a good share of a request's CPU, and the
# compiled form is then found in SQLAlchemy's cache by identity.
_STATE = select(users.c.token_version, users.c.status).where(users.c.id == bindparam("user_id"))


@dataclass(frozen=True)
class TokenState:
    token_version: int
    status: UserStatus


class SqlTokenStates:
    def __init__(self, database: Database) -> None:
        self._engine = database.reader

    async def current(self, user_id: str) -> TokenState | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(_STATE, {"user_id": user_id})).one_or_none()
        if row is None:
            return None
        return TokenState(row.token_version, UserStatus(row.status))
