"""The GraphQL-over-HTTP specification's cases, table by table, on the app in process.

https://graphql.github.io/graphql-over-http/draft/: for each kind of request
(well-formed or not, runnable or not, over POST and GET) and each media type
the client may ask for, the status, the answer's media type and whether it
has ``data``. The endpoint is the real one (``create_app(create_graphql_app(...))``)
over a small schema of its own, whose fields succeed, fail, lose the
database or take too long on demand; the rules themselves are written down
in :mod:`kingdom.entrypoints.graphql.endpoint`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import pytest
from ariadne import MutationType, QueryType, make_executable_schema
from graphql import GraphQLSchema

from kingdom.domain.access import Actor
from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql import GraphQLServices, create_graphql_app
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.http.media_types import negotiate
from kingdom.services.fakes import FakeApp
from kingdom.services.outages import Unavailable

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
DEADLINE = 0.2

TYPE_DEFS = """
type Query {
  ok: String
  boom: String
  down: String
  strict: String!
  echo(n: Int!): Int
  say(s: String): String
  slow: String
}
type Mutation { write: String }
"""


def small_schema() -> GraphQLSchema:
    query, mutation = QueryType(), MutationType()
    query.set_field("ok", lambda *_: "fine")

    def boom(*_: Any) -> str:
        raise RuntimeError("SELECT secret")

    def down(*_: Any) -> str:
        raise Unavailable("connection refused", retry_after_seconds=3)

    async def slow(*_: Any) -> str:
        await asyncio.sleep(30)
        return "late"

    query.set_field("boom", boom)
    query.set_field("down", down)
    query.set_field("strict", boom)
    query.set_field("echo", lambda _, __, n: n)
    query.set_field("say", lambda _, __, s=None: s)
    query.set_field("slow", slow)
    mutation.set_field("write", lambda *_: "written")
    return make_executable_schema(TYPE_DEFS, query, mutation)


async def authenticate(token: str) -> Actor:
    if token == "good":
        return Actor.anonymous()
    if token == "down":
        raise Unavailable("connection refused", retry_after_seconds=7)
    raise Unauthenticated("invalid or expired token")


def services() -> GraphQLServices:
    fakes = FakeApp()
    unused = cast(Any, object())
    return GraphQLServices(
        bus=fakes.bus,
        users=unused,
        roles=unused,
        accounts=unused,
        transfers=unused,
        clock=fakes.clock,
        ids=fakes.ids,
        authenticate=authenticate,
    )


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return small_schema()


@pytest.fixture()
async def http(schema: GraphQLSchema) -> AsyncIterator[httpx.AsyncClient]:
    api = create_graphql_app(
        services(), schema=schema, deadline=DEADLINE, limits=QueryLimits(max_aliases=1)
    )
    transport = httpx.ASGITransport(app=create_app(api))
    async with httpx.AsyncClient(transport=transport, base_url="http://kingdom.test") as client:
        yield client


@dataclass(frozen=True)
class Case:
    """A request, and the answer the specification asks for under each media type."""

    name: str
    method: str = "POST"
    body: Any = None
    """JSON to post (bytes: sent as they are)."""
    params: dict[str, str] = field(default_factory=dict)
    """The URL's query parameters (GET)."""
    headers: dict[str, str] = field(default_factory=dict)
    json_status: int = 200
    """Under ``application/json``."""
    status: int | None = None
    """Under ``application/graphql-response+json`` (None: as under ``application/json``)."""
    data: bool = True
    """Whether the answer has a ``data`` entry."""
    code: str | None = None
    """The first error's ``extensions.code`` (None: no error)."""
    extra: dict[str, str] = field(default_factory=dict)
    """Headers the answer must carry."""


def ran(name: str, **request: Any) -> Case:
    return Case(name, **request)


def request_error(name: str, code: str, **request: Any) -> Case:
    """A well-formed request whose document cannot run: 200 under JSON, 400 under the new type."""
    return Case(name, json_status=200, status=400, data=False, code=code, **request)


def malformed(name: str, status: int = 400, **request: Any) -> Case:
    """Not a well-formed GraphQL-over-HTTP request (or not one taken): 4xx for both."""
    request.setdefault("code", "BAD_REQUEST")
    return Case(name, json_status=status, data=False, **request)


