"""Login sessions through the real handlers on SQL, on SQLite and PostgreSQL.

Rotation, reuse detection (the family revoked and the event in the outbox,
in one transaction), logout, revocation on a password change, and the race
of many refreshes presenting one token: exactly one wins.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import RowMapping, select

from integration.adapters.support import SqlApp, outbox_rows, schema_database
from kingdom.adapters.identity.tables import refresh_sessions
from kingdom.adapters.sql.engine import Database
from kingdom.domain.identity import (
    Authenticate,
    ChangePassword,
    Logout,
    RefreshAccess,
    RegisterUser,
)
from kingdom.services.fakes import actor
from kingdom.services.identity.refresh import RefreshTokenReused
from kingdom.services.identity.sessions import InvalidRefreshToken, IssuedSession

EMAIL, PASSWORD = "ann@example.org", "correct horse"


async def logged_in(app: SqlApp) -> tuple[str, IssuedSession]:
    user_id: str = await app.bus.handle(
        RegisterUser(meta=app.meta(), email=EMAIL, display_name="Ann", password=PASSWORD)
    )
    return user_id, await login(app)


async def login(app: SqlApp) -> IssuedSession:
    issued: IssuedSession = await app.bus.handle(
        Authenticate(meta=app.meta(), email=EMAIL, password=PASSWORD)
    )
    return issued


async def refresh(app: SqlApp, token: str) -> IssuedSession:
    issued: IssuedSession = await app.bus.handle(
        RefreshAccess(meta=app.meta(), refresh_token=token)
    )
    return issued


async def rows(database: Database) -> dict[str, RowMapping]:
    async with database.engine.connect() as connection:
        result = await connection.execute(select(refresh_sessions))
        return {row["id"]: row for row in result.mappings()}


def family(issued: IssuedSession) -> str:
    return issued.refresh_token.split(".")[0]


async def reuse_rows(database: Database) -> list[RowMapping]:
    return [
        row
        for row in await outbox_rows(database)
        if row["event_type"] == "identity.RefreshTokenReuseDetected"
    ]


async def test_login_stores_the_hash_and_a_refresh_rotates_it(database_url: str) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        user_id, issued = await logged_in(app)
        secret = issued.refresh_token.split(".", 1)[1]
        [row] = (await rows(database)).values()
        assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert (row["user_id"], row["rotation_counter"], row["revoked_at"]) == (user_id, 0, None)

        renewed = await refresh(app, issued.refresh_token)

        row = (await rows(database))[family(issued)]
        new_secret = renewed.refresh_token.split(".", 1)[1]
        assert row["token_hash"] == hashlib.sha256(new_secret.encode()).hexdigest()
        assert row["rotation_counter"] == 1
        assert renewed.refresh_expires_at == issued.refresh_expires_at == row["expires_at"]


async def test_reuse_revokes_the_family_and_writes_the_event_in_one_commit(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        user_id, issued = await logged_in(app)
        renewed = await refresh(app, issued.refresh_token)

        with pytest.raises(RefreshTokenReused):
            await refresh(app, issued.refresh_token)

        assert (await rows(database))[family(issued)]["revoked_at"] == app.clock.now()
        [event] = await reuse_rows(database)
        assert event["payload"]["session_id"] == family(issued)
        assert (event["aggregate_type"], event["aggregate_id"]) == ("user", user_id)
        with pytest.raises(InvalidRefreshToken):
            await refresh(app, renewed.refresh_token)


async def test_of_ten_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        _, issued = await logged_in(app)

        outcomes = await asyncio.gather(
            *(refresh(app, issued.refresh_token) for _ in range(10)), return_exceptions=True
        )

        winners = [o for o in outcomes if isinstance(o, IssuedSession)]
        refused = [o for o in outcomes if isinstance(o, InvalidRefreshToken)]
        assert (len(winners), len(refused)) == (1, 9), outcomes
        row = (await rows(database))[family(issued)]
        assert row["rotation_counter"] == 1
        assert row["revoked_at"] is not None
        assert len(await reuse_rows(database)) == 1
        with pytest.raises(InvalidRefreshToken):
            await refresh(app, winners[0].refresh_token)


async def test_logout_revokes_only_that_family(database_url: str) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        _, issued = await logged_in(app)
        other = await login(app)

        await app.bus.handle(Logout(meta=app.meta(), refresh_token=issued.refresh_token))

        stored = await rows(database)
        assert stored[family(issued)]["revoked_at"] == app.clock.now()
        assert stored[family(other)]["revoked_at"] is None
        with pytest.raises(InvalidRefreshToken):
            await refresh(app, issued.refresh_token)
        assert await reuse_rows(database) == []


async def test_an_own_password_change_revokes_every_session_and_starts_one(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        user_id, issued = await logged_in(app)
        other = await login(app)

        fresh = await app.bus.handle(
            ChangePassword(
                meta=app.meta(),
                actor=actor(user_id=user_id),
                user_id=user_id,
                current_password=PASSWORD,
                new_password="battery staple",
            )
        )

        stored = await rows(database)
        assert stored[family(issued)]["revoked_at"] is not None
        assert stored[family(other)]["revoked_at"] is not None
        assert stored[family(fresh)]["revoked_at"] is None
        assert await refresh(app, fresh.refresh_token)
