"""Query limits, production mode, request ids and the access log, through the whole HTTP app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from integration.entrypoints.support import Api, counting_statements, running_api
from kingdom.domain.access import Permission, Policy, ReadScope
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.services.fakes import superuser
from kingdom.services.ports import AccountQueries, AccountView, Page, PageRequest

DEEP = (
    "{ accounts(first: 1) { edges { node { transfers(first: 1) { edges { node {"
    " source { owner { roles { policies { resource } } } } } } } } } } }"
)
COSTLY = (
    "{ accounts(first: 100) { edges { node {"
    " transfers(first: 100) { edges { node { id amount } } } } } } }"
)
REGISTER = 'registerUser(input: {email: "a@b.c", displayName: "A", password: "long enough 1"})'
ALIASED_MUTATIONS = (
    "mutation { " + " ".join(f"r{i}: {REGISTER} {{ userId }}" for i in range(16)) + " }"
)
MANY_TOKENS = "{ " + "__typename " * 2001 + "}"


@pytest.mark.parametrize(
    ("query", "code", "limit"),
    [
        (DEEP, "QUERY_TOO_DEEP", 10),
        (COSTLY, "QUERY_TOO_COMPLEX", 5000),
        (ALIASED_MUTATIONS, "TOO_MANY_ALIASES", 15),
        (MANY_TOKENS, "TOO_MANY_TOKENS", 2000),
    ],
    ids=["depth", "cost", "aliases", "tokens"],
)
async def test_each_limit_refuses_before_anything_runs(
    api: Api, query: str, code: str, limit: int
) -> None:
    token = api.token_for(superuser())
    async with counting_statements(api) as statements:
        result = await api.execute(query, token=token)
        strict = await api.client.post(
            "/graphql",
            json={"query": query},
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/graphql-response+json",
            },
        )

    # GraphQL over HTTP: a refused document is a 200 under application/json
    # (httpx asks for */*) and a 400 under application/graphql-response+json.
    assert (result.status, strict.status_code) == (200, 400)
    assert strict.json() == result.body
    assert code in result.codes
    refusal = next(e for e in result.errors if e["extensions"]["code"] == code)
    assert refusal["extensions"]["limit"] == limit
    assert "data" not in result.body
    assert statements == []  # not one resolver, not one registration


async def test_limits_come_from_the_app_settings(database_url: str) -> None:
    limits = QueryLimits(max_depth=2, max_cost=10, max_tokens=50, max_aliases=1)
    async with running_api(database_url, limits=limits) as api:
        token = api.token_with(Policy.of("accounts", Permission.READ))
        shallow = await api.execute("{ viewer { id } }", token=token)
        deep = await api.execute("{ viewer { roles { id } } }", token=token)
        costly = await api.execute("{ accounts(first: 11) { totalCount } }", token=token)
        variable = await api.execute(
            "query($n: Int) { accounts(first: $n) { totalCount } }", {"n": 11}, token=token
        )
        cheap = await api.execute(
            "query($n: Int) { accounts(first: $n) { totalCount } }", {"n": 10}, token=token
        )
        aliases = await api.execute("{ a: __typename b: __typename }")

    assert (shallow.status, shallow.errors) == (200, [])
    assert deep.codes == ["QUERY_TOO_DEEP"]
    assert costly.codes == ["QUERY_TOO_COMPLEX"]
    assert costly.errors[0]["extensions"]["cost"] == 11
    assert variable.codes == ["QUERY_TOO_COMPLEX"]
    assert (cheap.status, cheap.data) == (200, {"accounts": {"totalCount": 0}})
    assert aliases.codes == ["TOO_MANY_ALIASES"]


async def test_a_refused_document_is_refused_before_the_token_is_checked(api: Api) -> None:
    result = await api.execute(DEEP, token="not-a-token")

    assert (result.status, result.codes) == (200, ["QUERY_TOO_DEEP"])  # application/json


async def test_normal_queries_and_repeats_pass(api: Api) -> None:
    owner = await api.register("owner@example.org")
    await api.open_account(owner, balance=5)
    token = api.token_with(
        Policy.of("accounts", Permission.READ), Policy.of("users", Permission.READ)
    )
    query = "{ accounts(first: 50) { edges { node { balance owner { email } } } } }"

    answers = [await api.ok(query, token=token) for _ in range(3)]

    assert answers[0] == answers[2]
    assert answers[0]["accounts"]["edges"][0]["node"] == {
        "balance": "5",
        "owner": {"email": "owner@example.org"},
    }


async def test_a_body_over_one_mebibyte_is_a_413(api: Api) -> None:
    padding = " " * (1024 * 1024)
    declared = await api.client.post(
        "/graphql",
        content=b'{"query": "{ __typename }' + padding.encode() + b'"}',
        headers={"Content-Type": "application/json"},
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename '
        for _ in range(17):
            yield b" " * 65536
        yield b'}"}'

    streamed = await api.client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )

    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert response.headers["X-Request-ID"]


async def test_a_batch_is_a_400(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}]
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


# Production mode


class _BrokenAccounts(AccountQueries):
    """A query port whose database has gone away."""

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[AccountView]:
        raise OperationalError(
            "SELECT balance FROM accounts WHERE owner_id = $1",
            {"owner_id": "u-1"},
            Exception('asyncpg: connection to server at "10.0.0.5", port 5432 failed'),
        )

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, AccountView]:
        raise RuntimeError("boom")


async def test_production_hides_the_schema_and_the_internals(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_api(
        database_url, production=True, debug=True, account_queries=_BrokenAccounts()
    ) as api:
        token = api.token_with(Policy.of("accounts", Permission.READ))
        schema = await api.execute("{ __schema { types { name } } }")
        type_ = await api.execute('{ __type(name: "User") { fields { name } } }')
        typename = await api.execute("{ __typename }")
        typo = await api.execute("{ viewr { id } }")
        enum_typo = await api.execute(
            'mutation { createRole(input: {code: "c", name: "n", policies: [{resource: ACCOUNTS,'
            " actions: [REED]}]}) { roleId } }"
        )
        variable_typo = await api.execute(
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { roleId } }",
            {
                "i": {
                    "code": "c",
                    "name": "n",
                    "policies": [{"resource": "ACCOUNTS", "actions": ["REED"]}],
                }
            },
        )
        explorer = await api.client.get("/graphql", headers={"Accept": "text/html"})
        with caplog.at_level(logging.ERROR, logger="kingdom.entrypoints.graphql"):
            broken = await api.client.post(
                "/graphql",
                json={"query": "{ accounts { totalCount } }"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "prod-7"},
            )

    assert (schema.status, schema.codes) == (200, ["INTROSPECTION_DISABLED"])  # application/json
    assert type_.codes == ["INTROSPECTION_DISABLED"]
    assert (typename.status, typename.data) == (200, {"__typename": "Query"})
    assert typo.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "viewer" not in typo.body["errors"][0]["message"]
    assert enum_typo.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in str(enum_typo.body)
    assert "READ" not in str(enum_typo.body)
    assert variable_typo.codes == ["BAD_USER_INPUT"]
    assert "REED" in str(variable_typo.body)
    assert "Did you mean" not in str(variable_typo.body)
    assert "READ" not in str(variable_typo.body)
    assert explorer.status_code == 406  # no explorer, and the API answers no HTML
    assert broken.status_code == 200
    assert broken.json()["errors"] == [
        {
            "message": "Internal server error",
            "locations": [{"line": 1, "column": 3}],
            "path": ["accounts"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "prod-7"},
        }
    ]
    for leak in ("SELECT", "asyncpg", "10.0.0.5", "owner_id", "Traceback", "sqlalchemy"):
        assert leak not in broken.text
    (logged,) = (r for r in caplog.records if "prod-7" in r.getMessage())
    assert logged.exc_info is not None
    assert "SELECT balance" in str(logged.exc_info[1])


async def test_development_keeps_introspection_and_suggestions(api: Api) -> None:
    schema = await api.execute("{ __schema { queryType { name } } }")
    typo = await api.execute("{ viewr { id } }")

    assert schema.data == {"__schema": {"queryType": {"name": "Query"}}}
    assert "Did you mean 'viewer'" in typo.errors[0]["message"]


# Request ids and the access log


async def test_every_endpoint_answers_with_a_request_id(api: Api) -> None:
    responses = {
        "graphql": await api.client.post("/graphql", json={"query": "{ __typename }"}),
        "refused": await api.client.post("/graphql", json={"query": DEEP}),
        "health": await api.client.get("/health/live"),
        "404": await api.client.get("/nowhere"),
        "405": await api.client.delete("/health/live"),
        "chosen": await api.client.get("/health/live", headers={"X-Request-ID": "mine-1"}),
        "unsafe": await api.client.get("/health/live", headers={"X-Request-ID": "a\tb"}),
    }

    ids = {name: response.headers.get_list("X-Request-ID") for name, response in responses.items()}
    assert all(len(values) == 1 for values in ids.values()), ids
    assert ids["chosen"] == ["mine-1"]
    assert ids["unsafe"] != ["a\tb"]
    assert len({values[0] for values in ids.values()}) == len(ids)
    assert (responses["404"].status_code, responses["405"].status_code) == (404, 405)


async def test_each_request_logs_one_access_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = await api.register("logged@example.org")
    token = api.token_with(Policy.of("users", Permission.READ), user_id=user_id)

    with caplog.at_level(logging.INFO, logger="kingdom.access"):
        await api.client.post(
            "/graphql",
            json={"query": "query Me { viewer { id } }"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "log-1"},
        )
        await api.client.post(
            "/graphql",
            json={
                "query": "query A { __typename } mutation B { __typename }",
                "operationName": "B",
            },
            headers={"X-Request-ID": "log-2"},
        )
        await api.client.post("/graphql", json={"query": DEEP}, headers={"X-Request-ID": "log-3"})
        await api.client.get("/health/live", headers={"X-Request-ID": "log-4"})

    lines: list[dict[str, Any]] = [
        r.fields for r in caplog.records if r.name == "kingdom.access"  # type: ignore[attr-defined]
    ]
    assert [
        (line["request_id"], line["status"], line["operation"], line["user_id"]) for line in lines
    ] == [
        ("log-1", 200, "Me", user_id),
        ("log-2", 200, "B", None),
        ("log-3", 200, None, None),  # a refused document: 200 under application/json
        ("log-4", 200, None, None),
    ]
    assert [line["operation_type"] for line in lines] == ["query", "mutation", "query", None]
    assert all(line["method"] in ("GET", "POST") and line["duration_ms"] >= 0 for line in lines)


NUL_ROLE = 'mutation { createRole(input: {code: "x\\u{0}", name: "N"}) { roleId } }'


async def test_a_nul_character_in_a_literal_is_bad_input_before_anything_runs(api: Api) -> None:
    # PostgreSQL cannot store NUL in text: without this check the statement
    # would fail in the driver and surface as an internal error.
    token = api.token_for(superuser())
    async with counting_statements(api) as statements:
        result = await api.execute(NUL_ROLE, token=token)

    assert result.status == 200  # a refused document: 200 under application/json
    assert result.codes == ["BAD_USER_INPUT"]
    assert statements == []


async def test_a_nul_character_in_a_variable_is_bad_input_before_anything_runs(api: Api) -> None:
    query = "mutation($i: CreateRoleInput!) { createRole(input: $i) { roleId } }"
    token = api.token_for(superuser())
    async with counting_statements(api) as statements:
        result = await api.execute(query, {"i": {"code": "x\x00", "name": "N"}}, token=token)

    assert result.status == 200  # a refused variable: 200 under application/json
    assert result.codes == ["BAD_USER_INPUT"]
    assert "NUL" in result.errors[0]["message"]
    assert statements == []
