"""What an access token's holder looks like *now*: token version and status.

A token carries the ``token_version`` current when it was issued; a password
change or disabling the user bumps the stored one, which voids older tokens.
Checking that costs one indexed read per request, on the read engine (no
write transaction, no lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from kingdom.adapters.identity.tables import users
from kingdom.adapters.sql.engine import Database
from kingdom.domain.identity import UserStatus


@dataclass(frozen=True)
class TokenState:
    token_version: int
    status: UserStatus


class SqlTokenStates:
    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def current(self, user_id: str) -> TokenState | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(users.c.token_version, users.c.status).where(users.c.id == user_id)
                )
            ).one_or_none()
        if row is None:
            return None
        return TokenState(row.token_version, UserStatus(row.status))
