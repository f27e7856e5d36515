"""Column types: aware UTC datetimes and canonical policy JSON on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.exc import StatementError

from integration.adapters.support import schema_database
from kingdom.adapters.sql.types import PolicySet, UtcDateTime
from kingdom.domain.access import Permission, Policy

probe = Table(
    "probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime(), nullable=True),
    Column("policies", PolicySet(), nullable=True),
)


async def test_datetimes_come_back_aware_in_utc(database_url: str) -> None:
    plus_two = timezone(timedelta(hours=2))
    written = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=plus_two)
    async with schema_database(database_url) as database, database.engine.begin() as connection:
        await connection.run_sync(probe.metadata.create_all)
        await connection.execute(insert(probe), [{"id": 1, "at": written}, {"id": 2, "at": None}])
        result = await connection.execute(select(probe.c.id, probe.c.at))
        rows: dict[int, datetime | None] = {row.id: row.at for row in result}

    stored = rows[1]
    assert stored == written
    assert stored is not None
    assert stored.tzinfo == UTC
    assert stored.hour == 21
    assert rows[2] is None


async def test_naive_datetimes_are_refused(database_url: str) -> None:
    async with schema_database(database_url) as database, database.engine.begin() as connection:
        await connection.run_sync(probe.metadata.create_all)
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(insert(probe), {"id": 1, "at": datetime(2024, 1, 1)})


async def test_policies_are_stored_as_canonical_json(database_url: str) -> None:
    policies = {
        Policy.of("users", Permission.READ),
        Policy.of("accounts", Permission.UPDATE | Permission.READ, "b", "a"),
    }
    async with schema_database(database_url) as database, database.engine.begin() as connection:
        await connection.run_sync(probe.metadata.create_all)
        await connection.execute(insert(probe), {"id": 1, "policies": policies})
        loaded = await connection.scalar(select(probe.c.policies))
        raw = await connection.scalar(text("SELECT policies FROM probe"))

    assert loaded == policies
    if isinstance(raw, str):  # SQLite (and asyncpg for JSONB) hand back the text
        raw = json.loads(raw)
    assert raw == [
        {"resource": "accounts", "permissions": 5, "selectors": ["a", "b"]},
        {"resource": "users", "permissions": 1, "selectors": ["*"]},
    ]
