"""Shared fixtures for the integration layer: which real databases to use."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from integration.databases import fresh_postgres, sqlite_url

# CI exports the URL (and KINGDOM_REQUIRE_POSTGRES=1) when Postgres is up;
# a developer machine falls back to the conventional local server.
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A libpq-style URL of a reachable PostgreSQL, or the test is skipped.

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
