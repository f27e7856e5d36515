"""The token state cache: served from memory only under a valid lease, never across a change.

The database read is a fake that counts its calls and can be held half-way
(to race a notification against it); the clock is a number the test moves.
The listener is played by the test: ``listening``, ``confirmed``,
``changed`` and ``deaf`` are what the real one calls.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from kingdom.adapters.identity.token_state_cache import TokenStateCache, token_state_notices
from kingdom.adapters.identity.token_states import TokenState
from kingdom.adapters.metrics.token_states import TokenStateMetrics
from kingdom.adapters.sql.engine import create_database
from kingdom.domain.identity import UserStatus

LEASE = 0.1


class FakeStates:
    """Token states by user id, as the database has them now; counts reads, may hold them."""

    def __init__(self) -> None:
        self.rows: dict[str, TokenState] = {"u-1": TokenState(1, UserStatus.ACTIVE)}
        self.reads = 0
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def current(self, user_id: str) -> TokenState | None:
        self.reads += 1
        state = self.rows.get(user_id)  # what the statement sees, when it runs
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        return state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def states() -> FakeStates:
    return FakeStates()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def cache(states: FakeStates, clock: Clock) -> TokenStateCache:
    return TokenStateCache(states.current, lease=LEASE, clock=clock)


def trusted(cache: TokenStateCache, clock: Clock) -> TokenStateCache:
    """``cache`` listening, its lease just renewed."""
    cache.listening()
    cache.confirmed(clock.now)
    return cache


async def test_without_a_listener_every_check_reads(cache: TokenStateCache, states: FakeStates):
    for _ in range(3):
        assert await cache.current("u-1") == TokenState(1, UserStatus.ACTIVE)
    assert states.reads == 3
    assert len(cache) == 0  # nothing kept: nobody would say when it changes
    assert not cache.trusted


async def test_under_a_lease_a_known_state_is_not_read_again(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    first = await cache.current("u-1")
    clock.now += LEASE / 4
    again = await cache.current("u-1")
    assert first == again == TokenState(1, UserStatus.ACTIVE)
    assert states.reads == 1


async def test_listening_without_a_check_yet_reads_but_keeps(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    cache.listening()
    await cache.current("u-1")
    await cache.current("u-1")
    assert states.reads == 2  # not trusted before the first check came back
    assert len(cache) == 1
    cache.confirmed(clock.now)
    await cache.current("u-1")
    assert states.reads == 2


async def test_a_lapsed_lease_reads_and_asks_for_a_check(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    await cache.current("u-1")
    cache.renewal.clear()
    clock.now += LEASE  # the lease ends: a silent channel could have missed a change
    await cache.current("u-1")
    assert states.reads == 2
    assert cache.renewal.is_set()
    cache.renewal.clear()
    cache.confirmed(clock.now)  # the check came back
    await cache.current("u-1")
    assert states.reads == 2
    assert not cache.renewal.is_set()  # a fresh lease needs no check yet


async def test_a_lease_is_renewed_ahead_of_its_end(cache: TokenStateCache, clock: Clock):
    trusted(cache, clock)
    await cache.current("u-1")
    cache.renewal.clear()
    clock.now += LEASE * 0.4
    await cache.current("u-1")
    assert not cache.renewal.is_set()
    clock.now += LEASE * 0.2  # past half of it
    await cache.current("u-1")
    assert cache.renewal.is_set()


async def test_a_lease_counts_from_when_the_check_was_sent(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    cache.listening()
    sent = clock.now
    clock.now += LEASE * 0.9  # a slow check: it vouches only for what preceded it
    cache.confirmed(sent)
    await cache.current("u-1")
    clock.now += LEASE * 0.2
    await cache.current("u-1")
    assert states.reads == 2


async def test_a_notification_drops_that_user_at_once(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    states.rows["u-2"] = TokenState(5, UserStatus.ACTIVE)
    await cache.current("u-1")
    await cache.current("u-2")
    states.rows["u-1"] = TokenState(2, UserStatus.ACTIVE)
    cache.changed("u-1")
    assert await cache.current("u-1") == TokenState(2, UserStatus.ACTIVE)
    assert await cache.current("u-2") == TokenState(5, UserStatus.ACTIVE)
    assert states.reads == 3  # u-2 stayed cached


async def test_a_notification_for_everyone_drops_all(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    await cache.current("u-1")
    states.rows["u-1"] = TokenState(1, UserStatus.DISABLED)
    cache.changed(None)  # users was truncated
    assert len(cache) == 0
    assert await cache.current("u-1") == TokenState(1, UserStatus.DISABLED)


async def test_a_state_read_while_a_change_arrived_is_not_kept(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    states.hold = asyncio.Event()
    reading = asyncio.create_task(cache.current("u-1"))
    await states.started.wait()  # the statement saw version 1...
    states.rows["u-1"] = TokenState(2, UserStatus.ACTIVE)
    cache.changed("u-1")  # ...then the change committed and was announced
    states.hold.set()
    assert await reading == TokenState(1, UserStatus.ACTIVE)  # this request was already under way
    states.hold = None
    assert await cache.current("u-1") == TokenState(2, UserStatus.ACTIVE)  # nothing stale kept
    assert states.reads == 2


async def test_any_notification_during_a_read_keeps_its_state_out(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    states.hold = asyncio.Event()
    reading = asyncio.create_task(cache.current("u-1"))
    await states.started.wait()
    cache.changed("someone-else")
    states.hold.set()
    await reading
    assert len(cache) == 0


async def test_a_lost_channel_reads_every_time_until_it_is_back(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    await cache.current("u-1")
    cache.deaf()
    assert len(cache) == 0
    cache.confirmed(clock.now)  # a check answered late, after the loss: vouches for nothing
    await cache.current("u-1")
    await cache.current("u-1")
    assert states.reads == 3
    assert len(cache) == 0  # nor keeps anything while deaf
    assert not cache.trusted


async def test_a_reconnection_starts_empty(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    await cache.current("u-1")
    cache.deaf()
    states.rows["u-1"] = TokenState(9, UserStatus.ACTIVE)  # changed while nobody listened
    trusted(cache, clock)
    assert await cache.current("u-1") == TokenState(9, UserStatus.ACTIVE)


async def test_a_read_across_a_reconnection_is_not_kept(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    states.hold = asyncio.Event()
    reading = asyncio.create_task(cache.current("u-1"))
    await states.started.wait()
    cache.deaf()
    trusted(cache, clock)  # back, but changes in between were announced to nobody
    states.hold.set()
    await reading
    assert len(cache) == 0


async def test_unknown_users_are_not_cached(
    cache: TokenStateCache, states: FakeStates, clock: Clock
):
    trusted(cache, clock)
    assert await cache.current("nobody") is None
    assert await cache.current("nobody") is None
    assert states.reads == 2


async def test_the_least_recently_used_state_goes_first(states: FakeStates, clock: Clock):
    cache = trusted(TokenStateCache(states.current, lease=LEASE, clock=clock, max_entries=2), clock)
    for n in (1, 2, 3):
        states.rows[f"u-{n}"] = TokenState(n, UserStatus.ACTIVE)
    await cache.current("u-1")
    await cache.current("u-2")
    await cache.current("u-1")  # u-2 is now the least recently used
    await cache.current("u-3")
    assert len(cache) == 2
    reads = states.reads
    await cache.current("u-1")
    await cache.current("u-3")
    assert states.reads == reads
    await cache.current("u-2")
    assert states.reads == reads + 1


async def test_checks_are_counted_by_source(states: FakeStates, clock: Clock):
    registry = CollectorRegistry()
    cache = trusted(
        TokenStateCache(
            states.current, lease=LEASE, clock=clock, metrics=TokenStateMetrics(registry)
        ),
        clock,
    )
    for _ in range(3):
        await cache.current("u-1")

    def counted(source: str) -> float | None:
        return registry.get_sample_value("kingdom_token_state_checks_total", {"source": source})

    assert (counted("database"), counted("cache")) == (1, 2)


@pytest.mark.parametrize("settings", [{"lease": 0}, {"max_entries": 0}])
def test_nonsense_settings_are_refused(states: FakeStates, settings: dict[str, float]):
    with pytest.raises(ValueError, match="must be"):
        TokenStateCache(states.current, **settings)  # type: ignore[arg-type]


async def test_sqlite_has_nothing_to_listen_to(cache: TokenStateCache) -> None:
    database = create_database("sqlite+aiosqlite:///:memory:")
    try:
        async with token_state_notices(database, cache):
            assert not cache.trusted
    finally:
        await database.dispose()
