"""One read snapshot for a whole GraphQL operation, when it asks for several things.

Each read-side query runs on a connection of its own, one statement, one
snapshot: cheap, and consistent for one root field. An operation with several
root fields (``accounts`` and ``nodes``) would then read each from a different
moment, and under concurrent transfers their totals would disagree.
:class:`ReadSnapshots` opens one read transaction on one connection for the
whole operation (PostgreSQL: REPEATABLE READ, READ ONLY; SQLite: one deferred
read transaction, a snapshot under WAL), and every query adapter of the same
database reads through it while it is open (:func:`read_connection`).

The open snapshot travels in a :class:`~contextvars.ContextVar`, so it is
per request (each request is its own task, and the tasks a request starts
inherit it) without changing the query ports. Statements on the shared
connection take turns (a connection runs one statement at a time).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import snapshot_reads


@dataclass
class _Snapshot:
    pool: Any
    """The pool whose engines the snapshot serves (an engine and its option variants share one)."""
    connection: AsyncConnection
    turns: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False


_current: ContextVar[_Snapshot | None] = ContextVar("kingdom_read_snapshot", default=None)


class ReadSnapshots:
    """Opens the read snapshot of one operation on ``database``: ``async with snapshots():``."""

    def __init__(self, database: Database) -> None:
        self._engine = snapshot_reads(database)
        self._pool = database.engine.sync_engine.pool

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if _current.get() is not None:
            yield  # already inside one: it serves
            return
        async with self._engine.connect() as connection:
            await connection.begin()
            snapshot = _Snapshot(self._pool, connection)
            token = _current.set(snapshot)
            try:
                yield
            finally:
                _current.reset(token)
                snapshot.closed = True
                if snapshot.turns.locked():
                    # A resolver the executor stopped waiting for (a sibling
                    # field failed, the deadline passed) is still reading:
                    # drop the connection rather than wait for it or reuse it.
                    await connection.invalidate()
            # Leaving rolls the read-only transaction back: nothing to keep.


def reading_in_snapshot(engine: AsyncEngine) -> bool:
    """Whether this request has a read snapshot open on ``engine``'s database.

    Reads that bypass the engine (:mod:`kingdom.adapters.sql.direct_reads`)
    ask first: inside a snapshot they read through :func:`read_connection`.
    """
    snapshot = _current.get()
    return snapshot is not None and snapshot.pool is engine.sync_engine.pool


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection of ``engine``; the open snapshot's if the request has one on its database."""
    snapshot = _current.get()
    if snapshot is not None and snapshot.pool is engine.sync_engine.pool:
        async with snapshot.turns:
            if not snapshot.closed:
                yield snapshot.connection
                return
        # The operation ended while this read waited: it reads on its own.
    async with engine.connect() as connection:
        yield connection
