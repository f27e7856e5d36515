"""Fresh, empty databases for integration tests: a SQLite file or a new Postgres database.

Pants runs test files in parallel, so every test gets a database of its own
(a throwaway ``CREATE DATABASE`` on Postgres) instead of sharing ``test``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


@asynccontextmanager
async def fresh_postgres(server_url: str) -> AsyncIterator[str]:
    """Create a new database on the server at ``server_url``; yield its SQLAlchemy URL."""
    name = f"kingdom_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))
    finally:
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'kingdom.db'}"
