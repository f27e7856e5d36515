from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from integration.entrypoints.support import Api, running_api


@pytest.fixture()
async def api(database_url: str) -> AsyncIterator[Api]:
    """The GraphQL API on a fresh database, on SQLite and on Postgres."""
    async with running_api(database_url) as running:
        yield running
