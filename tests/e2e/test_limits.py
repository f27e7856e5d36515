"""Query limits, production mode, request ids and the access log, against a real server.

One production server per backend serves the module (``KINGDOM_ENV=production``,
default limits); the masking test runs its own embedded server, whose
database it breaks on purpose.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.client import access_token
from e2e.server import RunningServer, run_server
from kingdom.entrypoints.graphql.global_ids import decode

SIGNING_KEY = "e2e-limits-signing-key-0123456789abcdefghijklmnop"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for e2e limits"
PRODUCTION = {
    "KINGDOM_ENV": "production",
    "KINGDOM_TOKEN_SIGNING_KEY": SIGNING_KEY,
    "KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
}

DEEP = (
    "{ accounts(first: 1) { edges { node { transfers(first: 1) { edges { node {"
    " source { owner { roles { policies { resource } } } } } } } } } } }"
)
COSTLY = (
    "{ accounts(first: 100) { edges { node {"
    " transfers(first: 100) { edges { node { id amount } } } } } } }"
)
LOGINS = (
    "mutation { "
    + " ".join(
        f'l{i}: login(input: {{email: "x{i}@example.org", password: "wrong password"}})'
        " { accessToken }"
        for i in range(16)
    )
    + " }"
)
MANY_TOKENS = "{ " + "__typename " * 2001 + "}"


@pytest.fixture(scope="module")
def server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("data"), {**PRODUCTION, **backend}) as running:
        yield running


@pytest.fixture()
def admin(http: httpx.Client) -> str:
    return login(http)


def login(http: httpx.Client) -> str:
    return access_token(http, ADMIN_EMAIL, ADMIN_PASSWORD)


GRAPHQL_RESPONSE = "application/graphql-response+json"


def post(
    http: httpx.Client,
    query: str,
    token: str | None = None,
    request_id: str | None = None,
    accept: str | None = None,
) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    if accept is not None:
        headers["Accept"] = accept
    return http.post("/graphql", json={"query": query}, headers=headers)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors") or []]


# Limits


@pytest.mark.parametrize(
    ("query", "code", "limit"),
    [
        (DEEP, "QUERY_TOO_DEEP", 10),
        (COSTLY, "QUERY_TOO_COMPLEX", 5000),
        (LOGINS, "TOO_MANY_ALIASES", 15),
        (MANY_TOKENS, "TOO_MANY_TOKENS", 2000),
    ],
    ids=["depth", "cost", "aliases", "tokens"],
)
def test_each_limit_is_refused_with_its_code(
    http: httpx.Client, admin: str, query: str, code: str, limit: int
) -> None:
    response = post(http, query, admin, accept=GRAPHQL_RESPONSE)
    legacy = post(http, query, admin)  # httpx's Accept: */*, answered as application/json

    # GraphQL over HTTP: a document that cannot run is a 400 under
    # application/graphql-response+json, a 200 under application/json.
    assert (response.status_code, legacy.status_code) == (400, 200)
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert legacy.json() == response.json()
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["limit"] == limit
    assert "data" not in response.json()


def test_a_page_of_accounts_with_owners_is_within_the_limits(
    http: httpx.Client, admin: str
) -> None:
    response = post(http, "{ accounts(first: 50) { edges { node { owner { email } } } } }", admin)

    assert response.status_code == 200
    assert "errors" not in response.json()


def test_a_body_over_one_mebibyte_is_a_413(http: httpx.Client) -> None:
    body = b'{"query": "{ __typename ' + b" " * (1024 * 1024) + b'}"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    declared = http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    streamed = http.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})

    for response in (declared, streamed):
        assert response.status_code == 413
        assert codes(response) == ["BAD_REQUEST"]


def test_a_batch_is_refused(http: httpx.Client) -> None:
    response = http.post("/graphql", json=[{"query": "{ __typename }"}] * 2)

    assert (response.status_code, codes(response)) == (400, ["BAD_REQUEST"])


# Production mode


def test_production_hides_the_schema(http: httpx.Client, admin: str) -> None:
    schema = post(http, "{ __schema { types { name } } }", admin, accept=GRAPHQL_RESPONSE)
    type_ = post(http, '{ __type(name: "User") { name } }')
    typename = post(http, "{ __typename }")
    typo = post(http, "{ viewr { id } }", admin)
    explorer = http.get("/graphql", headers={"Accept": "text/html"})

    assert (schema.status_code, codes(schema)) == (400, ["INTROSPECTION_DISABLED"])
    assert codes(type_) == ["INTROSPECTION_DISABLED"]
    assert typename.json() == {"data": {"__typename": "Query"}}
    assert codes(typo) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "viewer" not in typo.text
    assert "Did you mean" not in typo.text
    assert explorer.status_code == 406  # no explorer, and the API answers no HTML


def test_internal_errors_are_masked_and_logged_under_the_request_id(tmp_path: Path) -> None:
    """On its own embedded server, whose accounts table goes missing under it."""
    with run_server(tmp_path, PRODUCTION) as running:
        with httpx.Client(base_url=running.base_url, timeout=30) as client:
            token = login(client)
            with sqlite3.connect(tmp_path / "kingdom.db") as db:
                db.execute("DROP TABLE accounts")
            response = post(client, "{ accounts { totalCount } }", token, "broken-1")
        output = running.stop()

    assert response.status_code == 200
    assert response.json()["errors"] == [
        {
            "message": "Internal server error",
            "locations": [{"line": 1, "column": 3}],
            "path": ["accounts"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "broken-1"},
        }
    ]
    for leak in ("accounts\\", "no such table", "SELECT", "sqlite", "Traceback"):
        assert leak not in response.text
    (logged,) = (event for event in events(output) if "broken-1" in event["message"])
    assert logged["level"] == "ERROR"
    assert "no such table" in logged["exception"]


# Request ids and the access log


def test_every_response_carries_a_request_id(http: httpx.Client) -> None:
    responses = {
        "graphql": post(http, "{ __typename }"),
        "refused": post(http, DEEP, accept=GRAPHQL_RESPONSE),
        "live": http.get("/health/live"),
        "ready": http.get("/health/ready"),
        "404": http.get("/nowhere"),
        "405": http.get("/graphql?query=mutation%20%7B%20__typename%20%7D"),
        "413": http.post(
            "/graphql",
            content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
            headers={"Content-Type": "application/json"},
        ),
    }
    chosen = http.get("/health/live", headers={"X-Request-ID": "e2e-chosen.1"})
    refused = http.get("/health/live", headers={"X-Request-ID": "x" * 65})

    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {
        "graphql": 200,
        "refused": 400,
        "live": 200,
        "ready": 200,
        "404": 404,
        "405": 405,
        "413": 413,
    }
    ids = [response.headers.get_list("X-Request-ID") for response in responses.values()]
    assert all(len(values) == 1 for values in ids)
    assert len({values[0] for values in ids}) == len(ids)
    assert chosen.headers["X-Request-ID"] == "e2e-chosen.1"
    assert refused.headers["X-Request-ID"] != "x" * 65


def test_each_request_logs_one_json_access_line(
    http: httpx.Client, admin: str, server: RunningServer
) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    viewer = post(http, "query Me { viewer { id } }", admin, request_id)
    user_id = viewer.json()["data"]["viewer"]["id"]

    line = wait_for_access_line(server, request_id)

    assert line["logger"] == "kingdom.access"
    assert (line["method"], line["path"], line["status"]) == ("POST", "/graphql", 200)
    assert (line["operation"], line["operation_type"]) == ("Me", "query")
    assert line["user_id"] == decode(user_id)[1]
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] > 0
    everything = server.output()
    assert everything.count(request_id) == 1  # one line, and uvicorn logs no second one
    assert '"POST /graphql HTTP/1.1"' not in everything


def wait_for_access_line(server: RunningServer, request_id: str) -> dict[str, Any]:
    """The access line is written as the response ends, so it may trail the response a little."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [
            event
            for event in events(server.output())
            if event.get("logger") == "kingdom.access" and event.get("request_id") == request_id
        ]
        if found:
            assert len(found) == 1
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no access line for {request_id} in:\n{server.output()[-3000:]}")


def events(output: str) -> list[dict[str, Any]]:
    """The JSON log lines of the server's output (start-up messages are plain text)."""
    parsed = []
    for line in output.splitlines():
        if line.startswith("{"):
            parsed.append(json.loads(line))
    return parsed