CASES = [
    # POST: well-formed and runnable (200 whatever the field errors).
    ran("a query", body={"query": "{ ok }"}),
    ran("a mutation", body={"query": "mutation { write }"}),
    ran(
        "nulls for the optional parameters",
        body={"query": "{ ok }", "variables": None, "operationName": None, "extensions": None},
    ),
    ran("extensions", body={"query": "{ ok }", "extensions": {"any": "thing"}}),
    ran("variables", body={"query": "query($n: Int!) { echo(n: $n) }", "variables": {"n": 1}}),
    ran("a named operation", body={"query": "query A { ok } query B { ok }", "operationName": "B"}),
    ran("a field error", body={"query": "{ ok boom }"}, code="INTERNAL_SERVER_ERROR"),
    ran("a field error nulling data", body={"query": "{ strict }"}, code="INTERNAL_SERVER_ERROR"),
    ran(
        "an outage beside data",
        body={"query": "{ ok down }"},
        code="UNAVAILABLE",
        extra={"retry-after": "3"},
    ),
    ran("a good token", body={"query": "{ ok }"}, headers={"Authorization": "Bearer good"}),
    ran(
        "a JSON charset",
        body={"query": "{ ok }"},
        headers={"Content-Type": "application/json; charset=UTF-8"},
    ),
    # POST: well-formed, but the document cannot run.
    request_error("a parse error", "GRAPHQL_PARSE_FAILED", body={"query": "{"}),
    request_error("an empty query", "GRAPHQL_PARSE_FAILED", body={"query": ""}),
    request_error("a validation error", "GRAPHQL_VALIDATION_FAILED", body={"query": "{ nope }"}),
    request_error("a query limit", "TOO_MANY_ALIASES", body={"query": "{ a: ok b: ok }"}),
    request_error(
        "an unknown operation",
        "GRAPHQL_VALIDATION_FAILED",
        body={"query": "query A { ok }", "operationName": "B"},
    ),
    request_error(
        "no operation chosen",
        "GRAPHQL_VALIDATION_FAILED",
        body={"query": "query A { ok } query B { ok }"},
    ),
    request_error(
        "a variable of the wrong type",
        "BAD_USER_INPUT",
        body={"query": "query($n: Int!) { echo(n: $n) }", "variables": {"n": "x"}},
    ),
    request_error(
        "a missing variable", "BAD_USER_INPUT", body={"query": "query($n: Int!) { echo(n: $n) }"}
    ),
    request_error(
        "a NUL in a variable",
        "BAD_USER_INPUT",
        body={"query": "query($s: String) { say(s: $s) }", "variables": {"s": "a\x00"}},
    ),
    # POST: not a well-formed request.
    malformed("not JSON", body=b"{"),
    malformed("not UTF-8", body=b"\xff\xfe"),
    malformed("a batch", body=[{"query": "{ ok }"}, {"query": "{ ok }"}]),
    malformed("a string", body="{ ok }"),
    malformed("no query", body={"qeury": "{ ok }"}),
    malformed("a number for query", body={"query": 5}),
    malformed("an object for query", body={"query": {"obj": "ect"}}),
    malformed("a list for variables", body={"query": "{ ok }", "variables": [7]}),
    malformed("a string for variables", body={"query": "{ ok }", "variables": "{}"}),
    malformed("a number for operationName", body={"query": "{ ok }", "operationName": 7}),
    malformed("a string for extensions", body={"query": "{ ok }", "extensions": "x"}),
    malformed(
        "two Authorization headers",
        body={"query": "{ ok }"},
        headers={"Authorization": "Bearer good"},
    ),  # doubled by the test
    malformed(
        "another content type", 415, body=b"{ ok }", headers={"Content-Type": "application/graphql"}
    ),
    malformed(
        "another charset",
        415,
        body=b'{"query": "{ ok }"}',
        headers={"Content-Type": "application/json; charset=latin-1"},
    ),
    malformed("no content type", 415, body=b'{"query": "{ ok }"}', headers={"Content-Type": ""}),
    malformed(
        "a body over a mebibyte",
        413,
        body={"query": "{ ok }", "extensions": {"pad": " " * 1024 * 1024}},
    ),
    malformed("PUT", 405, method="PUT", body={"query": "{ ok }"}, extra={"allow": "GET, POST"}),
    # Not GraphQL's to decide: the same status for both media types.
    Case(
        "a bad token",
        body={"query": "{ ok }"},
        headers={"Authorization": "Bearer bad"},
        json_status=401,
        data=False,
        code="UNAUTHENTICATED",
        extra={"www-authenticate": 'Bearer error="invalid_token"'},
    ),
    Case(
        "a malformed Authorization",
        body={"query": "{ ok }"},
        headers={"Authorization": "Basic x"},
        json_status=401,
        data=False,
        code="UNAUTHENTICATED",
    ),
    Case(
        "the token check's database is down",
        body={"query": "{ ok }"},
        headers={"Authorization": "Bearer down"},
        json_status=503,
        data=False,
        code="UNAVAILABLE",
        extra={"retry-after": "7"},
    ),
    Case(
        "an outage and nothing produced",
        body={"query": "{ down }"},
        json_status=503,
        data=False,
        code="UNAVAILABLE",
        extra={"retry-after": "3"},
    ),
    Case(
        "past the deadline",
        body={"query": "{ slow }"},
        json_status=504,
        data=False,
        code="DEADLINE_EXCEEDED",
    ),
    # GET: queries only, with the same rules.
    ran("a GET query", method="GET", params={"query": "{ ok }"}),
    ran(
        "a GET with variables",
        method="GET",
        params={"query": "query($n: Int!) { echo(n: $n) }", "variables": '{"n": 2}'},
    ),
    ran(
        "a GET with an empty operationName",
        method="GET",
        params={"query": "{ ok }", "operationName": ""},
    ),
    ran(
        "a GET naming its query",
        method="GET",
        params={"query": "query A { ok } mutation B { write }", "operationName": "A"},
    ),
    request_error("a GET parse error", "GRAPHQL_PARSE_FAILED", method="GET", params={"query": "{"}),
    request_error(
        "a GET validation error",
        "GRAPHQL_VALIDATION_FAILED",
        method="GET",
        params={"query": "{ nope }"},
    ),
    malformed(
        "a GET mutation",
        405,
        method="GET",
        params={"query": "mutation { write }"},
        extra={"allow": "POST"},
    ),
    malformed(
        "a GET naming its mutation",
        405,
        method="GET",
        params={"query": "query A { ok } mutation B { write }", "operationName": "B"},
        extra={"allow": "POST"},
    ),
    malformed("a GET without a query", method="GET", params={}),
    malformed(
        "a GET with variables not JSON", method="GET", params={"query": "{ ok }", "variables": "{"}
    ),
    malformed(
        "a GET with a list for variables",
        method="GET",
        params={"query": "{ ok }", "variables": "[1]"},
    ),
    malformed(
        "a GET with extensions not an object",
        method="GET",
        params={"query": "{ ok }", "extensions": '"x"'},
    ),
    malformed("a GET giving query twice", method="GET", params={"query": "{ ok }"}),  # doubled
]


