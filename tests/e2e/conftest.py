"""Which database the end-to-end server runs on: the embedded SQLite, or a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from e2e.server import RunningServer
from integration.databases import fresh_postgres, postgres_server_or_skip
from kingdom.adapters.migrations.runner import upgrade


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return postgres_server_or_skip()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Extra environment for ``run_server``: ``{}`` (the embedded SQLite) or a fresh Postgres.

    The Postgres database is new for each test module and already migrated
    (the server migrates only its embedded SQLite). Test ids end in
    ``[sqlite]`` / ``[postgres]``; CI counts the latter to prove they ran.
    """
    if request.param == "sqlite":
        yield {}
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    # One private loop for set-up and tear-down: the fixture is module-scoped
    # and synchronous, while the database helpers are async.
    loop = asyncio.new_event_loop()
    database = fresh_postgres(server_url)
    try:
        url = loop.run_until_complete(database.__aenter__())
        try:
            loop.run_until_complete(upgrade(url))
            yield {"KINGDOM_DATABASE_URL": url}
        finally:
            loop.run_until_complete(database.__aexit__(None, None, None))
    finally:
        loop.close()


@pytest.fixture()
def http(server: RunningServer) -> Iterator[httpx.Client]:
    """A client of the module's ``server`` fixture (each module starts its own, its way)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show what tests measured (``record_property("measured ...", line)``) after the run.

    Measurements such as timing gaps are reported, never asserted; this puts
    them where a reader of the test output will see them.
    """
    lines = [
        str(value)
        for status in ("passed", "failed")
        for report in terminalreporter.stats.get(status, [])
        for name, value in getattr(report, "user_properties", [])
        if name.startswith("measured ")
    ]
    if lines:
        terminalreporter.write_sep("-", "measured")
        for line in lines:
            terminalreporter.write_line(line)
