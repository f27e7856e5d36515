"""Documents and requests built to hurt, through the whole HTTP app, on SQLite and Postgres.

Each test is the regression test of one finding of an attacker's report
(issue 10): before the fix it hung, failed with INTERNAL_SERVER_ERROR or
answered the wrong thing.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence

from sqlalchemy import text

from integration.databases import fresh_postgres
from integration.entrypoints.support import CODEC, Api, counting_statements, running_api
from kingdom.adapters.ledger.queries import SqlAccountQueries
from kingdom.adapters.sql.engine import Database
from kingdom.domain.access import Actor, Permission, Policy, ReadScope
from kingdom.services.fakes import superuser
from kingdom.services.ports import AccountQueries, AccountView, Page, PageRequest


def fragment_chain(levels: int) -> str:
    """``F(i)`` spreads ``F(i-1)`` twice: 2**levels copies of ``id email`` if expanded."""
    fragments = ["fragment F0 on User { id email }"] + [
        f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"{{ viewer {{ ...F{levels} }} }} " + " ".join(fragments)


async def test_a_doubling_fragment_chain_below_a_resolved_field_answers(api: Api) -> None:
    """Finding 1: the look-ahead under ``viewer`` expanded 2**40 spreads and never returned."""
    user_id = await api.register("chain@example.com")
    token = api.token_for(Actor(user_id, superuser().context))

    result = await asyncio.wait_for(api.execute(fragment_chain(40), token=token), timeout=30)

    assert result.status == 200, result.body
    assert result.data["viewer"]["email"] == "chain@example.com"


async def test_repeated_fields_are_refused_before_any_statement(api: Api) -> None:
    """Finding 2: 490 ``viewer { id }`` took seconds of validation, and ended "Validation aborted."."""
    wide = "{ " + "viewer { id } " * 490 + "}"
    typenames = "{ " + "__typename " * 1990 + "}"
    nested = "{ " + ("viewer { " + "id " * 40 + "} ") * 40 + "}"  # small sets, 1600 ids

    async with counting_statements(api) as statements:
        refused = {
            query: await api.execute(query)
            for query in (wide, typenames, wide + " # again", nested, nested + " # again")
        }

    # Refused documents of well-formed requests are 200s under application/json
    # (GraphQL over HTTP; httpx asks for */*), 400s under graphql-response+json.
    for query, result in refused.items():
        code = "QUERY_TOO_COMPLEX" if query.startswith(nested) else "TOO_MANY_SELECTIONS"
        assert (result.status, result.codes) == (200, [code])
        assert "data" not in result.body
    assert statements == []


async def test_variable_defaults_count_towards_the_cost(api: Api) -> None:
    """Finding 3: ``$n: Int = 100`` with no variables ran at 6x the cost limit."""
    token = api.token_with(Policy.of("accounts", Permission.READ))
    query = (
        "query($n: Int = 100) { a: accounts(first: $n) { edges { node {"
        " transfers(first: $n) { edges { node { id } } } } } } }"
    )

    async with counting_statements(api) as statements:
        defaulted = await api.execute(query, token=token)
        sent = await api.execute(query, {"n": 100}, token=token)
    small = await api.execute(query, {"n": 2}, token=token)

    assert (defaulted.status, defaulted.codes) == (200, ["QUERY_TOO_COMPLEX"])  # application/json
    assert defaulted.errors[0]["extensions"]["cost"] == 30300
    assert sent.codes == ["QUERY_TOO_COMPLEX"]
    assert statements == []
    assert (small.status, small.errors) == (200, [])


def raw_global_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


async def test_a_nul_inside_a_global_id_is_bad_input_everywhere(api: Api) -> None:
    """Finding 6: on PostgreSQL a NUL inside a decoded id reached SQL: a 500 and a traceback."""
    token = api.token_for(superuser())
    account = raw_global_id("Account:a\x00b")
    user = raw_global_id("User:\x00")
    role = raw_global_id("Role:\x00")
    reads = {
        "node": ("query($id: ID!) { node(id: $id) { id } }", {"id": account}),
        "nodes": ("query($id: ID!) { nodes(ids: [$id]) { id } }", {"id": account}),
        "account": ("query($id: ID!) { account(id: $id) { id } }", {"id": account}),
        "user": ("query($id: ID!) { user(id: $id) { id } }", {"id": user}),
        "role": ("query($id: ID!) { role(id: $id) { id } }", {"id": role}),
        "deposit": (
            "mutation($id: ID!) { deposit(input: {accountId: $id, amount: 1}) { accountId } }",
            {"id": account},
        ),
        "disable": (
            "mutation($id: ID!) { disableUser(input: {userId: $id}) { userId } }",
            {"id": user},
        ),
    }

    for name, (query, variables) in reads.items():
        result = await api.execute(query, variables, token=token)
        assert result.codes == ["BAD_USER_INPUT"], (name, result.body)
        assert result.errors[0]["message"] == "not a valid id", name


async def test_two_authorization_headers_are_a_bad_request(api: Api) -> None:
    """Finding 7: the second header won; which one counts must never be a guess."""
    token = api.token_for(superuser())
    response = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { id } }"},
        headers=[("Authorization", "Bearer nonsense"), ("Authorization", f"Bearer {token}")],
    )
    one = await api.execute("{ __typename }", token=token)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "one Authorization header" in response.json()["errors"][0]["message"]
    assert one.status == 200


async def test_a_huge_comment_or_literal_is_refused_unread(api: Api) -> None:
    """Finding 10: 900 KB in one comment or string cost 100-170 ms to parse."""
    comment = "{ __typename } #" + "x" * 900_000
    literal = '{ role(id: "' + "x" * 900_000 + '") { id } }'

    for query in (comment, literal):
        result = await api.execute(query)
        assert (result.status, result.codes) == (200, ["QUERY_TOO_LARGE"])  # application/json
        assert result.errors[0]["extensions"]["limit"] == 32 * 1024


class _StuckAccounts(AccountQueries):
    """A query port whose reads never finish, noting whether they were cancelled."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[AccountView]:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> dict[str, AccountView]:
        return {}


