"""The front door: ``/graphql`` to the API, everything else (and the lifespan) to the router."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router
from starlette.types import Message, Receive, Scope, Send

from kingdom.entrypoints.http.front_door import FrontDoor, route_path


class Recorder:
    """An ASGI app that notes which paths reached it and answers its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await PlainTextResponse(self.name)(scope, receive, send)


def http_scope(path: str, method: str = "GET", root_path: str = "", **extra: Any) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "query_string": extra.pop("query_string", b""),
        "headers": extra.pop("headers", []),
        **extra,
    }


async def answer(app: Any, scope: Scope) -> int:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.parametrize(
    ("path", "root_path", "routed"),
    [
        ("/graphql", "", "/graphql"),
        ("/api/graphql", "/api", "/graphql"),  # served under a root path
        ("/api", "/api", ""),
        ("/apigraphql", "/api", "/apigraphql"),  # not below the root path
        ("/graphql", "/api", "/graphql"),
    ],
)
def test_paths_are_compared_as_starlettes_router_compares_them(
    path: str, root_path: str, routed: str
) -> None:
    assert route_path(http_scope(path, root_path=root_path)) == routed


async def test_graphql_goes_to_the_api_and_the_rest_to_the_router() -> None:
    api, health = Recorder("api"), Recorder("health")
    door = FrontDoor(api, Router([Route("/health/live", health)]))

    statuses = [
        await answer(door, http_scope("/graphql", "POST")),
        await answer(door, http_scope("/graphql", "DELETE")),
        await answer(door, http_scope("/api/graphql", "POST", root_path="/api")),
        await answer(door, http_scope("/health/live")),
        await answer(door, http_scope("/graphql/")),
        await answer(door, http_scope("/nowhere")),
    ]

    assert statuses == [200, 200, 200, 200, 404, 404]
    assert api.paths == ["/graphql", "/graphql", "/api/graphql"]
    assert health.paths == ["/health/live"]


async def test_with_the_explorer_a_browsers_get_goes_to_the_router() -> None:
    api, page = Recorder("api"), Recorder("page")
    door = FrontDoor(api, Router([Route("/graphql", page)]), explorer=True)
    browser = [(b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8")]

    await answer(door, http_scope("/graphql", headers=browser))
    await answer(door, http_scope("/graphql", "HEAD"))
    await answer(door, http_scope("/graphql", headers=[(b"accept", b"application/json")]))
    await answer(door, http_scope("/graphql", headers=browser, query_string=b"query=%7Bok%7D"))
    await answer(door, http_scope("/graphql", "POST", headers=browser))

    assert len(page.paths) == 2  # the page, and HEAD for it
    assert len(api.paths) == 3  # a JSON client, a query in the URL, a POST


async def test_the_lifespan_reaches_the_router() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, str]]:
        events.append("started")
        yield {"ready": "yes"}
        events.append("stopped")

    door = FrontDoor(Recorder("api"), Router([], lifespan=lifespan))
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message["type"])

    state: dict[str, Any] = {}
    await door({"type": "lifespan", "state": state}, receive, send)

    assert events == ["started", "stopped"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert state == {"ready": "yes"}
