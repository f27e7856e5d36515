"""Async engines for the two supported databases, chosen by URL.

* PostgreSQL (``postgresql+asyncpg://``) is the production database. Every
  write transaction runs at an explicit isolation level, READ COMMITTED by
  default: every UPDATE is a compare-and-set on the version (or another
  guard) loaded, so a lost update is a ConcurrencyConflict at any level, and
  the ledger locks the accounts it changes (``FOR UPDATE``, in id order). At
  READ COMMITTED a writer that waited for such a lock reads the committed row
  and goes on; at REPEATABLE READ it would fail with 40001 after waiting, so
  contention on a hot account would surface as retries instead of queueing.
* SQLite (``sqlite+aiosqlite:///path``) is the embedded default. SQLite
  serialises writers; a write transaction starts with ``BEGIN IMMEDIATE`` so
  a second writer waits for the lock (``busy_timeout``) up front instead of
  failing half-way when it first writes. Reads use a deferred ``BEGIN`` and,
  with WAL, never block writers.

Reads that are one statement need no transaction: a statement sees one
snapshot on its own. :attr:`Database.reader` runs them without ``BEGIN`` and
``ROLLBACK`` (two round trips on PostgreSQL, two hops to aiosqlite's thread
on SQLite), which is most of what an authenticated read costs the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kingdom.adapters.sql.json_text import decode_json
from kingdom.adapters.sql.outages import OutagePool, watch_outages

# Pants cannot see drivers chosen by URL; the BUILD file lists them.
_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
_WRITE = "kingdom_write"
_NO_TRANSACTION = "kingdom_no_transaction"

DEFAULT_POOL_SIZE = 20
RECYCLE_SECONDS = 1800
"""PostgreSQL connections older than this are closed instead of reused."""
"""PostgreSQL connections kept open: above the benchmark's 16 concurrent requests,
so a burst does not open and close overflow connections (each a new backend)."""

SQLITE_READ_CONNECTIONS = 1
"""SQLite reads share one connection: every connection is a thread in aiosqlite,
and several threads contending for the GIL cost more than the reads gain by
overlapping (one connection measured ~20% less CPU per read). Writers keep
their own pool, so a read never waits for a write transaction."""


class Isolation(StrEnum):
    READ_COMMITTED = "READ COMMITTED"
    REPEATABLE_READ = "REPEATABLE READ"
    SERIALIZABLE = "SERIALIZABLE"


class DatabaseUrlError(ValueError):
    """The database URL names a database or driver Kingdom does not support."""


@dataclass(frozen=True)
class Database:
    """The database, seen three ways.

    ``engine`` serves reads that need a transaction (several statements that
    must agree); ``reader`` shares its pool but runs each statement without
    one, for reads that are a single statement; ``writer`` starts every
    transaction as a write transaction: at the chosen isolation level on
    Postgres, with ``BEGIN IMMEDIATE`` on SQLite. On PostgreSQL all three
    share one pool; SQLite's writer has its own (see
    :data:`SQLITE_READ_CONNECTIONS`).
    """

    engine: AsyncEngine
    writer: AsyncEngine
    isolation: Isolation
    reader: AsyncEngine
    read_connections: int = 1
    """PostgreSQL: connections the direct reader keeps of its own (:func:`read_connections`)."""
    on_dispose: list[Callable[[], Awaitable[None]]] = field(
        default_factory=list, compare=False, repr=False
    )
    """Closed by :meth:`dispose` before the pools: what else holds the database open
    (the direct reader's SQLite connection, see :mod:`kingdom.adapters.sql.direct_reads`)."""

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        for close in self.on_dispose:
            await close()
        await self.engine.dispose()
        if self.writer.sync_engine.pool is not self.engine.sync_engine.pool:
            await self.writer.dispose()


def postgres_dsn(url: URL) -> str:
    """A libpq-style DSN for asyncpg from SQLAlchemy's ``postgresql+asyncpg://`` URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def read_connections(pool_size: int) -> int:
    """The direct reader's own connections for a pool of ``pool_size`` (see
    :mod:`~kingdom.adapters.sql.read_connections`): a few, out of its overflow."""
    return max(1, min(4, pool_size // 2))


def parse_database_url(raw: str) -> URL:
    """Validate a database URL: PostgreSQL via asyncpg or SQLite via aiosqlite."""
    try:
        url = make_url(raw)
    except Exception as error:  # SQLAlchemy raises ArgumentError with the details
        raise DatabaseUrlError(f"not a database URL: {error}") from None
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise DatabaseUrlError(f"unsupported database {backend!r}: use postgresql or sqlite")
    expected = _DRIVERS[backend]
    if url.get_driver_name() != expected:
        raise DatabaseUrlError(f"use the async driver: {backend}+{expected}://…")
    return url


def create_database(
    raw_url: str,
    *,
    isolation: Isolation = Isolation.READ_COMMITTED,
    echo: bool = False,
    pool_size: int = DEFAULT_POOL_SIZE,
) -> Database:
    """The database at ``raw_url``; ``pool_size`` is PostgreSQL's connections kept open."""
    url = parse_database_url(raw_url)
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            # One in-memory database per connection: everything must share it.
            engine = writer = _sqlite_engine(url, echo)
        else:
            engine = _sqlite_engine(url, echo, pool_size=SQLITE_READ_CONNECTIONS, max_overflow=0)
            writer = _sqlite_engine(url, echo)
        # SQLite transactions are serializable by construction.
        return Database(
            engine,
            writer.execution_options(**{_WRITE: True}),
            Isolation.SERIALIZABLE,
            reader=engine.execution_options(**{_NO_TRANSACTION: True}),
        )
    # No pre-ping (a round trip per checkout, ~10% of a transfer): a connection
    # the server dropped fails its statement (503 UNAVAILABLE, see outages.py)
    # and the pool discards it and every older one, reconnecting on demand.
    engine = create_async_engine(
        url,
        echo=echo,
        json_deserializer=decode_json,
        pool_size=pool_size,
        # The direct reader's own connections come out of the overflow: a
        # worker still opens at most 2 x pool_size (see capacity.py).
        max_overflow=pool_size - read_connections(pool_size),
        pool_recycle=RECYCLE_SECONDS,
        poolclass=OutagePool,
    )
    watch_outages(engine)
    return Database(
        engine,
        engine.execution_options(isolation_level=isolation.value),
        isolation,
        # asyncpg sends no BEGIN/ROLLBACK in autocommit: one round trip per read.
        reader=engine.execution_options(isolation_level="AUTOCOMMIT"),
        read_connections=read_connections(pool_size),
    )


def _sqlite_engine(url: URL, echo: bool, **pool: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        echo=echo,
        json_deserializer=decode_json,
        connect_args={"timeout": 30},
        **pool,
    )
    watch_outages(engine)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so "begin" below decides
        # how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_NO_TRANSACTION, False):
            # The driver runs in autocommit (isolation_level None above): each
            # statement is its own read transaction, one snapshot.
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")

    return engine