async def send(http: httpx.AsyncClient, case: Case, accept: str | None) -> httpx.Response:
    """``case``'s request, with ``accept`` as its only ``Accept`` header (None: none at all)."""
    url, content = "/graphql", b""
    if case.params or case.method == "GET":
        url += "?" + urlencode(case.params)
        if case.name == "a GET giving query twice":
            url += "&" + urlencode(case.params)
    if case.body is not None:
        content = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    headers = {"Content-Type": "application/json", **case.headers}
    if case.method == "GET" or not headers["Content-Type"]:
        del headers["Content-Type"]
    pairs = list(headers.items())
    if case.name == "two Authorization headers":
        pairs.append(("Authorization", "Bearer bad"))
    if accept is not None:
        pairs.append(("Accept", accept))
    request = http.build_request(case.method, url, content=content, headers=pairs)
    if accept is None:
        del request.headers["Accept"]  # httpx's default */*
    return await http.send(request)


@pytest.mark.parametrize("media", [JSON, GRAPHQL_RESPONSE])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_each_case_gets_the_status_and_media_type_the_specification_asks_for(
    http: httpx.AsyncClient, case: Case, media: str
) -> None:
    response = await send(http, case, media)

    expected = case.json_status if media == JSON or case.status is None else case.status
    assert response.status_code == expected, response.text
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    body = response.json()
    assert ("data" in body) == case.data, body
    codes = [error["extensions"]["code"] for error in body.get("errors") or []]
    assert codes[:1] == ([case.code] if case.code else []), body
    if case.data and not case.code:
        assert "errors" not in body
    for name, value in case.extra.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert response.headers["x-request-id"]
    if codes and codes[0] in ("BAD_REQUEST", "UNAUTHENTICATED", "UNAVAILABLE", "DEADLINE_EXCEEDED"):
        # Refused or failed before or outside GraphQL: the answer names the request.
        assert body["errors"][0]["extensions"]["requestId"] == response.headers["x-request-id"]
    assert "SELECT" not in response.text


