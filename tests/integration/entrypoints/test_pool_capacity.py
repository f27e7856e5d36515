"""At start-up on PostgreSQL the server refuses pools the database could not serve."""

from __future__ import annotations

from pathlib import Path

import pytest

from kingdom.adapters.sql.capacity import PoolTooLarge, ensure_pool_fits, server_limits
from kingdom.adapters.sql.engine import create_database
from kingdom.entrypoints import server


async def test_the_limits_are_read_from_the_server(database_url: str) -> None:
    database = create_database(database_url)
    try:
        limits = await server_limits(database)
        if database.dialect == "sqlite":
            assert limits is None
            await ensure_pool_fits(database, 64, 1000)  # nothing to exceed
            return
        assert limits is not None
        assert limits.max_connections >= 1
        assert limits.usable < limits.max_connections
        await ensure_pool_fits(database, 1, 1)
        with pytest.raises(PoolTooLarge):
            await ensure_pool_fits(database, 64, limits.max_connections)
    finally:
        await database.dispose()


def test_the_server_exits_2_before_writing_anything(
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def refuse_writes(*args: object) -> None:
        raise AssertionError("the administrator would be written before the check")

    monkeypatch.setattr(server, "ensure_admin", refuse_writes)
    monkeypatch.setattr("uvicorn.run", refuse_writes)
    # Only read (SHOW) before the check refuses: the shared server database will do.
    monkeypatch.setenv("KINGDOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(
        "KINGDOM_DATABASE_URL", postgres_url.replace("postgresql:", "postgresql+asyncpg:", 1)
    )
    monkeypatch.setenv("KINGDOM_WORKERS", "64")
    monkeypatch.setenv("KINGDOM_DATABASE_POOL_SIZE", "1000")
    with pytest.raises(SystemExit) as exited:
        server.main()

    assert exited.value.code == 2
    message = capsys.readouterr().err
    assert "KINGDOM_WORKERS=64" in message
    assert "KINGDOM_DATABASE_POOL_SIZE=1000" in message
    assert "max_connections" in message
