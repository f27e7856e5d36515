"""Builds the ASGI application."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kingdom.entrypoints.http import health, jwks
from kingdom.entrypoints.http.access_log import HEADER, AccessLog, AccessSink, log_record
from kingdom.entrypoints.http.explorer import explorer_routes
from kingdom.entrypoints.http.metrics import PATH as METRICS_PATH
from kingdom.entrypoints.http.metrics import MetricsEndpoint

GRAPHQL_PATH = "/graphql"


def create_app(
    graphql: ASGIApp | None = None,
    ready: health.ReadinessCheck | None = None,
    *,
    public_keys: Mapping[str, Any] | None = None,
    cors_origins: Sequence[str] = (),
    access_sink: AccessSink = log_record,
    explorer: bool = False,
    metrics: MetricsEndpoint | None = None,
) -> Starlette:
    """The HTTP surface: health probes, and the GraphQL API at ``/graphql`` if given.

    ``ready`` backs ``/health/ready`` (typically a database round trip).

    ``public_keys`` is the JWKS served at ``/.well-known/jwks.json``; without
    it (HS256 keys only) that path answers 404.

    ``cors_origins`` may call the API from a browser. Every response, those
    of the CORS middleware included, carries an ``X-Request-ID`` and gets one
    access log line (:mod:`.access_log`, the outermost layer), handed to
    ``access_sink``: a ``logging`` record by default, the server writes the
    line straight to stderr (:func:`.access_log.stderr_sink`).

    ``graphql`` is typically ``kingdom.entrypoints.graphql.create_graphql_app(...)``;
    it answers POST (and GET with the explorer when built with ``debug``) itself.

    ``explorer`` (development only) serves the GraphiQL explorer on
    ``GET /graphql`` and its files under ``/graphql/explorer/``, all from
    the server itself (:mod:`.explorer`).

    ``metrics`` serves ``GET /metrics`` (:mod:`.metrics`, to the addresses it
    allows) and has the access log count and time every request; without it
    that path answers 404 and nothing is recorded.
    """
    routes: list[BaseRoute] = [Route("/health/live", health.live, methods=["GET"])]
    if ready is not None:
        routes.append(Route("/health/ready", health.ready(ready), methods=["GET"]))
    if graphql is not None:
        if explorer:
            # Ahead of the API's route, which answers every method itself.
            routes.extend(explorer_routes(GRAPHQL_PATH))
        # A Route, not a Mount: "/graphql" itself, without a redirect to "/graphql/".
        routes.append(Route(GRAPHQL_PATH, graphql))
    if public_keys is not None:
        routes.append(Route(jwks.PATH, jwks.jwks_endpoint(public_keys), methods=["GET"]))
    if metrics is not None:
        routes.append(Route(METRICS_PATH, metrics.scrape, methods=["GET"]))
    cors: list[Middleware] = []
    if cors_origins:
        # Bearer tokens travel in a header, not cookies: no credentials mode.
        cors.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", HEADER],
                expose_headers=[HEADER],
            )
        )
    observe = metrics.requests.observe if metrics is not None else None
    middleware = [Middleware(AccessLog, sink=access_sink, observe=observe), *cors]
    app = HttpApp(routes=routes, middleware=middleware)
    if graphql is not None:
        # The same layers the router path would run, minus the router.
        app.graphql_post = _wrap(graphql, middleware)
    return app


class HttpApp(Starlette):
    """Starlette, with ``POST /graphql`` (nearly every request) taken straight to its app.

    Such a request goes through the same app middleware (the access log, and
    CORS when configured) but not through Starlette's error and exception
    middleware or its router, which would only find the same ``/graphql``
    route again: the access log already answers a crash with a 500, and the
    GraphQL app raises no HTTP exceptions. That saves a tenth of the server
    time of a small query. Everything else (other paths and methods, the
    lifespan) takes the ordinary way.
    """

    graphql_post: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.graphql_post is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == GRAPHQL_PATH
            # Behind a root path the router's matching rules apply.
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await self.graphql_post(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _wrap(app: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """``app`` inside ``middleware``, the first outermost (as Starlette builds its stack)."""
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
    return app
