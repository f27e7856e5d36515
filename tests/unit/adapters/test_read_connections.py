"""The direct reader's own connections: opened on demand, shared in turn, closed when stale."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kingdom.adapters.sql.read_connections import ReadConnections
from kingdom.services.outages import Unavailable


class FakeConnection:
    def __init__(self, number: int) -> None:
        self.number = number
        self.terminated = False

    def is_closed(self) -> bool:
        return self.terminated

    def terminate(self) -> None:
        self.terminated = True


class FakeServer:
    """Hands out numbered connections; refuses while ``down``."""

    def __init__(self) -> None:
        self.opened: list[FakeConnection] = []
        self.down = False

    async def connect(self) -> Any:
        await asyncio.sleep(0)
        if self.down:
            raise OSError("Connection refused")
        connection = FakeConnection(len(self.opened))
        self.opened.append(connection)
        return connection


def pool(server: FakeServer, size: int = 2, **options: float) -> ReadConnections:
    return ReadConnections(server.connect, size, **options)


async def test_connections_open_on_demand_and_the_last_one_back_is_reused() -> None:
    server = FakeServer()
    connections = pool(server, size=3)
    first, second = await connections.acquire(), await connections.acquire()
    connections.release(first)
    connections.release(second)
    assert await connections.acquire() is second
    assert len(server.opened) == 2
    assert connections.open == 2


async def test_past_its_size_a_read_waits_its_turn_first_come_first_served() -> None:
    server = FakeServer()
    connections = pool(server, size=1)
    held = await connections.acquire()
    order: list[str] = []

    async def read(name: str) -> None:
        connection = await connections.acquire()
        order.append(name)
        connections.release(connection)

    readers = [asyncio.create_task(read(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0.01)
    assert order == []  # all waiting
    connections.release(held)
    await asyncio.gather(*readers)
    assert order == ["a", "b", "c"]
    assert len(server.opened) == 1


async def test_none_coming_free_in_time_is_unavailable() -> None:
    connections = pool(FakeServer(), size=1, timeout=0.05)
    await connections.acquire()
    with pytest.raises(Unavailable, match="no database connection came free in 0.05 s"):
        await connections.acquire()


async def test_a_waiter_that_gives_up_passes_its_turn_on() -> None:
    connections = pool(FakeServer(), size=1)
    held = await connections.acquire()
    impatient = asyncio.create_task(connections.acquire())
    patient = asyncio.create_task(connections.acquire())
    await asyncio.sleep(0.01)
    connections.release(held)  # wakes the impatient one...
    impatient.cancel()  # ...which leaves before it runs
    assert await asyncio.wait_for(patient, 1) is held


async def test_a_refused_connection_is_unavailable_and_frees_its_place() -> None:
    server = FakeServer()
    connections = pool(server, size=1)
    server.down = True
    with pytest.raises(Unavailable, match="cannot connect to the database: Connection refused"):
        await connections.acquire()
    server.down = False
    assert connections.open == 0
    assert (await connections.acquire()).number == 0


async def test_after_an_outage_no_older_connection_is_used_again() -> None:
    server = FakeServer()
    connections = pool(server, size=3)
    idle, busy = await connections.acquire(), await connections.acquire()
    connections.release(idle)
    connections.forget()
    assert idle.terminated  # at once
    connections.release(busy)
    assert busy.terminated  # as it comes back
    fresh = await connections.acquire()
    assert fresh not in (idle, busy)
    assert connections.open == 1


async def test_a_connection_past_its_age_is_closed_instead_of_reused() -> None:
    server = FakeServer()
    connections = pool(server, size=1, recycle=0.0)
    old = await connections.acquire()
    connections.release(old)
    await asyncio.sleep(0.001)
    new = await connections.acquire()
    assert old.terminated
    assert new is not old


async def test_closing_closes_the_idle_and_reads_reopen() -> None:
    server = FakeServer()
    connections = pool(server)
    connection = await connections.acquire()
    connections.release(connection)
    await connections.close()
    assert connection.terminated
    assert connections.open == 0
    assert await connections.acquire() is not connection


def test_it_needs_at_least_one_connection() -> None:
    with pytest.raises(ValueError, match="at least one connection"):
        ReadConnections(FakeServer().connect, 0)


async def test_a_read_arriving_while_others_wait_queues_behind_them() -> None:
    connections = pool(FakeServer(), size=1)
    held = await connections.acquire()
    first = asyncio.create_task(connections.acquire())
    await asyncio.sleep(0.01)  # waiting
    connections.release(held)  # handed to the first in line, not left for anyone
    late = asyncio.create_task(connections.acquire())
    assert await first is held
    await asyncio.sleep(0.01)
    assert not late.done()
    connections.release(held)
    assert await late is held


async def test_a_connection_closed_in_use_lets_the_next_in_line_open_another() -> None:
    server = FakeServer()
    connections = pool(server, size=1)
    broken = await connections.acquire()
    waiting = asyncio.create_task(connections.acquire())
    await asyncio.sleep(0.01)
    connections.release(broken, reusable=False)
    fresh = await asyncio.wait_for(waiting, 1)
    assert broken.terminated
    assert fresh is not broken
    assert connections.open == 1


async def test_a_connection_past_its_age_is_not_handed_on() -> None:
    server = FakeServer()
    connections = pool(server, size=1, recycle=0.0)
    old = await connections.acquire()
    waiting = asyncio.create_task(connections.acquire())
    await asyncio.sleep(0.01)
    connections.release(old)
    assert (await asyncio.wait_for(waiting, 1)) is not old
    assert old.terminated


async def test_usage_counts_connections_in_use_and_idle() -> None:
    connections = pool(FakeServer(), size=3)
    assert connections.usage() == (0, 0)
    first, second = await connections.acquire(), await connections.acquire()
    assert connections.usage() == (2, 0)
    connections.release(first)
    assert connections.usage() == (1, 1)
    connections.release(second, reusable=False)  # closed, not kept
    assert connections.usage() == (0, 1)
