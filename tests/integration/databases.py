"""Fresh, empty databases for integration tests: a SQLite file or a new Postgres database.

Pants runs test files in parallel, so every test gets a database of its own
(a throwaway ``CREATE DATABASE`` on Postgres) instead of sharing ``test``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

# CI exports the URL (and KINGDOM_REQUIRE_POSTGRES=1) when Postgres is up;
# a developer machine falls back to the conventional local server.
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_server_or_skip() -> str:
    """A libpq-style URL of a reachable PostgreSQL, or the calling test is skipped.

    With ``KINGDOM_REQUIRE_POSTGRES=1`` (set by CI) an unreachable server
    fails the test instead, so CI cannot pass with the Postgres tests skipped.
    """
    url = os.environ.get("KINGDOM_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    if _reachable(url):
        return url
    reason = f"no PostgreSQL reachable at {url} (set KINGDOM_TEST_POSTGRES_URL)"
    if os.environ.get("KINGDOM_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


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
