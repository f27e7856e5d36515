"""The locked database drivers load on this platform and talk to real servers."""

from pathlib import Path

import aiosqlite
import asyncpg


async def test_asyncpg_talks_to_postgres(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        version = await connection.fetchval("SHOW server_version_num")
        isolation = await connection.fetchval("SHOW default_transaction_isolation")
    finally:
        await connection.close()
    assert int(version) >= 130000, "Kingdom needs PostgreSQL 13 or newer"
    assert isolation in {"read committed", "repeatable read", "serializable"}


async def test_aiosqlite_writes_and_reads_a_file(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "kingdom.db") as db:
        await db.execute("CREATE TABLE t (n INTEGER NOT NULL)")
        await db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
        await db.commit()
        async with db.execute("SELECT sum(n) FROM t") as cursor:
            assert await cursor.fetchone() == (6,)
