"""The HTTP edge: what reaches the executor, credentials, masking, the mount."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from integration.entrypoints.support import Api, running_api
from kingdom.domain.access import Permission, Policy, ReadScope
from kingdom.services.ports import AccountQueries, AccountView, Page, PageRequest


async def _post(api: Api, content: bytes | str, content_type: str = "application/json") -> Any:
    return await api.client.post(
        "/graphql", content=content, headers={"Content-Type": content_type}
    )


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '[{"query": "{ viewer { id } }"}]',
        '"{ viewer { id } }"',
        "42",
        "null",
        "{}",
        '{"query": 5}',
        '{"query": "{ viewer { id } }", "variables": [1]}',
        '{"query": "{ viewer { id } }", "operationName": 7}',
        "[" * 100_000,
        b"\xff\xfe",
    ],
)
async def test_an_unusable_body_is_a_400_with_a_code(api: Api, body: str | bytes) -> None:
    response = await _post(api, body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert response.headers["X-Request-ID"]


async def test_only_json_is_accepted(api: Api) -> None:
    response = await _post(api, "query { viewer { id } }", "application/graphql")

    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_graphql_level_mistakes_have_codes(api: Api) -> None:
    syntax = await api.execute("{ viewer { id ")
    unknown_field = await api.execute("{ nope }")
    wrong_variable = await api.execute(
        "query($first: Int) { accounts(first: $first) { totalCount } }", {"first": "many"}
    )
    missing_variable = await api.execute("query($id: ID!) { node(id: $id) { id } }")
    bad_amount = await api.execute(
        "mutation($i: DepositInput!) { deposit(input: $i) { accountId } }",
        {"i": {"accountId": "x", "amount": 1.5}},
    )

    # GraphQL over HTTP: a well-formed request whose document cannot run is a
    # 200 under application/json (what httpx's */* gets), without data.
    assert (syntax.status, syntax.codes) == (200, ["GRAPHQL_PARSE_FAILED"])
    assert (unknown_field.status, unknown_field.codes) == (200, ["GRAPHQL_VALIDATION_FAILED"])
    assert (wrong_variable.status, wrong_variable.codes) == (200, ["BAD_USER_INPUT"])
    assert (missing_variable.status, missing_variable.codes) == (200, ["BAD_USER_INPUT"])
    assert (bad_amount.status, bad_amount.codes) == (200, ["BAD_USER_INPUT"])
    for result in (syntax, unknown_field, wrong_variable, missing_variable, bad_amount):
        assert "data" not in result.body


async def test_graphql_level_mistakes_are_400s_for_graphql_response_json_clients(
    api: Api,
) -> None:
    answers = [
        await api.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Accept": "application/graphql-response+json"},
        )
        for query, variables in (
            ("{ viewer { id ", None),
            ("{ nope }", None),
            ("query($first: Int) { accounts(first: $first) { totalCount } }", {"first": "x"}),
        )
    ]

    assert [a.status_code for a in answers] == [400, 400, 400]
    assert {a.headers["content-type"] for a in answers} == {
        "application/graphql-response+json; charset=utf-8"
    }
    assert [a.json()["errors"][0]["extensions"]["code"] for a in answers] == [
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
    ]


@pytest.mark.parametrize(
    "header", ["Token abc", "Bearer", "Bearer two words", "Basic dXNlcjpwYXNz", "Bearer not-issued"]
)
async def test_bad_credentials_are_refused_not_ignored(api: Api, header: str) -> None:
    response = await api.client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": header}
    )

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_get_serves_no_explorer_unless_debugging(database_url: str) -> None:
    async with running_api(database_url) as api:
        production = await api.client.get("/graphql", headers={"Accept": "text/html"})
    async with running_api(database_url, debug=True) as api:
        debugging = await api.client.get("/graphql", headers={"Accept": "text/html"})

    assert production.status_code == 406  # it serves no HTML: Not Acceptable
    assert debugging.status_code == 200
    assert "graphiql" in debugging.text.lower()


async def test_health_is_still_served_beside_graphql(api: Api) -> None:
    response = await api.client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


class _BrokenAccounts(AccountQueries):
    """A query port whose database has gone away."""

    async def list(self, scope: ReadScope, page: PageRequest) -> Page[AccountView]:
        raise OperationalError("SELECT secret FROM accounts", {}, Exception("connection refused"))

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, AccountView]:
        raise RuntimeError("boom: /srv/kingdom/secret.py line 12")


async def test_an_internal_failure_is_masked_and_logged_with_the_request_id(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    node = '"QWNjb3VudDp4"'  # Account:x
    async with running_api(database_url, account_queries=_BrokenAccounts()) as api:
        token = api.token_with(Policy.of("accounts", Permission.READ))
        with caplog.at_level(logging.ERROR, logger="kingdom.entrypoints.graphql"):
            listing = await api.client.post(
                "/graphql",
                json={"query": "{ accounts { totalCount } }"},
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-41"},
            )
            lookups = await api.client.post(
                "/graphql",
                json={
                    "query": f"{{ a: node(id: {node}) {{ id }} b: account(id: {node}) {{ id }} }}"
                },
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"},
            )

    for response, count, request in ((listing, 1, "req-41"), (lookups, 2, "req-42")):
        body = response.json()
        assert response.status_code == 200
        assert [error["message"] for error in body["errors"]] == ["Internal server error"] * count
        assert [error["extensions"] for error in body["errors"]] == [
            {"code": "INTERNAL_SERVER_ERROR", "requestId": request}
        ] * count
        assert "SELECT" not in response.text
        assert "secret" not in response.text
    assert listing.json()["data"] is None
    assert lookups.json()["data"] == {"a": None, "b": None}
    assert lookups.headers["X-Request-ID"] == "req-42"
    logged = {
        request: [record for record in caplog.records if request in record.getMessage()]
        for request in ("req-41", "req-42")
    }
    assert [len(records) for records in logged.values()] == [1, 2]
    assert all(record.exc_info for records in logged.values() for record in records)