ACCEPTED = [
    # (Accept, the media type answered)
    (None, JSON),
    ("", JSON),
    ("*/*", JSON),
    ("application/*", JSON),
    ("application/json", JSON),
    ("application/json; charset=utf-8", JSON),
    (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", GRAPHQL_RESPONSE),
    (f"{JSON}, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # equal q: the specification's type
    (f"{JSON};q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
    (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
    (f"{JSON}, */*;q=0.1", JSON),
    (f"{JSON};q=0.1, */*", GRAPHQL_RESPONSE),  # anything else is preferred to JSON
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser's
    (f"{JSON};q=abc, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),  # a malformed range is skipped
    ("APPLICATION/GRAPHQL-RESPONSE+JSON", GRAPHQL_RESPONSE),
]
NOT_ACCEPTABLE = [
    "text/html",
    "application/xml",
    "image/*",
    f"{JSON};q=0",
    f"{JSON}; charset=iso-8859-1",
    f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0",
    "nonsense",
]


@pytest.mark.parametrize(("accept", "media"), ACCEPTED)
async def test_the_accept_header_chooses_the_media_type_by_quality_and_specificity(
    http: httpx.AsyncClient, accept: str | None, media: str
) -> None:
    ok = await send(http, CASES[0], accept)
    refused = await send(http, next(c for c in CASES if c.name == "a validation error"), accept)

    assert (ok.status_code, ok.headers["content-type"]) == (200, f"{media}; charset=utf-8")
    assert refused.headers["content-type"] == f"{media}; charset=utf-8"
    assert refused.status_code == (200 if media == JSON else 400)
    assert negotiate(accept, (GRAPHQL_RESPONSE, JSON), JSON) == media


@pytest.mark.parametrize("accept", NOT_ACCEPTABLE)
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_an_accept_naming_nothing_served_is_406_before_anything_runs(
    http: httpx.AsyncClient, accept: str, method: str
) -> None:
    case = CASES[0] if method == "POST" else next(c for c in CASES if c.name == "a GET query")
    response = await send(http, case, accept)

    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert response.headers["content-type"] == "application/json; charset=utf-8"


async def test_the_explorer_answers_a_browsers_get_in_development_only(
    schema: GraphQLSchema,
) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    answers = {}
    for debug, production in ((True, False), (True, True)):
        api = create_graphql_app(services(), schema=schema, debug=debug, production=production)
        transport = httpx.ASGITransport(app=create_app(api))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answers[debug and not production] = (
                await http.get("/graphql", headers={"Accept": browser}),
                await http.get("/graphql", headers={"Accept": "text/html"}),
                await http.get("/graphql", headers={"Accept": JSON}),
                await http.get("/graphql?query={ok}", headers={"Accept": browser}),
            )

    page, html_only, json_only, query = answers[True]
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert "graphiql" in page.text.lower()
    assert page.headers["content-security-policy"]
    assert html_only.status_code == 200
    assert json_only.status_code == 400  # a GraphQL client without a query
    assert query.json() == {"data": {"ok": "fine"}}  # a query in the URL is run
    page, html_only, json_only, query = answers[False]
    assert (page.status_code, html_only.status_code, json_only.status_code) == (400, 406, 400)
    assert query.json() == {"data": {"ok": "fine"}}


async def test_the_first_errors_code_and_the_operation_reach_the_access_log(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="kingdom.access"):
        await http.get("/graphql", params={"query": "query Read { ok }"})
        await http.post("/graphql", json={"query": "mutation Write { write }"})
        await http.get("/graphql", params={"query": "mutation Sneak { write }"})

    lines = [r.fields for r in caplog.records if r.name == "kingdom.access"]  # type: ignore[attr-defined]
    assert [
        (line["method"], line["status"], line["operation"], line["operation_type"])
        for line in lines
    ] == [
        ("GET", 200, "Read", "query"),
        ("POST", 200, "Write", "mutation"),
        ("GET", 405, "Sneak", "mutation"),
    ]
