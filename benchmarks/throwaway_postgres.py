"""A throwaway PostgreSQL database for a benchmark: created on entry, dropped on exit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg


@dataclass(frozen=True)
class Throwaway:
    name: str
    url: str
    """SQLAlchemy's (``postgresql+asyncpg://``)."""
    dsn: str
    """libpq's (``postgresql://``), for asyncpg itself."""


@asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[Throwaway]:
    """An empty database on ``server_url`` (libpq style), dropped, connections and all, on exit."""
    name = f"kingdom_bench_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    netloc = urlsplit(server_url).netloc
    try:
        yield Throwaway(
            name,
            urlunsplit(("postgresql+asyncpg", netloc, f"/{name}", "", "")),
            urlunsplit(("postgresql", netloc, f"/{name}", "", "")),
        )
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
