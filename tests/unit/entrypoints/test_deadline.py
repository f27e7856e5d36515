"""A query's deadline: its clock starts at the first reading and does not move after."""

from __future__ import annotations

import asyncio

import pytest

from kingdom.entrypoints.graphql.deadline import Deadline, timeout


async def test_a_deadline_is_fixed_by_its_first_reading() -> None:
    loop = asyncio.get_running_loop()
    deadline = Deadline(5.0)
    before = loop.time()

    first = deadline.at()
    await asyncio.sleep(0.01)

    assert before + 5.0 <= first <= loop.time() + 5.0
    assert deadline.at() == first


async def test_waiting_past_it_stops_with_a_timeout_and_none_means_no_limit() -> None:
    with pytest.raises(TimeoutError):
        async with timeout(Deadline(0.01)):
            await asyncio.sleep(1)
    async with timeout(None):
        await asyncio.sleep(0.01)
