"""Token states cached in each server process, trusted only while PostgreSQL proves them current.

Reading the caller's token state is the largest single cost of an
authenticated request. A cache of it must not delay revocation: a password
change, a disabled account or a change of grants has to void the user's
tokens on every worker within 100 ms. So the cache is kept honest by the
database itself, and trusts nothing it cannot prove:

* Migration 0011 makes PostgreSQL ``pg_notify('kingdom_token_state', id)``
  when a user's ``token_version`` or ``status`` changes or the user is
  deleted (an empty payload when ``users`` is truncated). NOTIFY is delivered
  at commit, never for a rolled-back change.
* :func:`token_state_notices` keeps one dedicated asyncpg connection per
  process (outside the pool) LISTENing on that channel; every notification
  drops the user's entry (or all of them) at once.
* The cache is used only under a *lease*: the listener's last check, a round
  trip on the listening connection that started at ``t``, makes the cache
  trustworthy until ``t + lease`` (100 ms by default). PostgreSQL sends a
  listener every notification committed before it answers a query ahead of
  the answer, so a change committed before ``t`` has dropped its entry by
  then, and one committed after ``t`` can be missed at most until
  ``t + lease``: never longer than the lease, even if the channel died
  silently (a half-open TCP connection says nothing). Requests renew the
  lease ahead of its end, so a busy process checks about twice per lease and
  an idle one only every ``check_every``. A lapsed lease costs a read, not
  trust.
* A lost connection (asyncpg's termination callback, a failed or slow check)
  empties the cache and stops its use at once; every request reads until the
  listener is back (reconnecting with back-off), which empties it again:
  changes made meanwhile announced themselves to nobody.
* A read races a change: the state it brings back may predate a commit
  whose notification arrived while it was under way. A generation counter,
  bumped by every notification and every (re)connection, guards the store:
  a state is kept only if no notification arrived during its read.

Misses (a user id with no row) are not cached. The cache is a bounded LRU.
Not thread-safe: one instance per event loop (a uvicorn worker).

SQLite has no cross-process notification: there the server does not cache
at all (:class:`~kingdom.adapters.identity.token_states.SqlTokenStates`
reads the file in the event loop's thread in microseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg

from kingdom.adapters.identity.token_states import TokenState
from kingdom.adapters.metrics.token_states import TokenStateMetrics
from kingdom.adapters.sql.engine import Database, postgres_dsn
from kingdom.adapters.sql.listening import keep_listening

CHANNEL: Final = "kingdom_token_state"
"""The channel migration 0011's trigger notifies, the user id as payload."""

APPLICATION_NAME: Final = "kingdom-token-states"
"""How the listening connection shows in ``pg_stat_activity``."""

DEFAULT_LEASE: Final = 0.1
"""Seconds a check of the listening connection vouches for the cache: the issue's 100 ms."""
DEFAULT_MAX_ENTRIES: Final = 10_000
"""About 2 MB: far more users than one worker sees between two of their changes."""

log = logging.getLogger("kingdom.token_states")


