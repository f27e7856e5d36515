"""PostgreSQL keeps the token state cache honest: migration 0011's trigger and the listener.

Waits are bounded by a number of polls and assert the state they waited for,
never a clock: a loaded machine only makes them slower.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert, text, update

from integration.adapters.support import schema_database, user_rows
from kingdom.adapters.identity.tables import users
from kingdom.adapters.identity.token_state_cache import (
    APPLICATION_NAME,
    CHANNEL,
    TokenStateCache,
    token_state_notices,
)
from kingdom.adapters.identity.token_states import SqlTokenStates, TokenState
from kingdom.adapters.sql.engine import Database, postgres_dsn
from kingdom.domain.identity import UserStatus

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

POLLS = 2000
POLL = 0.01


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    async with schema_database(database_url) as database:
        async with database.writer.begin() as connection:
            await connection.execute(insert(users), user_rows(3, lambda n: {"token_version": 1}))
        yield database


async def until(condition: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    for _ in range(POLLS):
        outcome = condition()
        if await outcome if isinstance(outcome, Awaitable) else outcome:
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"not after {POLLS} polls: {what}")


async def change(database: Database, user_id: str, **values: Any) -> None:
    """A commit by another connection (the writer's pool: not the listener's)."""
    async with database.writer.begin() as connection:
        await connection.execute(update(users).where(users.c.id == user_id).values(**values))


class CountingStates:
    def __init__(self, database: Database) -> None:
        self._states = SqlTokenStates(database)
        self.reads = 0

    async def current(self, user_id: str) -> TokenState | None:
        self.reads += 1
        return await self._states.current(user_id)


# The trigger, seen by a plain listener.


@pytest.fixture()
async def notices(database: Database) -> AsyncIterator[list[str]]:
    connection = await asyncpg.connect(postgres_dsn(database.engine.url))
    payloads: list[str] = []
    await connection.add_listener(CHANNEL, lambda *args: payloads.append(args[3]))
    try:
        yield payloads
    finally:
        await connection.close()


async def test_a_token_version_or_status_change_names_the_user(
    database: Database, notices: list[str]
) -> None:
    await change(database, "u-1", token_version=2)
    await change(database, "u-2", status="disabled")
    await until(lambda: len(notices) == 2, "two notifications")
    assert notices == ["u-1", "u-2"]


async def test_other_changes_say_nothing(database: Database, notices: list[str]) -> None:
    await change(database, "u-1", display_name="Renamed", version=2)
    await change(database, "u-1", token_version=1, status="active")  # the same values again
    await change(database, "u-2", token_version=5)  # a fence: commits are announced in order
    await until(lambda: len(notices) >= 1, "the fence")
    assert notices == ["u-2"]


async def test_a_rolled_back_change_says_nothing(database: Database, notices: list[str]) -> None:
    async with database.writer.connect() as connection:
        await connection.begin()
        await connection.execute(update(users).where(users.c.id == "u-1").values(token_version=9))
        await connection.rollback()
    await change(database, "u-2", token_version=5)
    await until(lambda: len(notices) >= 1, "the fence")
    assert notices == ["u-2"]


async def test_deleting_names_the_user_and_truncating_names_everyone(
    database: Database, notices: list[str]
) -> None:
    async with database.writer.begin() as connection:
        await connection.execute(users.delete().where(users.c.id == "u-0"))
    async with database.writer.begin() as connection:
        await connection.execute(text("TRUNCATE users CASCADE"))
    await until(lambda: len(notices) == 2, "two notifications")
    assert notices == ["u-0", ""]


# The cache with its real listener.


@pytest.fixture()
async def listened(database: Database) -> AsyncIterator[tuple[TokenStateCache, CountingStates]]:
    states = CountingStates(database)
    cache = TokenStateCache(states.current)
    async with token_state_notices(database, cache):
        yield cache, states


async def warm(cache: TokenStateCache, states: CountingStates, user_id: str) -> TokenState:
    """Read ``user_id`` until the cache answers it without a read (polls, bounded)."""
    for _ in range(POLLS):
        reads = states.reads
        state = await cache.current(user_id)
        if states.reads == reads:
            assert state is not None
            return state
        await asyncio.sleep(POLL)
    raise AssertionError("the cache never answered")


async def test_a_change_by_another_connection_is_seen(
    database: Database,
    listened: tuple[TokenStateCache, CountingStates],
    record_property: Callable[[str, object], None],
) -> None:
    cache, states = listened
    heard: list[float] = []
    changed = cache.changed

    def hearing(user_id: str | None) -> None:
        heard.append(time.monotonic())
        changed(user_id)

    cache.changed = hearing  # type: ignore[method-assign]
    assert await warm(cache, states, "u-1") == TokenState(1, UserStatus.ACTIVE)
    committing = time.monotonic()
    await change(database, "u-1", token_version=2)
    await until(
        lambda: _is(cache, "u-1", TokenState(2, UserStatus.ACTIVE)), "the new token version"
    )
    record_property(
        "measured notification",
        f"measured: the listener heard of a change {(heard[0] - committing) * 1000:.2f} ms"
        " after its transaction began (BEGIN, UPDATE, COMMIT included)",
    )
    await warm(cache, states, "u-1")
    await change(database, "u-1", status="disabled")
    await until(
        lambda: _is(cache, "u-1", TokenState(2, UserStatus.DISABLED)), "the disabled status"
    )


async def _is(cache: TokenStateCache, user_id: str, expected: TokenState) -> bool:
    return await cache.current(user_id) == expected


async def _listener_pids(database: Database) -> list[int]:
    connection = await asyncpg.connect(postgres_dsn(database.engine.url))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = $2",
            APPLICATION_NAME,
            database.engine.url.database,
        )
        return [row["pid"] for row in rows]
    finally:
        await connection.close()


async def test_a_terminated_listener_means_reading_until_it_is_back(
    database: Database, listened: tuple[TokenStateCache, CountingStates]
) -> None:
    cache, states = listened
    await warm(cache, states, "u-1")
    [pid] = await _listener_pids(database)
    admin = await asyncpg.connect(postgres_dsn(database.engine.url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await until(lambda: not cache.trusted, "the cache distrusted")
    assert len(cache) == 0
    reads = states.reads
    assert await cache.current("u-1") == TokenState(1, UserStatus.ACTIVE)
    assert states.reads == reads + 1  # read, not served from memory
    # Back by itself, on a new connection, with an empty cache that then serves again.
    await until(lambda: cache.trusted, "the listener back")
    assert (await _listener_pids(database)) not in ([], [pid])
    await warm(cache, states, "u-1")


async def test_leaving_the_block_stops_trusting_the_cache(database: Database) -> None:
    states = CountingStates(database)
    cache = TokenStateCache(states.current)
    async with token_state_notices(database, cache):
        await warm(cache, states, "u-1")
    assert not cache.trusted
    assert len(cache) == 0
    assert await _listener_pids(database) == []


async def test_leaving_the_block_ends_the_listener_while_a_check_is_asked_for(
    database: Database,
) -> None:
    # A request asks for a check just as the server shuts down: on Python 3.11
    # asyncio.wait_for would swallow the cancellation and the exit would hang.
    states = CountingStates(database)
    cache = TokenStateCache(states.current)
    for _ in range(3):
        async with asyncio.timeout(120):  # a safety net against a hang, not a measurement
            async with token_state_notices(database, cache):
                await until(lambda: cache.trusted, "the cache trusted")
                cache.renewal.set()
        assert not cache.trusted
