"""How reads reach the database: single statements without a transaction, extras on demand.

The hot point reads (a token state, users by id without roles) run straight
on the driver (:mod:`kingdom.adapters.sql.direct_reads`): SQLAlchemy sees
none of them, the direct reader's ``trace`` sees each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import insert, select, text

from integration.adapters.paging import recording_statements
from integration.adapters.support import schema_database, user_rows
from kingdom.adapters.identity.queries import SqlUserQueries
from kingdom.adapters.identity.tables import roles, user_roles, users
from kingdom.adapters.identity.token_states import SqlTokenStates
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.direct_reads import direct_reads
from kingdom.adapters.sql.engine import Database, create_database
from kingdom.domain.access import ReadScope
from kingdom.domain.identity import UserStatus
from kingdom.services.ports.queries import PageRequest

CODEC = CursorCodec(b"read-paths-test-key-0123456789ab")
EVERYTHING = ReadScope.everything()


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    async with schema_database(database_url) as database:
        async with database.writer.begin() as connection:
            await connection.execute(
                insert(roles), [{"id": "teller", "name": "Teller", "policies": set(), "version": 1}]
            )
            await connection.execute(insert(users), user_rows(3))
            await connection.execute(
                insert(user_roles), [{"user_id": "u-1", "role_code": "teller"}]
            )
        yield database


def _no_transaction_statements(seen: list[str]) -> bool:
    return not any(s.strip().upper() in ("BEGIN", "ROLLBACK", "COMMIT") for s in seen)


@contextmanager
def recording_direct_reads(database: Database) -> Iterator[list[str]]:
    """Every statement run straight on the driver while the block runs."""
    reads = direct_reads(database)
    seen: list[str] = []
    reads.trace = seen.append
    try:
        yield seen
    finally:
        reads.trace = None


async def test_a_token_state_is_one_direct_statement_without_a_transaction(
    database: Database,
) -> None:
    states = SqlTokenStates(database)
    with (
        recording_statements(database.engine) as engine_ran,
        recording_direct_reads(database) as direct,
    ):
        state = await states.current("u-2")
    assert state is not None
    assert (state.token_version, state.status) == (2, UserStatus.ACTIVE)
    assert await states.current("nobody") is None
    assert engine_ran == []  # neither a statement nor a BEGIN went through SQLAlchemy
    assert len(direct) == 1, direct
    assert _no_transaction_statements(direct), direct


async def test_the_reader_sees_a_write_as_soon_as_it_commits(database: Database) -> None:
    states = SqlTokenStates(database)
    async with database.reader.connect() as held:  # a reader left open sees the new row too
        async with database.writer.begin() as connection:
            await connection.execute(
                users.update().where(users.c.id == "u-0").values(token_version=7)
            )
        assert (
            await held.execute(select(users.c.token_version).where(users.c.id == "u-0"))
        ).scalar_one() == 7
    state = await states.current("u-0")
    assert state is not None
    assert state.token_version == 7


async def test_users_without_roles_cost_one_statement_and_carry_no_role_codes(
    database: Database,
) -> None:
    queries = SqlUserQueries(database, CODEC)
    with recording_statements(database.engine) as seen, recording_direct_reads(database) as direct:
        page = await queries.list(EVERYTHING, PageRequest.first(10), with_roles=False)
        found = await queries.by_ids(EVERYTHING, ["u-1"], with_roles=False)
        several = await queries.by_ids(EVERYTHING, ["u-2", "u-0", "u-9"], with_roles=False)
    assert [view.role_codes for view in page.items] == [(), (), ()]
    assert found["u-1"].role_codes == ()
    assert sorted(several) == ["u-0", "u-2"]
    assert page.total == 3
    assert len(seen + direct) == 3, seen + direct  # one statement each
    assert len(direct) >= 2, direct  # the lookups by id at least, straight on the driver
    assert _no_transaction_statements(seen + direct), seen + direct
    assert not any("user_roles" in statement for statement in seen + direct)


async def test_users_with_roles_read_them_in_the_same_snapshot(database: Database) -> None:
    queries = SqlUserQueries(database, CODEC)
    with recording_statements(database.engine) as seen:
        page = await queries.list(EVERYTHING, PageRequest.first(10))
        found = await queries.by_ids(EVERYTHING, ["u-1"])
    assert [view.role_codes for view in page.items] == [(), ("teller",), ()]
    assert found["u-1"].role_codes == ("teller",)
    assert sum("user_roles" in statement for statement in seen) == 2


@pytest.mark.parametrize("count_total", [True, False])
async def test_a_page_counts_only_when_the_caller_asks(
    database: Database, count_total: bool
) -> None:
    queries = SqlUserQueries(database, CODEC)
    with recording_direct_reads(database) as seen:
        page = await queries.list(
            EVERYTHING, PageRequest(2, count_total=count_total), with_roles=False
        )
    assert len(page.items) == 2
    assert page.has_next
    assert page.total == (3 if count_total else None)
    assert any("count(" in statement.lower() for statement in seen) is count_total


# PostgreSQL reads and writes share one pool: this is SQLite's arrangement only.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_reads_share_one_connection_and_writers_have_their_own(
    database: Database,
) -> None:
    assert database.engine.sync_engine.pool.size() == 1  # type: ignore[attr-defined]
    async with database.reader.connect() as reading:
        # The one read connection is busy, yet a write still gets through.
        async with database.writer.begin() as connection:
            await connection.execute(text("UPDATE users SET version = version + 1"))
        assert (await reading.execute(text("SELECT count(*) FROM users"))).scalar_one() == 3


async def test_without_edge_cursors_only_the_ends_of_a_page_are_signed(database: Database) -> None:
    queries = SqlUserQueries(database, CODEC)
    full = await queries.list(EVERYTHING, PageRequest(3), with_roles=False)
    ends = await queries.list(EVERYTHING, PageRequest(3, edge_cursors=False), with_roles=False)
    assert [edge.node for edge in ends.edges] == [edge.node for edge in full.edges]
    assert [edge.cursor for edge in ends.edges] == [full.edges[0].cursor, "", full.edges[2].cursor]
    assert (ends.start_cursor, ends.end_cursor) == (full.start_cursor, full.end_cursor)
    # The end cursor still leads on: nothing is left after the last user.
    after = await queries.list(EVERYTHING, PageRequest.first(3, ends.end_cursor))
    assert after.items == ()
    assert after.has_previous


async def test_without_any_cursor_shown_none_is_signed(database: Database) -> None:
    queries = SqlUserQueries(database, CODEC)
    full = await queries.list(EVERYTHING, PageRequest(3), with_roles=False)
    request = PageRequest(3, edge_cursors=False, end_cursors=False)
    unsigned = await queries.list(EVERYTHING, request, with_roles=False)
    assert [edge.node for edge in unsigned.edges] == [edge.node for edge in full.edges]
    assert [edge.cursor for edge in unsigned.edges] == ["", "", ""]
    assert (unsigned.has_next, unsigned.has_previous) == (full.has_next, full.has_previous)


# SQLite reads share one connection whatever the setting.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_postgres_pool_keeps_the_configured_number_of_connections(
    database_url: str,
) -> None:
    database = create_database(database_url, pool_size=3)
    try:
        assert database.engine.sync_engine.pool.size() == 3  # type: ignore[attr-defined]
    finally:
        await database.dispose()
