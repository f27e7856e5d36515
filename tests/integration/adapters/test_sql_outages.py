"""Outages raised by real engines: a pool with no free connection, a file that cannot open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kingdom.adapters.sql.engine import create_database
from kingdom.adapters.sql.outages import OutagePool, watch_outages
from kingdom.services.outages import Unavailable


async def test_a_pool_with_no_free_connection_is_unavailable(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}",
        poolclass=OutagePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.05,
    )
    watch_outages(engine)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(Unavailable, match="no database connection came free"):
                async with engine.connect() as second:
                    await second.execute(text("SELECT 1"))
        async with engine.connect() as again:  # freed: served again
            assert (await again.execute(text("SELECT 2"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_a_database_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'kingdom.db'}")
    try:
        with pytest.raises(Unavailable, match="cannot connect"):
            async with database.reader.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await database.dispose()
        await asyncio.sleep(0.05)  # aiosqlite's thread reports its failure on this loop
