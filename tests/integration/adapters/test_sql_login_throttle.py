"""Throttle counters in SQL: the policy's arithmetic, atomic under concurrency, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from integration.adapters.support import SqlApp, count, schema_database
from kingdom.adapters.identity.throttle import SqlLoginThrottle, login_throttle
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.domain.identity import Authenticate
from kingdom.domain.shared import Unauthenticated
from kingdom.services.fakes import EPOCH
from kingdom.services.ports import ThrottlePolicy, account_key, address_key

ANN = account_key("ann@example.org")
HOST = address_key("203.0.113.7")


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    async with schema_database(database_url) as database:
        yield database


@pytest.fixture()
def throttle(database: Database) -> SqlLoginThrottle:
    return SqlLoginThrottle(database, ThrottlePolicy())


async def failures(throttle: SqlLoginThrottle, key: str) -> int:
    counters = await throttle.load([key])
    return counters[0].failures if counters else 0


async def test_free_failures_then_doubling_delays(throttle: SqlLoginThrottle) -> None:
    waits = []
    for _ in range(8):
        await throttle.record_failure([ANN, HOST], EPOCH)
        waits.append(await throttle.check([ANN, HOST], EPOCH))

    assert waits == [None] * 5 + [1, 2, 4]
    [counter] = await throttle.load([ANN])
    assert counter.failures == 8
    assert counter.last_failure_at == EPOCH
    assert counter.blocked_until == EPOCH + timedelta(seconds=4)
    assert await failures(throttle, HOST) == 8
    assert await throttle.check([ANN], EPOCH + timedelta(seconds=4)) is None


async def test_the_quiet_window_restarts_a_counter(throttle: SqlLoginThrottle) -> None:
    for _ in range(3):
        await throttle.record_failure([ANN], EPOCH)

    await throttle.record_failure([ANN], EPOCH + timedelta(minutes=15))

    assert await failures(throttle, ANN) == 1


async def test_success_clears_the_account_only(throttle: SqlLoginThrottle) -> None:
    await throttle.record_failure([ANN, HOST], EPOCH)

    await throttle.record_success(ANN)

    assert [counter.key for counter in await throttle.load([ANN, HOST])] == [HOST]
    assert await failures(throttle, HOST) == 1


async def test_concurrent_failures_are_all_counted(throttle: SqlLoginThrottle) -> None:
    await asyncio.gather(*(throttle.record_failure([ANN], EPOCH) for _ in range(20)))

    assert await failures(throttle, ANN) == 20
    # The block is the one the 20th failure earns: 2**14 s, capped.
    assert await throttle.check([ANN], EPOCH) == 15 * 60


async def test_two_processes_share_one_count(database: Database) -> None:
    # Two uvicorn workers: two pools on one database, one table between them.
    url = database.engine.url.render_as_string(hide_password=False)
    other = create_database(url)
    try:
        workers = [
            SqlLoginThrottle(database, ThrottlePolicy()),
            SqlLoginThrottle(other, ThrottlePolicy()),
        ]
        await asyncio.gather(
            *(workers[n % 2].record_failure([ANN, HOST], EPOCH) for n in range(20))
        )
        assert await failures(workers[0], ANN) == await failures(workers[1], HOST) == 20
    finally:
        await other.dispose()


async def test_attempts_sharing_an_address_do_not_deadlock(
    database: Database, throttle: SqlLoginThrottle
) -> None:
    # Each attempt locks its account's row and the shared address's row; the
    # keys are always locked in one order, so no two attempts wait on each other.
    await asyncio.gather(
        *(
            throttle.record_failure([account_key(f"user{n}@example.org"), HOST], EPOCH)
            for n in range(20)
        )
    )

    assert await failures(throttle, HOST) == 20
    assert await count(database, login_throttle) == 21


async def test_forgotten_counters_are_pruned_and_live_ones_kept(database: Database) -> None:
    throttle = SqlLoginThrottle(database, ThrottlePolicy(), prune_every=1_000)
    quiet, blocked = account_key("quiet@example.org"), account_key("blocked@example.org")
    await throttle.record_failure([quiet], EPOCH)
    for _ in range(20):
        await throttle.record_failure([blocked], EPOCH)  # blocked for 15 min
    later = EPOCH + timedelta(minutes=20)
    await throttle.record_failure([ANN], later)

    assert await throttle.prune(later) == 1

    assert {counter.key for counter in await throttle.load([quiet, blocked, ANN])} == {
        blocked,  # its quiet window starts when its block ends
        ANN,
    }


async def test_every_nth_write_prunes(database: Database) -> None:
    throttle = SqlLoginThrottle(database, ThrottlePolicy(), prune_every=2)
    await throttle.record_failure([account_key("old@example.org")], EPOCH)

    await throttle.record_failure([ANN], EPOCH + timedelta(hours=1))

    assert await count(database, login_throttle) == 1


async def test_a_failed_login_is_counted_although_its_transaction_rolls_back(
    database: Database,
) -> None:
    app = SqlApp(database)
    throttle = SqlLoginThrottle(database, ThrottlePolicy())

    for email in ("nobody@example.org", "nobody@example.org"):
        with pytest.raises(Unauthenticated):
            await app.bus.handle(
                Authenticate(
                    meta=app.meta(), email=email, password="wrong", client_address="203.0.113.7"
                )
            )

    assert await failures(throttle, account_key("nobody@example.org")) == 2
    assert await failures(throttle, HOST) == 2
