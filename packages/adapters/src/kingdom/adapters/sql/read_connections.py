"""A few PostgreSQL connections of the direct reader's own, checked out without SQLAlchemy.

Through SQLAlchemy's pool, one prepared statement on a raw asyncpg
connection costs a greenlet and the pool's checkout, reset and check-in:
measured, about as much CPU again as the statement itself. The direct reader
(:mod:`~kingdom.adapters.sql.direct_reads`) needs none of that: it runs
single read-only statements in autocommit, which leave nothing behind on a
connection. So it keeps its own: a stack of idle connections, opened on
demand up to ``size``; past that a statement waits its turn, first come
first served, and after ``timeout`` gets the same :class:`Unavailable` as a
pool timeout.

They count against the server's limit like the engine's: they come out of
its overflow (see :func:`~kingdom.adapters.sql.engine.create_database`). A
connection older than ``recycle`` seconds is closed instead of reused, as
the engine's are, and after an outage (:meth:`ReadConnections.forget`)
every connection opened before it goes, as the engine's pool does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from kingdom.adapters.sql.outages import first_line
from kingdom.services.outages import Unavailable

Connect = Callable[[], Awaitable[Any]]
"""Opens one asyncpg connection."""


class ReadConnections:
    """Connections for one worker's direct reads: :meth:`acquire`, then :meth:`release`."""

    def __init__(
        self, connect: Connect, size: int, *, timeout: float = 30.0, recycle: float = 1800.0
    ) -> None:
        if size < 1:
            raise ValueError("the direct reader needs at least one connection")
        self._connect = connect
        self._size = size
        self._timeout = timeout
        self._recycle = recycle
        self._idle: list[Any] = []
        self._opened: dict[Any, float] = {}
        """Every connection open (idle or in use), with when it was opened."""
        self._opening = 0
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._forgotten_before = float("-inf")

    @property
    def open(self) -> int:
        """Connections open or being opened."""
        return len(self._opened) + self._opening

    def usage(self) -> tuple[int, int]:
        """(in use, idle): connections a read holds (or is opening), and those waiting."""
        idle = len(self._idle)
        return self.open - idle, idle

    async def acquire(self) -> Any:
        """A connection for one statement; give it back with :meth:`release`."""
        deadline: float | None = None
        # Reads already waiting come first: no read jumps the queue.
        may_take = not self._waiters
        while True:
            if may_take:
                connection = self._reusable()
                if connection is not None:
                    return connection
                if self.open < self._size:
                    return await self._open()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self._timeout
            handed = await self._wait(deadline)
            if handed is not None:
                return handed
            may_take = True  # a place came free (a connection closed): ours to take

    def release(self, connection: Any, *, reusable: bool = True) -> None:
        """Back to the first waiting read, or to the idle ones; closed if ``reusable`` is
        false (its state is unknown) or it is stale."""
        if reusable and self._usable(connection, time.monotonic()):
            if not self._hand(connection):
                self._idle.append(connection)
            return
        self._discard(connection)
        self._hand(None)  # its place is free: the next read may open one

    def forget(self) -> None:
        """The database was out of reach: no connection opened until now is used again."""
        self._forgotten_before = time.monotonic()
        idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)

    async def close(self) -> None:
        """Close the idle connections; those in use close as they come back. New
        reads open new ones (as the engine's pool does after ``dispose()``)."""
        self.forget()

    def _reusable(self) -> Any | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recent: warm, and the rest may age out
            if self._usable(connection, now):
                return connection
            self._discard(connection)
        return None

    def _usable(self, connection: Any, now: float) -> bool:
        """Neither closed, nor opened before an outage, nor past its age."""
        opened = self._opened.get(connection)
        return (
            opened is not None
            and opened > self._forgotten_before
            and now - opened <= self._recycle
            and not connection.is_closed()
        )

    async def _open(self) -> Any:
        self._opening += 1
        try:
            connection = await self._connect()
        except BaseException as error:
            self._opening -= 1
            self._hand(None)  # its place is free again: the next read may try
            if isinstance(error, Exception):
                # Refused, a password no longer taken, too many clients: not now.
                raise Unavailable(f"cannot connect to the database: {first_line(error)}") from error
            raise
        self._opening -= 1
        self._opened[connection] = time.monotonic()
        return connection

    async def _wait(self, deadline: float) -> Any | None:
        """Wait in line: a connection handed over, or ``None`` when a place came free."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                # Served, but leaving (timed out or cancelled meanwhile): pass it on.
                handed = waiter.result()
                if handed is None:
                    self._hand(None)
                else:
                    self.release(handed)
            if isinstance(error, TimeoutError):
                raise Unavailable(
                    f"no database connection came free in {self._timeout:g} s "
                    f"({self._size} for direct reads, all in use)"
                ) from None
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _hand(self, connection: Any | None) -> bool:
        """Give ``connection`` (or news of a free place) to the first read still waiting."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _discard(self, connection: Any) -> None:
        self._opened.pop(connection, None)
        connection.terminate()  # nothing to wait for: a read leaves nothing to finish
