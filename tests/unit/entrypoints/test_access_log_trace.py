"""Each request is a span of a W3C trace: continued from ``traceparent`` or new, current while
it runs (as is the request's id), echoed in the response and logged."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kingdom.entrypoints.http.access_log import AccessLog, note_operation
from kingdom.services.causation import current_request_id
from kingdom.services.fakes.tracing import RecordingTracer
from kingdom.services.tracing import TRACER, current_trace_parent, parse_traceparent
from unit.entrypoints.lifespan import running_lifespan

OFFERED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Seen:
    """What the inner app saw as the current trace and request id, per request."""

    def __init__(self) -> None:
        self.trace_parents: list[str | None] = []
        self.request_ids: list[str | None] = []

    async def graphql(self, request: Request) -> Response:
        self.trace_parents.append(current_trace_parent())
        self.request_ids.append(current_request_id())
        note_operation(request, "Viewer", "query")
        return PlainTextResponse("ok")

    async def crash(self, request: Request) -> Response:
        self.trace_parents.append(current_trace_parent())
        raise RuntimeError("boom")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/graphql", self.graphql, methods=["POST"]),
                Route("/crash", self.crash),
            ],
            middleware=[Middleware(AccessLog)],
        )


def with_state(app: ASGIApp, state: dict[str, Any]) -> ASGIApp:
    """What uvicorn does with lifespan state: a copy in every request's scope."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    return asgi


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def access_fields(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "kingdom.access"]  # type: ignore[attr-defined]


async def test_an_offered_trace_is_continued_current_echoed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen = Seen()
    async with client(seen.app()) as http:
        with caplog.at_level(logging.INFO, logger="kingdom.access"):
            response = await http.post("/graphql", headers={"traceparent": OFFERED})

    (inside,) = seen.trace_parents
    assert inside is not None
    assert parse_traceparent(inside) == inside
    assert inside[3:35] == TRACE_ID  # the client's trace
    assert inside != OFFERED  # with the server's own span id
    assert response.headers.get_list("traceparent") == [inside]
    assert [f["trace_id"] for f in access_fields(caplog)] == [TRACE_ID]
    assert current_trace_parent() is None  # nothing leaks out of the request


async def test_the_request_id_is_current_while_the_request_runs() -> None:
    seen = Seen()
    async with client(seen.app()) as http:
        offered = await http.post("/graphql", headers={"X-Request-ID": "req-42"})
        chosen = await http.post("/graphql", headers={"X-Request-ID": "not an id"})

    assert seen.request_ids == ["req-42", chosen.headers["X-Request-ID"]]
    assert offered.headers["X-Request-ID"] == "req-42"
    assert current_request_id() is None  # nothing leaks out of the request


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"traceparent": "garbage"},
        {"traceparent": OFFERED.upper()},
        {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
    ],
)
async def test_without_a_valid_offer_a_new_trace_starts(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    async with client(seen.app()) as http:
        with caplog.at_level(logging.INFO, logger="kingdom.access"):
            first = await http.post("/graphql", headers=headers)
            second = await http.post("/graphql", headers=headers)

    assert [first.status_code, second.status_code] == [200, 200]
    new = [r.headers["traceparent"] for r in (first, second)]
    assert new == seen.trace_parents
    assert all(parse_traceparent(t) == t and t.endswith("-01") for t in new)
    assert new[0][3:35] != new[1][3:35] != TRACE_ID  # two requests, two traces
    assert [f["trace_id"] for f in access_fields(caplog)] == [t[3:35] for t in new]
    # The request's own id is neither of its trace's ids (even when drawn with them).
    ids = [r.headers["x-request-id"] for r in (first, second)]
    assert all(len(i) == 32 and i not in t for i, t in zip(ids, new, strict=True))


async def test_a_crash_still_answers_with_the_trace() -> None:
    seen = Seen()
    async with client(seen.app()) as http:
        response = await http.get("/crash", headers={"traceparent": OFFERED})

    assert response.status_code == 500
    assert response.headers["traceparent"] == seen.trace_parents[0]
    assert response.headers["traceparent"][3:35] == TRACE_ID


async def test_with_a_tracer_the_request_is_a_server_span_under_the_offer() -> None:
    seen, tracer = Seen(), RecordingTracer()
    async with client(with_state(seen.app(), {TRACER: tracer})) as http:
        ok = await http.post("/graphql", headers={"traceparent": OFFERED})
        crashed = await http.get("/crash")

    request, crash = tracer.spans
    assert (request.name, request.kind, request.parent) == ("POST /graphql", "server", OFFERED)
    assert ok.headers["traceparent"] == request.trace_parent == seen.trace_parents[0]
    assert request.attributes == {
        "http.request.method": "POST",
        "url.path": "/graphql",
        "http.response.status_code": 200,
        "graphql.operation.name": "Viewer",
        "graphql.operation.type": "query",
    }
    assert request.error is None
    assert request.ended
    # Other paths are named by their method alone (span names stay few); a 500 fails.
    assert (crash.name, crash.parent, crash.error) == ("GET", None, "HTTP 500")
    assert crashed.headers["traceparent"] == crash.trace_parent


async def test_the_tracer_reaches_the_middleware_as_lifespan_state() -> None:
    # As the server's composition root hands it over, and as uvicorn passes it on.
    seen, tracer = Seen(), RecordingTracer()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {TRACER: tracer}

    app = seen.app()
    app.router.lifespan_context = lifespan
    state: dict[str, Any] = {}
    async with running_lifespan(app, state), client(with_state(app, state)) as http:
        response = await http.post("/graphql")

    (span,) = tracer.spans
    assert response.headers["traceparent"] == span.trace_parent
