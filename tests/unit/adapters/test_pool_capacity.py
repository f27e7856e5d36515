"""Workers x (pool + overflow) + a reserve must fit under PostgreSQL's max_connections."""

from __future__ import annotations

import pytest

from kingdom.adapters.sql.capacity import (
    PoolTooLarge,
    ServerLimits,
    check_pool_fits,
    connections_per_worker,
)

DEFAULT_SERVER = ServerLimits(max_connections=100, superuser_reserved=3)


def test_the_reserve_is_a_tenth_of_the_server_or_five_connections() -> None:
    assert DEFAULT_SERVER.reserve == 10
    assert DEFAULT_SERVER.usable == 87
    assert ServerLimits(20).reserve == 5
    assert ServerLimits(1001).reserve == 101


def test_a_worker_may_open_its_pool_twice_over() -> None:
    assert connections_per_worker(20) == 40


@pytest.mark.parametrize(("workers", "pool_size"), [(1, 20), (2, 20), (4, 10), (87, 0)])
def test_pools_that_fit_pass(workers: int, pool_size: int) -> None:
    check_pool_fits(workers, pool_size, DEFAULT_SERVER)


def test_pools_that_do_not_fit_are_refused_naming_both_settings() -> None:
    with pytest.raises(PoolTooLarge) as refused:
        check_pool_fits(3, 20, DEFAULT_SERVER)

    message = str(refused.value)
    assert "KINGDOM_WORKERS=3" in message
    assert "KINGDOM_DATABASE_POOL_SIZE=20" in message
    assert "= 120 connections" in message
    assert "allows 87" in message
    assert "at most 14 with 3 worker(s)" in message
    assert refused.value.needed == 120


def test_too_many_workers_for_any_pool_says_so() -> None:
    with pytest.raises(PoolTooLarge, match="lower KINGDOM_WORKERS .not even a pool of 1"):
        check_pool_fits(64, 1, ServerLimits(100, 3))
