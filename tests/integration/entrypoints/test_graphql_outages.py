"""A database outage answers 503 with a code and ``Retry-After``, then the API recovers.

On PostgreSQL (which can lose connections): the test database's backends are
terminated, or it refuses connections for a while, or the app points at a
port where nothing listens. The token check and resolvers alike answer HTTP
503 ``UNAVAILABLE`` with ``Retry-After`` while the database is out of reach;
a write whose ``COMMIT`` lost its connection answers ``OUTCOME_UNKNOWN``;
once the database answers again the same requests succeed, without a
restart, and nothing was half-written.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from integration.databases import fresh_postgres
from integration.entrypoints.support import CODEC, PASSWORD, Api, Result, gid, running_api
from kingdom.adapters.identity.queries import SqlRoleQueries, SqlUserQueries
from kingdom.adapters.identity.token_states import SqlTokenStates
from kingdom.adapters.ledger.queries import SqlAccountQueries, SqlTransferQueries
from kingdom.adapters.sql.engine import create_database
from kingdom.adapters.sql.snapshot import ReadSnapshots
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.access import Actor, Permission, Policy, compile_policies
from kingdom.entrypoints.graphql import GraphQLServices, create_graphql_app
from kingdom.entrypoints.http.app import create_app
from kingdom.services.fakes import FakeClock, SequentialIds
from kingdom.services.messagebus import MessageBus

ACCOUNTS = "{ accounts(first: 10) { edges { node { balance } } } }"
TWO_ROOT_FIELDS = "{ accounts(first: 10) { totalCount } a: accounts(first: 1) { totalCount } }"
LOGIN = """
mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken } }
"""
TRANSFER = """
mutation($input: TransferInput!) { transfer(input: $input) { transferId } }
"""
TERMINATE = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@pytest.fixture()
async def api(postgres_url: str) -> AsyncIterator[Api]:
    async with fresh_postgres(postgres_url) as url, running_api(url) as running:
        yield running


def _libpq(api: Api) -> str:
    return api.database.engine.url.set(drivername="postgresql").render_as_string(
        hide_password=False
    )


async def _terminate_backends(api: Api, server_url: str | None = None) -> None:
    """End the app's connections, from the test database (or from ``server_url``'s)."""
    admin = await asyncpg.connect(server_url or _libpq(api))
    try:
        if server_url is None:
            await admin.execute(TERMINATE)
        else:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                api.database.engine.url.database,
            )
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # let the driver see its connections close


async def _allow_connections(api: Api, server_url: str, allowed: bool) -> None:
    name = api.database.engine.url.database
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
    finally:
        await admin.close()


def _assert_unavailable(result: Result, code: str = "UNAVAILABLE") -> None:
    assert result.status == 503, result.body
    assert result.codes == [code]
    assert int(result.headers["retry-after"]) >= 1
    extensions = result.errors[0]["extensions"]
    assert extensions["retryAfter"] == int(result.headers["retry-after"])
    assert "requestId" in extensions
    # No driver text reaches the client.
    message = result.errors[0]["message"]
    assert "asyncpg" not in message
    assert "closed" not in message


async def _arrange(api: Api) -> tuple[str, str, str, str, dict[str, Any]]:
    """Ann (who can log in), her two accounts, a login token and a test token."""
    ann = await api.register("ann@example.org")
    source, target = await api.open_account(ann, 100), await api.open_account(ann, 0)
    login = await api.ok(LOGIN, {"e": "ann@example.org", "p": PASSWORD})
    manager = api.token_with(Policy.of("accounts", Permission.ALL))
    move = {
        "input": {
            "sourceId": gid("Account", source),
            "targetId": gid("Account", target),
            "amount": 10,
        }
    }
    return source, target, login["login"]["accessToken"], manager, move


async def test_terminated_backends_answer_503_then_the_pool_reconnects(api: Api) -> None:
    source, target, issued, manager, move = await _arrange(api)
    outbox = await api.outbox_size()

    # The token check reads the token's state: its connection is gone, and
    # the driver has seen it go, so the direct reader opens a fresh one (a
    # statement cut off mid-way is Unavailable: see test_direct_reads.py).
    await _terminate_backends(api)
    token_check = await api.execute(ACCOUNTS, token=issued)
    assert (await api.execute(ACCOUNTS, token=issued)).status == 200

    # A resolver's read: the query's plan fails on the dead connection, which
    # drops every older pooled one, and graphql-core runs the query again on
    # a fresh connection (a query has no side effects): the client gets its data.
    await _terminate_backends(api)
    read = await api.execute(ACCOUNTS, token=manager)
    assert (await api.execute(ACCOUNTS, token=manager)).status == 200

    # A write, before it could commit.
    await _terminate_backends(api)
    write = await api.execute(TRANSFER, move, token=manager)

    assert token_check.status == 200, token_check.body
    assert read.status == 200, read.body
    assert sorted(edge["node"]["balance"] for edge in read.body["data"]["accounts"]["edges"]) == [
        "0",
        "100",
    ]
    _assert_unavailable(write)
    assert await api.account_row(source) == (100, 2)
    assert await api.account_row(target) == (0, 1)
    assert await api.outbox_size() == outbox

    # Recovered: the same requests succeed, the transfer applies once.
    assert (await api.execute(TRANSFER, move, token=manager)).codes == []
    balances = await api.ok(ACCOUNTS, token=issued)
    assert sorted(edge["node"]["balance"] for edge in balances["accounts"]["edges"]) == [
        "10",
        "90",
    ]


async def test_a_database_refusing_connections_answers_503_until_it_is_back(
    api: Api, postgres_url: str
) -> None:
    source, target, issued, manager, move = await _arrange(api)
    outbox = await api.outbox_size()

    await _allow_connections(api, postgres_url, False)
    try:
        await _terminate_backends(api, postgres_url)
        during = [
            result
            for _ in range(2)
            for result in (
                await api.execute(ACCOUNTS, token=issued),
                await api.execute(ACCOUNTS, token=manager),
                await api.execute(TRANSFER, move, token=manager),
            )
        ]
    finally:
        await _allow_connections(api, postgres_url, True)
    after = await api.execute(TRANSFER, move, token=manager)

    for result in during:
        _assert_unavailable(result)
    assert after.codes == [], after.body
    assert await api.account_row(source) == (90, 3)
    assert await api.account_row(target) == (10, 2)
    assert await api.outbox_size() == outbox + 1
    assert (await api.execute(ACCOUNTS, token=issued)).status == 200


async def test_a_connection_lost_during_commit_answers_outcome_unknown(api: Api) -> None:
    source, target, _, manager, move = await _arrange(api)
    # A deferred trigger runs at COMMIT: it ends its own backend there.
    admin = await asyncpg.connect(_libpq(api))
    try:
        await admin.execute("""
            CREATE FUNCTION drop_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER drop_at_commit AFTER UPDATE ON accounts
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION drop_at_commit();
            """)
        unknown = await api.execute(TRANSFER, move, token=manager)
        await admin.execute("DROP TRIGGER drop_at_commit ON accounts")
    finally:
        await admin.close()
    retried = await api.execute(TRANSFER, move, token=manager)

    _assert_unavailable(unknown, "OUTCOME_UNKNOWN")
    assert retried.codes == [], retried.body
    # PostgreSQL rolled the first one back: the retry applied it once.
    assert await api.account_row(source) == (90, 3)
    assert await api.account_row(target) == (10, 2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_nothing_listening_answers_503_from_the_token_check_and_resolvers() -> None:
    database = create_database(f"postgresql+asyncpg://kingdom@127.0.0.1:{_free_port()}/none")
    states = SqlTokenStates(database)
    reader = Actor("someone", compile_policies([Policy.of("accounts", Permission.ALL)]))

    async def authenticate(token: str) -> Actor:
        if token == "reader":
            return reader
        await states.current("someone")  # what the composition root's check reads
        raise AssertionError("unreachable: the database is not there")

    clock, ids = FakeClock(), SequentialIds()
    services = GraphQLServices(
        bus=MessageBus(
            uow_factory=lambda: SqlUnitOfWork(database),
            command_handlers={},
            event_handlers={},
            dependencies={},
        ),
        users=SqlUserQueries(database, CODEC),
        roles=SqlRoleQueries(database, CODEC),
        accounts=SqlAccountQueries(database, CODEC),
        transfers=SqlTransferQueries(database, CODEC),
        clock=clock,
        ids=ids,
        authenticate=authenticate,
        read_snapshot=ReadSnapshots(database),
    )
    app = create_app(create_graphql_app(services))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://kingdom.test"
        ) as client:
            answers = [
                await client.post(
                    "/graphql", json={"query": ACCOUNTS}, headers={"Authorization": f"Bearer {t}"}
                )
                for t in ("issued", "reader")
            ]
            # Several root fields: the read snapshot cannot be opened either.
            answers.append(
                await client.post(
                    "/graphql",
                    json={"query": TWO_ROOT_FIELDS},
                    headers={"Authorization": "Bearer reader"},
                )
            )
    finally:
        await database.dispose()

    for response in answers:
        _assert_unavailable(Result(response.status_code, response.json(), response.headers))
