"""The front door: ``/graphql`` to the GraphQL endpoint, everything else to Starlette's router.

Nearly every request is for the API, and the API is one path: one string
comparison sends it on, without routing tables, path parameters or
per-request objects. The rest (health, JWKS, metrics, the explorer's page
and files, 404s and the lifespan) is Starlette's job, through its router.

With the explorer on (development), a browser's ``GET /graphql`` (no
``query`` parameter, an ``Accept`` that takes HTML) goes to the router too,
which serves the page; a GET that carries a query is the API's.

Paths are compared the way Starlette's router compares them: without the
``root_path`` the app is served under, if any.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from kingdom.entrypoints.graphql.params import has_query
from kingdom.entrypoints.http.media_types import HTML, Negotiator

GRAPHQL_PATH: Final = "/graphql"


class FrontDoor:
    """An ASGI app sending ``/graphql`` to ``graphql`` and the rest to ``rest``."""

    __slots__ = ("graphql", "rest", "explorer", "_wants_html")

    def __init__(self, graphql: ASGIApp | None, rest: ASGIApp, *, explorer: bool = False) -> None:
        self.graphql = graphql
        self.rest = rest
        self.explorer = explorer
        self._wants_html = Negotiator((HTML,), default=HTML)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.graphql is not None
            and scope["type"] == "http"
            and route_path(scope) == GRAPHQL_PATH
            and not (self.explorer and self._for_the_explorer(scope))
        ):
            await self.graphql(scope, receive, send)
        else:
            await self.rest(scope, receive, send)

    def _for_the_explorer(self, scope: Scope) -> bool:
        if scope["method"] not in ("GET", "HEAD"):
            return False
        query_string: bytes = scope["query_string"]
        if has_query(query_string):
            return False
        accept = None
        for key, value in scope["headers"]:
            if key == b"accept":
                accept = value if accept is None else accept + b"," + value
        return self._wants_html(accept) is not None


def route_path(scope: Scope) -> str:
    """The path below the app's ``root_path``, as Starlette's router matches it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path
