"""Builds the ASGI application: the access log, CORS, and the front door.

Layers, outermost first (each request passes them in this order):

1. :class:`~.access_log.AccessLog`: request id, trace, one access line, the
   metrics, and a JSON 500 for anything that crashes;
2. Starlette's ``CORSMiddleware``, when origins are configured;
3. :class:`~.front_door.FrontDoor`: ``/graphql`` to the GraphQL endpoint
   (:mod:`kingdom.entrypoints.graphql.endpoint`), everything else to a
   Starlette router (health, JWKS, metrics, the explorer, the lifespan).

The router is Starlette's own, without the ``Starlette`` class around it:
that class would only add error and exception middleware, and the access
log already answers a crash (with the request id, which Starlette's 500
would not carry); no route raises ``HTTPException``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Lifespan

from kingdom.entrypoints.http import health, jwks
from kingdom.entrypoints.http.access_log import HEADER, AccessLog, AccessSink, log_record
from kingdom.entrypoints.http.explorer import explorer_routes
from kingdom.entrypoints.http.front_door import GRAPHQL_PATH, FrontDoor
from kingdom.entrypoints.http.metrics import PATH as METRICS_PATH
from kingdom.entrypoints.http.metrics import MetricsEndpoint

__all__ = ["GRAPHQL_PATH", "create_app"]


def create_app(
    graphql: ASGIApp | None = None,
    ready: health.ReadinessCheck | None = None,
    *,
    public_keys: Mapping[str, Any] | None = None,
    cors_origins: Sequence[str] = (),
    access_sink: AccessSink = log_record,
    explorer: bool = False,
    metrics: MetricsEndpoint | None = None,
    lifespan: Lifespan[Any] | None = None,
) -> AccessLog:
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
    it answers every method at ``/graphql`` itself.

    ``explorer`` (development only) serves the GraphiQL explorer to a
    browser's ``GET /graphql`` and its files under ``/graphql/explorer/``,
    all from the server itself (:mod:`.explorer`).

    ``metrics`` serves ``GET /metrics`` (:mod:`.metrics`, to the addresses it
    allows) and has the access log count and time every request; without it
    that path answers 404 and nothing is recorded.

    ``lifespan`` runs around the app's life (the ASGI lifespan protocol);
    what it yields is the state every request's scope starts with.
    """
    routes: list[BaseRoute] = [Route("/health/live", health.live, methods=["GET"])]
    if ready is not None:
        routes.append(Route("/health/ready", health.ready(ready), methods=["GET"]))
    if graphql is not None and explorer:
        routes.extend(explorer_routes(GRAPHQL_PATH))
    if public_keys is not None:
        routes.append(Route(jwks.PATH, jwks.jwks_endpoint(public_keys), methods=["GET"]))
    if metrics is not None:
        routes.append(Route(METRICS_PATH, metrics.scrape, methods=["GET"]))
    app: ASGIApp = FrontDoor(graphql, Router(routes=routes, lifespan=lifespan), explorer=explorer)
    if cors_origins:
        # Bearer tokens travel in a header, not cookies: no credentials mode.
        app = CORSMiddleware(
            app,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", HEADER],
            expose_headers=[HEADER],
        )
    observe = metrics.requests.observe if metrics is not None else None
    return AccessLog(app, sink=access_sink, observe=observe)
