"""Staying subscribed to a PostgreSQL ``LISTEN`` channel across lost connections.

The outbox wake-ups and the token-state notices each hold a connection of
their own that LISTENs; both must come back by themselves after a restart or
a network cut, without flooding the log while the database is away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

ListenOnce = Callable[[Callable[[], None]], Awaitable[None]]
"""One connection's life: connects, calls its argument once listening, returns
(or raises) when the connection is lost."""


async def keep_listening(
    listen_once: ListenOnce,
    *,
    name: str,
    log: logging.Logger,
    while_lost: str = "reconnecting",
    on_loss: Callable[[], None] = lambda: None,
    max_delay: float = 5.0,
) -> None:
    """Run ``listen_once`` until cancelled, again after every loss.

    An outage is logged once when it starts ("``name`` lost (why);
    ``while_lost``") and once when it ends, however many attempts it takes;
    attempts back off from 0.1 s to ``max_delay``. ``on_loss`` runs after
    every connection's end, whatever ended it.
    """
    failures = 0

    def connected() -> None:
        nonlocal failures
        if failures:
            log.info("%s reconnected", name)
        failures = 0

    while True:
        try:
            await listen_once(connected)
            reason = "the connection closed"
        except Exception as error:  # cancellation passes
            reason = described(error)
        finally:
            on_loss()
        failures += 1
        if failures == 1:
            log.warning("%s lost (%s); %s", name, reason, while_lost)
        await asyncio.sleep(min(max_delay, 0.05 * 2 ** min(failures, 10)))


def described(error: BaseException) -> str:
    """``Type: first line of the message`` (the type alone when there is no message)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
