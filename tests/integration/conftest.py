"""Shared fixtures for the integration layer: which real databases to use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integration.databases import fresh_postgres, postgres_server_or_skip, sqlite_url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL server's URL (see :func:`postgres_server_or_skip`)."""
    return postgres_server_or_skip()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh, empty database; every test using it runs on both engines.

    The Postgres variant's test id ends in ``[postgres]``: CI counts those to
    prove they ran.
    """
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    server_url = request.getfixturevalue("postgres_url")
    async with fresh_postgres(server_url) as url:
        yield url
