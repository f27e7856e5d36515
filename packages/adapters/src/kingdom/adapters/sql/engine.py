"""Async engines for the two supported databases, chosen by URL.

* PostgreSQL (``postgresql+asyncpg://``) is the production database. Every
  write transaction runs at an explicit isolation level (REPEATABLE READ by
  default) so concurrent writers get a serialization failure instead of a
  silent lost update.
* SQLite (``sqlite+aiosqlite:///path``) is the embedded default. SQLite
  serialises writers; a write transaction starts with ``BEGIN IMMEDIATE`` so
  a second writer waits for the lock (``busy_timeout``) up front instead of
  failing half-way when it first writes. Reads use a deferred ``BEGIN`` and,
  with WAL, never block writers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Pants cannot see drivers chosen by URL; the BUILD file lists them.
_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
_WRITE = "kingdom_write"


class Isolation(StrEnum):
    READ_COMMITTED = "READ COMMITTED"
    REPEATABLE_READ = "REPEATABLE READ"
    SERIALIZABLE = "SERIALIZABLE"


class DatabaseUrlError(ValueError):
    """The database URL names a database or driver Kingdom does not support."""


@dataclass(frozen=True)
class Database:
    """One connection pool, seen two ways.

    ``engine`` serves reads (the read-side queries); ``writer`` shares its
    pool but starts every transaction as a write transaction: at the chosen
    isolation level on Postgres, with ``BEGIN IMMEDIATE`` on SQLite.
    """

    engine: AsyncEngine
    writer: AsyncEngine
    isolation: Isolation

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


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
    raw_url: str, *, isolation: Isolation = Isolation.REPEATABLE_READ, echo: bool = False
) -> Database:
    url = parse_database_url(raw_url)
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, echo)
        # SQLite transactions are serializable by construction.
        return Database(engine, engine.execution_options(**{_WRITE: True}), Isolation.SERIALIZABLE)
    # No pre-ping (a round trip per checkout, ~10% of a transfer): a connection
    # the server dropped fails its statement and the pool discards it.
    engine = create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_recycle=1800)
    return Database(engine, engine.execution_options(isolation_level=isolation.value), isolation)


def _sqlite_engine(url: URL, echo: bool) -> AsyncEngine:
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

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
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