async def test_a_query_past_its_deadline_is_stopped_and_answered(database_url: str) -> None:
    """The general bound: whatever a query does, it is answered and its work cancelled."""
    stuck = _StuckAccounts()
    async with running_api(database_url, account_queries=stuck, deadline=0.2) as api:
        token = api.token_with(Policy.of("accounts", Permission.READ))
        result = await asyncio.wait_for(
            api.execute("{ accounts(first: 5) { totalCount } }", token=token), timeout=30
        )
        after = await api.execute("{ viewer { id } }", token=token)

        assert stuck.cancelled.is_set()
    assert result.status == 504
    assert result.codes == ["DEADLINE_EXCEEDED"]
    assert result.errors[0]["extensions"]["limit"] == 200
    assert "requestId" in result.errors[0]["extensions"]
    assert after.status == 200  # the server carries on


class _FailingSlowlyAccounts(AccountQueries):
    """A query port whose page read fails after ``delay`` seconds, counting its calls."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[AccountView]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        raise RuntimeError("the read failed")

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> dict[str, AccountView]:
        return {}


async def test_a_query_rerun_by_graphql_core_keeps_the_deadline_of_its_first_run(
    database_url: str,
) -> None:
    """A failing read makes the plan step aside and graphql-core run the query again
    (to report the error): the second run has what is left of the one deadline, not
    a fresh one. The read takes 0.7 of the deadline: the first run fails in time,
    the second is cut off."""
    failing = _FailingSlowlyAccounts(delay=0.7)
    async with running_api(database_url, account_queries=failing, deadline=1.0) as api:
        token = api.token_with(Policy.of("accounts", Permission.READ))
        result = await api.execute("{ accounts(first: 5) { totalCount } }", token=token)

    assert failing.calls == 2
    assert (result.status, result.codes) == (504, ["DEADLINE_EXCEEDED"])


class _SlowStatementAccounts(AccountQueries):
    """Real account reads, each behind a ten-second statement while ``slow`` is set."""

    def __init__(self) -> None:
        self.slow = True
        self._database: Database | None = None
        self._queries: SqlAccountQueries | None = None

    def attach(self, database: Database) -> None:
        self._database = database
        self._queries = SqlAccountQueries(database, CODEC)

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[AccountView]:
        assert self._database is not None
        assert self._queries is not None
        if self.slow:
            async with self._database.reader.connect() as connection:
                await connection.execute(text("SELECT pg_sleep(10)"))
        return await self._queries.list(scope, page)

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, AccountView]:
        assert self._queries is not None
        return await self._queries.by_ids(scope, ids)


async def test_a_statement_past_the_deadline_is_cancelled_in_postgres(postgres_url: str) -> None:
    """Cancelling the query cancels its statement, and the pool's connections stay usable."""
    accounts = _SlowStatementAccounts()
    async with (
        fresh_postgres(postgres_url) as url,
        running_api(url, account_queries=accounts, deadline=0.3) as api,
    ):
        accounts.attach(api.database)
        token = api.token_with(Policy.of("accounts", Permission.READ))
        query = "{ accounts(first: 5) { totalCount } }"

        stopped = await asyncio.gather(*(api.execute(query, token=token) for _ in range(5)))
        async with api.database.reader.connect() as connection:
            sleeping = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'"
                )
            )
        accounts.slow = False
        after = await asyncio.gather(*(api.execute(query, token=token) for _ in range(20)))

    assert [result.codes for result in stopped] == [["DEADLINE_EXCEEDED"]] * 5
    assert sleeping == 0
    assert {(result.status, str(result.errors)) for result in after} == {(200, "[]")}
