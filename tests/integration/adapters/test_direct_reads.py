"""Statements run straight on the driver: the same rows as SQLAlchemy's, the same outages.

Every test runs on SQLite and PostgreSQL unless it is about one of them.
Waits are bounded by a number of polls, never a clock.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, func, insert, select, text, update

from integration.adapters.support import schema_database, user_rows
from kingdom.adapters.identity.tables import refresh_sessions, users
from kingdom.adapters.metrics import pool_usage
from kingdom.adapters.sql.direct_reads import DirectReads, DirectStatement, direct_reads
from kingdom.adapters.sql.engine import Database, create_database, postgres_dsn
from kingdom.adapters.sql.keyset import member_of_parameter
from kingdom.adapters.sql.snapshot import ReadSnapshots
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import UserStatus
from kingdom.services.outages import Unavailable

POLLS = 2000
CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
USER_COLUMNS = (users.c.id, users.c.status, users.c.policies, users.c.token_version)
BY_ID = select(*USER_COLUMNS).where(users.c.id == bindparam("id"))


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    async with schema_database(database_url) as database:
        async with database.writer.begin() as connection:
            await connection.execute(
                insert(users),
                user_rows(
                    4,
                    lambda n: {
                        "status": "disabled" if n == 2 else "active",
                        "policies": (
                            {Policy.of("accounts", Permission.READ, f"acc-{n}")} if n else set()
                        ),
                    },
                ),
            )
            await connection.execute(
                insert(refresh_sessions),
                [
                    {
                        "id": "s-1",
                        "user_id": "u-1",
                        "token_hash": "0" * 64,
                        "created_at": CREATED,
                        "expires_at": CREATED + timedelta(days=30),
                    }
                ],
            )
        yield database


@pytest.fixture()
def reads(database: Database) -> DirectReads:
    reads = direct_reads(database)
    assert reads.direct  # a file or a server: nothing here goes through the engine
    return reads


async def through_sqlalchemy(database: Database, statement: Any, **parameters: Any) -> list[Any]:
    async with database.engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(statement, parameters)]


async def test_rows_are_what_sqlalchemy_reads(database: Database, reads: DirectReads) -> None:
    everyone = select(*USER_COLUMNS).order_by(users.c.id)
    sessions = select(refresh_sessions.c.id, refresh_sessions.c.created_at)
    direct = await reads.statement(everyone).all()
    assert direct == await through_sqlalchemy(database, everyone)
    assert direct[2][1] is UserStatus.DISABLED  # enums, JSON policies: processed the same
    assert direct[1][2] == {Policy.of("accounts", Permission.READ, "acc-1")}
    [(_, created)] = await reads.statement(sessions).all()
    assert created == CREATED
    assert created.tzinfo is not None  # UTC on SQLite too


async def token_version(by_id: DirectStatement) -> int | None:
    """u-1's token version, read through ``by_id`` (``BY_ID``'s fourth column)."""
    row = await by_id.first({"id": "u-1"})
    return None if row is None else row[3]


async def test_first_rows_and_all_rows(reads: DirectReads) -> None:
    by_id = reads.statement(BY_ID)
    assert await by_id.first({"id": "u-3"}) == (
        "u-3",
        UserStatus.ACTIVE,
        {Policy.of("accounts", Permission.READ, "acc-3")},
        3,
    )
    assert await by_id.first({"id": "nobody"}) is None
    assert by_id.columns == ("id", "status", "policies", "token_version")
    assert await by_id.first({"id": "u-0"}) == ("u-0", UserStatus.ACTIVE, set(), 0)
    assert await by_id.all({"id": "nobody"}) == []
    ordered = reads.statement(select(users.c.id).order_by(users.c.id.desc()))
    assert await ordered.first() == ("u-3",)  # the first of several


async def test_lists_of_ids_and_values_given_in_the_statement(
    database: Database, reads: DirectReads
) -> None:
    members = reads.statement(
        select(users.c.id)
        .where(member_of_parameter(users.c.id, database.dialect))
        .order_by(users.c.id)
    )
    assert await members.all({"ids": ["u-3", "u-1", "nobody"]}) == [("u-1",), ("u-3",)]
    assert await members.all({"ids": ["u-2"]}) == [("u-2",)]
    expanding = reads.statement(
        select(users.c.id).where(users.c.id.in_(bindparam("ids", expanding=True)))
    )
    assert await expanding.all({"ids": ["u-0"]}) == [("u-0",)]
    fixed = reads.statement(
        select(func.count()).select_from(users).where(users.c.token_version >= 2).limit(5)
    )
    assert await fixed.first() == (2,)


async def test_a_missing_parameter_is_refused(reads: DirectReads) -> None:
    with pytest.raises(KeyError, match="'id'"):
        await reads.statement(BY_ID).first()


async def test_a_commit_is_seen_by_the_next_read(database: Database, reads: DirectReads) -> None:
    by_id = reads.statement(BY_ID)
    assert await token_version(by_id) == 1
    async with database.writer.begin() as connection:
        await connection.execute(update(users).where(users.c.id == "u-1").values(token_version=7))
    assert await token_version(by_id) == 7


async def test_inside_a_read_snapshot_reads_see_its_moment(
    database: Database, reads: DirectReads
) -> None:
    by_id = reads.statement(BY_ID)
    traced: list[str] = []
    reads.trace = traced.append
    try:
        async with ReadSnapshots(database)():
            assert await token_version(by_id) == 1
            async with database.writer.begin() as connection:
                await connection.execute(
                    update(users).where(users.c.id == "u-1").values(token_version=8)
                )
            assert await token_version(by_id) == 1
        assert traced == []  # both on the snapshot's connection
        assert await token_version(by_id) == 8
        assert len(traced) == 1
    finally:
        reads.trace = None


async def test_the_connections_a_read_used_are_counted(
    database: Database, reads: DirectReads
) -> None:
    assert reads.connection_usage() == (0, 0)
    assert await reads.statement(BY_ID).first({"id": "u-1"}) is not None
    # PostgreSQL keeps the reader's connection open, idle; SQLite's is not a pool's.
    assert reads.connection_usage() == ((0, 1) if database.dialect == "postgresql" else (0, 0))
    # ...and is among the idle connections the pool gauges show.
    pool = database.engine.sync_engine.pool
    idle = pool_usage(pool)["idle"]
    assert pool_usage(pool, direct=reads)["idle"] == idle + reads.connection_usage()[1]


async def test_disposing_closes_what_it_holds_and_reads_reopen(
    database: Database, reads: DirectReads
) -> None:
    by_id = reads.statement(BY_ID)
    assert await by_id.first({"id": "u-1"}) is not None
    await database.dispose()
    assert await by_id.first({"id": "u-1"}) is not None


async def test_a_statement_error_is_the_drivers_and_leaves_the_connection_usable(
    database: Database, reads: DirectReads
) -> None:
    broken = reads.statement(select(text("no_such_column")).select_from(users))
    with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedColumnError)):
        await broken.all()
    assert await reads.statement(BY_ID).first({"id": "u-1"}) is not None


# SQLite


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_reads_a_file_read_only(database: Database, reads: DirectReads) -> None:
    statement = reads.statement(BY_ID)
    assert await statement.first({"id": "u-1"}) is not None
    connection = reads._driver._connection  # type: ignore[union-attr]
    assert connection is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        connection.execute("UPDATE users SET version = 2")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_locked_by_another_process_waits_through_the_engine(
    database: Database, reads: DirectReads
) -> None:
    path = database.engine.url.database
    assert path is not None
    await database.dispose()  # every connection closed: the holder below may lock it all
    # Exclusive locking mode: nobody else may even read until this connection closes.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE users SET token_version = 5 WHERE id = 'u-1'")
    holder.execute("COMMIT")  # the lock stays
    try:
        reading = asyncio.create_task(reads.statement(BY_ID).first({"id": "u-1"}))
        for _ in range(20):  # the event loop is free meanwhile: the wait is in another thread
            await asyncio.sleep(0.01)
        assert not reading.done()
    finally:
        holder.close()
    found = await asyncio.wait_for(reading, 60)
    assert found is not None
    assert found[3] == 5  # token_version


async def test_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    database = create_database(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'kingdom.db'}")
    try:
        with pytest.raises(Unavailable, match="lost the database"):
            await direct_reads(database).statement(BY_ID).first({"id": "u-1"})
    finally:
        await database.dispose()


async def test_an_in_memory_database_is_read_through_the_engine() -> None:
    database = create_database("sqlite+aiosqlite:///:memory:")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE users (id TEXT, token_version INT)"))
            await connection.execute(text("INSERT INTO users VALUES ('u-1', 4)"))
        reads = direct_reads(database)
        assert not reads.direct
        statement = reads.statement(
            select(users.c.token_version).where(users.c.id == bindparam("id"))
        )
        assert await statement.first({"id": "u-1"}) == (4,)
    finally:
        await database.dispose()


# PostgreSQL


async def _terminate_backends(database: Database, *, where: str = "true") -> int:
    admin = await asyncpg.connect(postgres_dsn(database.engine.url))
    try:
        terminated: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            f" WHERE datname = $1 AND pid <> pg_backend_pid() AND {where}",
            database.engine.url.database,
        )
        return terminated
    finally:
        await admin.close()


async def _until_active(admin: Any, database: Database, query: str) -> None:
    for _ in range(POLLS):
        if await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1"
            " AND state = 'active' AND datname = $2",
            query,
            database.engine.url.database,
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{query} never ran")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_backend_terminated_mid_statement_is_unavailable_then_reconnected(
    database: Database, reads: DirectReads
) -> None:
    by_id = reads.statement(BY_ID)
    assert await by_id.first({"id": "u-1"}) is not None
    sleeping = asyncio.create_task(reads.statement(select(func.pg_sleep(30))).first())
    admin = await asyncpg.connect(postgres_dsn(database.engine.url))
    try:
        await _until_active(admin, database, "SELECT pg_sleep%")
    finally:
        await admin.close()
    assert await _terminate_backends(database, where="query LIKE 'SELECT pg_sleep%'") == 1
    with pytest.raises(Unavailable, match="lost the database connection"):
        await sleeping
    assert await by_id.first({"id": "u-1"}) is not None  # a new connection, by itself


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_terminated_idle_connections_are_replaced(
    database: Database, reads: DirectReads
) -> None:
    by_id = reads.statement(BY_ID)
    assert await by_id.first({"id": "u-1"}) is not None
    assert await _terminate_backends(database) >= 1
    failures = 0
    for _ in range(POLLS):
        try:
            assert await by_id.first({"id": "u-1"}) is not None
            break
        except Unavailable:
            # Only if the read raced the server's notice of termination: the
            # dead connection is then discarded with every older one.
            failures += 1
            await asyncio.sleep(0.01)
    assert failures <= 1
    assert await by_id.first({"id": "u-1"}) is not None


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_cancelled_statement_is_cancelled_on_the_server_too(
    database: Database, reads: DirectReads
) -> None:
    sleeping = asyncio.create_task(reads.statement(select(func.pg_sleep(60))).first())
    admin = await asyncpg.connect(postgres_dsn(database.engine.url))
    try:
        await _until_active(admin, database, "SELECT pg_sleep%")
        sleeping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sleeping
        # The connection's next user waits for the cancellation, then reads.
        assert await reads.statement(BY_ID).first({"id": "u-1"}) is not None
        for _ in range(POLLS):
            if not await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
                " AND state = 'active' AND datname = $1",
                database.engine.url.database,
            ):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the cancelled statement still runs")
    finally:
        await admin.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_statements_survive_a_schema_change(
    database: Database, reads: DirectReads
) -> None:
    named = reads.statement(select(users.c.display_name).where(users.c.id == bindparam("id")))
    assert await named.first({"id": "u-1"}) == ("User 1",)
    async with database.writer.begin() as connection:
        # Changes the result type of the prepared statement's plan.
        await connection.execute(text("ALTER TABLE users ALTER COLUMN display_name TYPE text"))
    assert await named.first({"id": "u-1"}) == ("User 1",)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_postgres_nothing_listening_is_unavailable() -> None:
    database = create_database(f"postgresql+asyncpg://kingdom@127.0.0.1:{_free_port()}/none")
    try:
        with pytest.raises(Unavailable, match="cannot connect"):
            await direct_reads(database).statement(BY_ID).first({"id": "u-1"})
    finally:
        await database.dispose()
