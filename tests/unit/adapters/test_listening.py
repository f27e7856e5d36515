"""keep_listening: back after every loss, each outage logged once at each end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from kingdom.adapters.sql.listening import described, keep_listening

LOG = logging.getLogger("kingdom.test.listening")


async def test_an_outage_is_logged_once_and_every_loss_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two failed attempts (one outage), a connection that closes (another),
    # then one that holds until cancelled.
    script: list[BaseException | None] = [OSError("refused\nmore"), OSError("refused"), None]
    losses: list[int] = []
    attempts = 0
    holding = asyncio.Event()

    async def listen_once(connected: Callable[[], None]) -> None:
        nonlocal attempts
        attempts += 1
        if script:
            step = script.pop(0)
            if step is not None:
                raise step
            connected()
            return  # the connection closed
        connected()
        holding.set()
        await asyncio.Event().wait()

    with caplog.at_level(logging.INFO, logger=LOG.name):
        task = asyncio.create_task(
            keep_listening(
                listen_once,
                name="test listener",
                log=LOG,
                while_lost="waiting",
                on_loss=lambda: losses.append(attempts),
                max_delay=0.01,
            )
        )
        await asyncio.wait_for(holding.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert attempts == 4
    assert losses == [1, 2, 3, 4]  # after every connection's end, cancellation included
    assert [record.getMessage() for record in caplog.records] == [
        "test listener lost (OSError: refused); waiting",
        "test listener reconnected",
        "test listener lost (the connection closed); waiting",
        "test listener reconnected",
    ]


def test_an_error_is_described_by_its_type_and_first_line() -> None:
    assert described(ValueError("bad\nworse")) == "ValueError: bad"
    assert described(TimeoutError()) == "TimeoutError"
