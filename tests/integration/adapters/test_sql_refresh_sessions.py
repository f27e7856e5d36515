"""Refresh sessions through the SQL unit of work, on SQLite and PostgreSQL.

A changed session is written with a compare-and-set on the token hash it was
loaded with (see :mod:`kingdom.adapters.sql.mapping`), so of two units of
work rotating the same session exactly one commits.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import RowMapping, select, update

from integration.adapters.support import schema_database
from integration.databases import fresh_postgres
from kingdom.adapters.identity.tables import refresh_sessions
from kingdom.adapters.sql.engine import Database, Isolation
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import RefreshSession, User
from kingdom.domain.shared import Conflict, MessageMeta, NotFound
from kingdom.services.ports import ConcurrencyConflict

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
LIFETIME = timedelta(days=30)
_ids = itertools.count(1)


def meta() -> MessageMeta:
    return MessageMeta(message_id=f"m-{next(_ids)}", occurred_at=NOW)


def h(n: int | str) -> str:
    """A sha256-hex-like token hash."""
    return f"{n:0>64}"


def a_session(
    id: str = "fam-1", user_id: str = "u-1", token: int | str = 1, now: datetime = NOW
) -> RefreshSession:
    return RefreshSession.start(id, user_id, h(token), now, absolute_lifetime=LIFETIME)


async def arrange(database: Database, *sessions: RefreshSession) -> None:
    """Users u-1 and u-2, and ``sessions`` (default: fam-1 of u-1 with token 1)."""
    async with SqlUnitOfWork(database) as uow:
        for user_id in ("u-1", "u-2"):
            await uow.users.add(
                User.register(
                    id=user_id,
                    email=f"{user_id}@example.org",
                    display_name=user_id,
                    password_hash="h",
                    meta=meta(),
                )
            )
        for session in sessions or (a_session(),):
            await uow.sessions.add(session)
        await uow.commit()


async def stored(database: Database) -> dict[str, RowMapping]:
    async with database.engine.connect() as connection:
        result = await connection.execute(select(refresh_sessions))
        return {row["id"]: row for row in result.mappings()}


def as_row(session: RefreshSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "user_id": session.user_id,
        "token_hash": session.token_hash,
        "rotation_counter": session.rotation_counter,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
        "revoked_at": session.revoked_at,
    }


async def test_a_session_round_trips(database_url: str) -> None:
    async with schema_database(database_url) as database:
        started = a_session()
        # Users and sessions in one commit: sessions are inserted after users (FK order).
        await arrange(database, started)

        async with SqlUnitOfWork(database) as uow:
            loaded = await uow.sessions.get("fam-1")
            assert loaded is not started
            assert await uow.sessions.find("fam-1") is loaded  # identity map
            assert await uow.sessions.find("nope") is None
            with pytest.raises(NotFound, match="refresh session 'nope'"):
                await uow.sessions.get("nope")

        assert loaded == started
        assert loaded.created_at.tzinfo == UTC
        assert loaded.expires_at == NOW + LIFETIME
        assert (loaded.last_used_at, loaded.revoked_at) == (None, None)
        assert {id: dict(row) for id, row in (await stored(database)).items()} == {
            "fam-1": as_row(started)
        }


async def test_sessions_are_found_by_the_hash_of_their_current_token(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database, a_session(), a_session(id="fam-2", token=2))
        async with SqlUnitOfWork(database) as uow:
            found = await uow.sessions.find_by_hash(h(2))
            assert found is not None
            assert found.id == "fam-2"
            assert await uow.sessions.find_by_hash(h(2)) is found
            assert await uow.sessions.get("fam-2") is found
            assert await uow.sessions.find_by_hash(h(99)) is None

            first = await uow.sessions.get("fam-1")
            first.rotate(h(3), NOW + timedelta(hours=1))
            # The row still says token 1, but this unit of work rotated it away.
            assert await uow.sessions.find_by_hash(h(1)) is None
            assert await uow.sessions.find_by_hash(h(3)) is first


async def test_a_rotation_is_persisted(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database)
        used = NOW + timedelta(hours=2)
        async with SqlUnitOfWork(database) as uow:
            session = await uow.sessions.find_by_hash(h(1))
            assert session is not None
            session.rotate(h(2), used)
            await uow.commit()
        async with SqlUnitOfWork(database) as uow:
            session = await uow.sessions.get(session.id)
            session.rotate(h(3), used + timedelta(minutes=1))  # compared with h(2) now
            await uow.commit()

        row = (await stored(database))["fam-1"]
        assert (row["token_hash"], row["rotation_counter"]) == (h(3), 2)
        assert row["last_used_at"] == used + timedelta(minutes=1)
        assert (row["created_at"], row["expires_at"]) == (NOW, NOW + LIFETIME)
        async with SqlUnitOfWork(database) as uow:
            assert await uow.sessions.find_by_hash(h(1)) is None
            again = await uow.sessions.find_by_hash(h(3))
            assert again is not None
            assert again.rotation_counter == 2
            assert again.is_active(used + timedelta(minutes=1), timedelta(days=1))


async def test_a_revocation_is_persisted(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database)
        async with SqlUnitOfWork(database) as uow:
            (await uow.sessions.get("fam-1")).revoke(NOW + timedelta(minutes=5))
            await uow.commit()
        row = (await stored(database))["fam-1"]
        assert (row["revoked_at"], row["token_hash"]) == (NOW + timedelta(minutes=5), h(1))


async def test_revoke_all_for_user_revokes_only_that_users_live_sessions(
    database_url: str,
) -> None:
    later = NOW + timedelta(days=1)
    revoked_earlier = a_session(id="fam-revoked", token="r")
    revoked_earlier.revoke(NOW)
    async with schema_database(database_url) as database:
        await arrange(
            database,
            a_session(id="fam-new", token="n", now=NOW + timedelta(hours=1)),
            a_session(id="fam-old", token="o"),
            a_session(id="fam-expired", token="e", now=NOW - LIFETIME),
            revoked_earlier,
            a_session(id="fam-other", user_id="u-2", token="u2"),
        )
        async with SqlUnitOfWork(database) as uow:
            mine = await uow.sessions.get("fam-old")
            added = a_session(id="fam-added", token="a", now=NOW + timedelta(hours=2))
            await uow.sessions.add(added)
            assert [s.id for s in await uow.sessions.list_live_for_user("u-1", later)] == [
                "fam-old",
                "fam-new",
                "fam-added",
            ]
            revoked = await uow.sessions.revoke_all_for_user("u-1", later)
            assert [s.id for s in revoked] == ["fam-old", "fam-new", "fam-added"]
            assert revoked[0] is mine
            assert revoked[2] is added
            assert await uow.sessions.list_live_for_user("u-1", later) == []
            await uow.commit()

        rows = await stored(database)
        assert {id: row["revoked_at"] for id, row in rows.items()} == {
            "fam-new": later,
            "fam-old": later,
            "fam-added": later,
            "fam-expired": None,  # past its absolute expiry already: left alone
            "fam-revoked": NOW,  # the first revocation stands
            "fam-other": None,
        }


async def test_a_stale_rotation_is_a_concurrency_conflict_and_writes_nothing(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        await arrange(database)
        async with SqlUnitOfWork(database) as uow:
            session = await uow.sessions.get("fam-1")
            # Someone else's rotation, simulated inside this transaction
            # (SQLite admits one writer at a time, so it cannot come from outside).
            await uow.transaction.execute(
                update(refresh_sessions)
                .where(refresh_sessions.c.id == "fam-1")
                .values(token_hash=h("theirs"), rotation_counter=1)
            )
            session.rotate(h("mine"), NOW + timedelta(minutes=1))
            with pytest.raises(ConcurrencyConflict, match="stale"):
                await uow.commit()
            # Detached, but still readable as the handler left it.
            assert (session.token_hash, session.rotation_counter) == (h("mine"), 1)

        row = (await stored(database))["fam-1"]
        assert (row["token_hash"], row["rotation_counter"], row["last_used_at"]) == (
            h(1),
            0,
            None,
        )


async def test_a_revocation_after_a_concurrent_rotation_is_a_concurrency_conflict(
    database_url: str,
) -> None:
    """Revoking compares the token hash too: a retry on fresh data then revokes the new token."""
    async with schema_database(database_url) as database:
        await arrange(database)
        async with SqlUnitOfWork(database) as uow:
            session = await uow.sessions.get("fam-1")
            await uow.transaction.execute(
                update(refresh_sessions)
                .where(refresh_sessions.c.id == "fam-1")
                .values(token_hash=h("theirs"))
            )
            session.revoke(NOW)
            with pytest.raises(ConcurrencyConflict, match="stale"):
                await uow.commit()
        assert (await stored(database))["fam-1"]["revoked_at"] is None


async def test_a_duplicate_token_hash_is_a_concurrency_conflict(database_url: str) -> None:
    async with schema_database(database_url) as database:
        await arrange(database)
        async with SqlUnitOfWork(database) as uow:
            await uow.sessions.add(a_session(id="fam-2", token=1))
            with pytest.raises(ConcurrencyConflict):
                await uow.commit()
        async with SqlUnitOfWork(database) as uow:
            await uow.sessions.get("fam-1")
            with pytest.raises(Conflict, match="already exists"):
                await uow.sessions.add(a_session(token=9))
        assert list(await stored(database)) == ["fam-1"]


async def test_concurrent_refreshes_of_one_token_let_exactly_one_through(
    database_url: str,
) -> None:
    """Two refreshes presenting the same token race; whichever way, one rotation wins.

    SQLite serialises them (the loser no longer finds the rotated-away
    token); PostgreSQL lets both load it and refuses the second write.
    """
    async with schema_database(database_url) as database:
        await arrange(database)

        async def refresh(new_token: str) -> bool:
            try:
                async with SqlUnitOfWork(database) as uow:
                    session = await uow.sessions.find_by_hash(h(1))
                    await asyncio.sleep(0.01)  # let the other one load too, if it can
                    if session is None:
                        return False
                    session.rotate(h(new_token), NOW + timedelta(minutes=1))
                    await uow.commit()
                    return True
            except ConcurrencyConflict:
                return False

        outcomes = list(await asyncio.gather(refresh("a"), refresh("b")))
        assert sorted(outcomes) == [False, True]
        row = (await stored(database))["fam-1"]
        winner = h("a") if outcomes[0] else h("b")
        assert (row["token_hash"], row["rotation_counter"]) == (winner, 1)


@pytest.mark.parametrize(
    ("isolation", "reason"),
    [
        # The compare-and-set itself: the UPDATE ... WHERE token_hash = :loaded matches no row.
        (Isolation.READ_COMMITTED, "stale"),
        # PostgreSQL's snapshot check fires first (40001); the outcome is the same.
        (Isolation.REPEATABLE_READ, "try again"),
    ],
)
async def test_postgres_a_stale_concurrent_rotation_is_detected(
    postgres_url: str, isolation: Isolation, reason: str
) -> None:
    """Two units of work load the same session and rotate it: exactly one commits."""
    async with fresh_postgres(postgres_url) as url, schema_database(url, isolation) as database:
        await arrange(database)
        first, second = SqlUnitOfWork(database), SqlUnitOfWork(database)
        async with first, second:
            mine = await first.sessions.find_by_hash(h(1))
            theirs = await second.sessions.find_by_hash(h(1))
            assert mine is not None
            assert theirs is not None
            theirs.rotate(h("theirs"), NOW + timedelta(minutes=1))
            await second.commit()
            mine.rotate(h("mine"), NOW + timedelta(minutes=2))
            with pytest.raises(ConcurrencyConflict, match=reason):
                await first.commit()

        row = (await stored(database))["fam-1"]
        assert (row["token_hash"], row["rotation_counter"]) == (h("theirs"), 1)
        assert row["last_used_at"] == NOW + timedelta(minutes=1)


@pytest.mark.parametrize("isolation", [Isolation.READ_COMMITTED, Isolation.REPEATABLE_READ])
async def test_postgres_revoke_all_racing_a_rotation_conflicts(
    postgres_url: str, isolation: Isolation
) -> None:
    """A password change cannot miss a session refreshed meanwhile: it conflicts and retries."""
    async with fresh_postgres(postgres_url) as url, schema_database(url, isolation) as database:
        await arrange(database, a_session(), a_session(id="fam-2", token=2))
        first, second = SqlUnitOfWork(database), SqlUnitOfWork(database)
        async with first, second:
            revoked = await first.sessions.revoke_all_for_user("u-1", NOW)
            assert len(revoked) == 2
            (await second.sessions.get("fam-1")).rotate(h(3), NOW)
            await second.commit()
            with pytest.raises(ConcurrencyConflict):
                await first.commit()

        async with SqlUnitOfWork(database) as retry:
            assert len(await retry.sessions.revoke_all_for_user("u-1", NOW)) == 2
            await retry.commit()
        rows = await stored(database)
        assert rows["fam-1"]["token_hash"] == h(3)
        assert all(row["revoked_at"] == NOW for row in rows.values() if row["user_id"] == "u-1")
