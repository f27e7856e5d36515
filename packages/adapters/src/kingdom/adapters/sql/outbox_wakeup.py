"""Wake the relay when PostgreSQL says outbox rows were committed (LISTEN ``kingdom_outbox``).

Migration 0005 makes every INSERT into the outbox ``pg_notify`` the channel
at commit. :func:`outbox_wakeups` keeps one dedicated asyncpg connection
(outside the pool: a listening connection must stay checked out) listening
on it and calls ``callback`` for each notification. A lost connection is
noticed (asyncpg's termination callback, and a ``SELECT 1`` when quiet for
a while), logged once, and re-opened with back-off; ``callback`` is also
called after every (re)connection, since commits made meanwhile announced
themselves to nobody. The relay's poll remains the safety net.

SQLite has no NOTIFY: there it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from kingdom.adapters.sql.engine import Database, postgres_dsn
from kingdom.adapters.sql.listening import keep_listening

CHANNEL = "kingdom_outbox"
"""The channel migration 0005's trigger notifies."""

log = logging.getLogger("kingdom.relay")


@asynccontextmanager
async def outbox_wakeups(
    database: Database,
    callback: Callable[[], None],
    *,
    check_every: float = 30.0,
    max_delay: float = 5.0,
) -> AsyncIterator[None]:
    """Call ``callback`` (on this event loop) whenever outbox rows commit, while in the block."""
    if database.dialect != "postgresql":
        yield
        return
    listener = asyncio.create_task(
        listen(postgres_dsn(database.engine.url), callback, check_every, max_delay)
    )
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def listen(
    dsn: str, callback: Callable[[], None], check_every: float = 30.0, max_delay: float = 5.0
) -> None:
    """Listen until cancelled, reconnecting after every loss (logged once per outage)."""
    await keep_listening(
        lambda connected: _listen_once(dsn, callback, connected, check_every),
        name="outbox listener",
        log=log,
        max_delay=max_delay,
    )


async def _listen_once(
    dsn: str, callback: Callable[[], None], connected: Callable[[], None], check_every: float
) -> None:
    """One connection's life: returns (or raises) when it is lost."""
    connection = await asyncpg.connect(dsn, timeout=10)
    lost = asyncio.Event()

    def notified(*_: Any) -> None:  # (connection, pid, channel, payload)
        callback()

    try:
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(CHANNEL, notified)
        connected()
        callback()  # commits made while nobody listened
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), check_every)
                return
            # Quiet for a while: a half-open TCP connection would never say so.
            await connection.fetchval("SELECT 1", timeout=10)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), 5)
        connection.terminate()