class TokenStateCache:
    """Token states by user id, served from memory only under a valid lease.

    ``read`` is the database read (``SqlTokenStates.current``). The listener
    drives the rest: :meth:`listening` when its LISTEN is in place,
    :meth:`confirmed` after each check, :meth:`changed` for each
    notification, :meth:`deaf` when the connection is lost or closed.
    Until the first :meth:`listening` every call reads.
    """

    def __init__(
        self,
        read: Callable[[str], Awaitable[TokenState | None]],
        *,
        lease: float = DEFAULT_LEASE,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        metrics: TokenStateMetrics | None = None,
    ) -> None:
        if lease <= 0:
            raise ValueError(f"the lease must be positive, got {lease}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._read = read
        self._lease = lease
        self._renew_before = lease / 2
        self._max_entries = max_entries
        self.clock = clock
        """The clock leases are measured on (the listener stamps its checks with it)."""
        self._metrics = metrics
        self._entries: OrderedDict[str, TokenState] = OrderedDict()
        self._generation = 0
        self._listening = False
        self._trusted_until = float("-inf")
        self.renewal = asyncio.Event()
        """Set when the lease should be renewed: the listener checks its connection then."""

    async def current(self, user_id: str) -> TokenState | None:
        remaining = self._trusted_until - self.clock()
        if remaining > 0:
            if remaining < self._renew_before:
                self.renewal.set()
            state = self._entries.get(user_id)
            if state is not None:
                self._entries.move_to_end(user_id)
                if self._metrics is not None:
                    self._metrics.cached()
                return state
        elif self._listening:
            self.renewal.set()  # a lapsed lease: this read is on us, the next need not be
        generation = self._generation
        state = await self._read(user_id)
        if self._metrics is not None:
            self._metrics.read()
        # Kept only if nothing changed meanwhile and a LISTEN was in place all along.
        if state is not None and self._listening and generation == self._generation:
            self._entries[user_id] = state
            self._entries.move_to_end(user_id)
            if len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return state

    @property
    def trusted(self) -> bool:
        """Whether the cache may answer now (a LISTEN in place, the lease running)."""
        return self.clock() < self._trusted_until

    def __len__(self) -> int:
        return len(self._entries)

    # The listener's side.

    def listening(self) -> None:
        """A LISTEN is in place on a new connection: forget all, trust after the first check."""
        self._forget()
        self._listening = True
        self._trusted_until = float("-inf")

    def confirmed(self, sent_at: float) -> None:
        """A check sent at ``sent_at`` (this clock) came back: trust until ``sent_at + lease``."""
        if self._listening:
            self._trusted_until = max(self._trusted_until, sent_at + self._lease)

    def changed(self, user_id: str | None) -> None:
        """``user_id``'s state changed (None: any user's may have)."""
        self._generation += 1
        if user_id is None:
            self._entries.clear()
        else:
            self._entries.pop(user_id, None)

    def deaf(self) -> None:
        """The channel is lost or closed: forget all, read until :meth:`listening` again."""
        self._listening = False
        self._trusted_until = float("-inf")
        self._forget()

    def _forget(self) -> None:
        self._generation += 1
        self._entries.clear()


@asynccontextmanager
async def token_state_notices(
    database: Database,
    cache: TokenStateCache,
    *,
    check_every: float = 30.0,
    check_timeout: float = 5.0,
    max_delay: float = 5.0,
) -> AsyncIterator[None]:
    """Keep ``cache`` listening to PostgreSQL while in the block (nothing to do on SQLite).

    ``check_every``: seconds between checks of an idle connection (busy ones
    are checked on demand, see :class:`TokenStateCache`); ``check_timeout``:
    a check slower than this counts as a lost connection; ``max_delay``: the
    longest pause between reconnection attempts.
    """
    if database.dialect != "postgresql":
        yield
        return
    listener = asyncio.create_task(
        listen(postgres_dsn(database.engine.url), cache, check_every, check_timeout, max_delay)
    )
    try:
        yield
    finally:
        listener.cancel()
        try:
            await listener
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this task is being cancelled too: not only the listener
        finally:
            cache.deaf()


async def listen(
    dsn: str,
    cache: TokenStateCache,
    check_every: float = 30.0,
    check_timeout: float = 5.0,
    max_delay: float = 5.0,
) -> None:
    """Listen until cancelled, reconnecting after every loss (logged once per outage)."""
    await keep_listening(
        lambda connected: _listen_once(dsn, cache, connected, check_every, check_timeout),
        name="token state listener",
        log=log,
        while_lost="reading every state until it is back",
        on_loss=cache.deaf,
        max_delay=max_delay,
    )


async def _listen_once(
    dsn: str,
    cache: TokenStateCache,
    connected: Callable[[], None],
    check_every: float,
    check_timeout: float,
) -> None:
    """One connection's life: returns (or raises) when it is lost."""
    connection = await asyncpg.connect(
        dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
    )
    lost = asyncio.Event()

    def terminated(_connection: Any) -> None:
        lost.set()
        cache.deaf()  # at once: not after the next check
        cache.renewal.set()  # wake the loop below

    def notified(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
        cache.changed(payload or None)

    try:
        connection.add_termination_listener(terminated)
        await connection.add_listener(CHANNEL, notified)
        cache.listening()
        connected()
        while not lost.is_set():
            cache.renewal.clear()
            sent_at = cache.clock()
            await connection.fetchval("SELECT 1", timeout=check_timeout)
            if lost.is_set():
                return
            cache.confirmed(sent_at)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that arrives as the event is set (a request asking
            # for a check while the server shuts down), and the task never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(check_every):
                    await cache.renewal.wait()
    finally:
        cache.deaf()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await connection.close()
        connection.terminate()
