import asyncio

import pytest
from sqlalchemy import text

from kingdom.adapters.sql.engine import DatabaseUrlError, Isolation, create_database


async def test_write_transactions_run_at_the_configured_isolation(database_url: str) -> None:
    database = create_database(database_url, isolation=Isolation.SERIALIZABLE)
    try:
        async with database.writer.begin() as connection:
            if database.dialect == "postgresql":
                level = await connection.scalar(text("SHOW transaction_isolation"))
                assert level == "serializable"
            else:
                assert await connection.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await database.dispose()


async def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path) -> None:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        async with database.engine.begin() as setup:
            await setup.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await setup.execute(text("INSERT INTO counter VALUES (0)"))

        async def increment() -> None:
            async with database.writer.begin() as connection:
                n = await connection.scalar(text("SELECT n FROM counter"))
                await asyncio.sleep(0)  # let the other writer try to interleave
                await connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(increment() for _ in range(20)))
        async with database.engine.connect() as connection:
            assert await connection.scalar(text("SELECT n FROM counter")) == 20
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/test",
        "postgresql://postgres@127.0.0.1/test",
        "sqlite:///kingdom.db",
        "not a url",
    ],
)
def test_unsupported_urls_are_refused_with_a_reason(url: str) -> None:
    with pytest.raises(DatabaseUrlError):
        create_database(url)
