"""Builds the ASGI application."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from kingdom.entrypoints.http import health, jwks
from kingdom.entrypoints.http.access_log import HEADER, AccessLog


def create_app(
    graphql: ASGIApp | None = None,
    ready: health.ReadinessCheck | None = None,
    *,
    public_keys: Mapping[str, Any] | None = None,
    cors_origins: Sequence[str] = (),
) -> Starlette:
    """The HTTP surface: health probes, and the GraphQL API at ``/graphql`` if given.

    ``ready`` backs ``/health/ready`` (typically a database round trip).

    ``public_keys`` is the JWKS served at ``/.well-known/jwks.json``; without
    it (HS256 keys only) that path answers 404.

    ``cors_origins`` may call the API from a browser. Every response, those
    of the CORS middleware included, carries an ``X-Request-ID`` and gets one
    access log line (:mod:`.access_log`, the outermost layer).

    ``graphql`` is typically ``kingdom.entrypoints.graphql.create_graphql_app(...)``;
    it answers POST (and GET with the explorer when built with ``debug``) itself.
    """
    routes: list[BaseRoute] = [Route("/health/live", health.live, methods=["GET"])]
    if ready is not None:
        routes.append(Route("/health/ready", health.ready(ready), methods=["GET"]))
    if graphql is not None:
        # A Route, not a Mount: "/graphql" itself, without a redirect to "/graphql/".
        routes.append(Route("/graphql", graphql))
    if public_keys is not None:
        routes.append(Route(jwks.PATH, jwks.jwks_endpoint(public_keys), methods=["GET"]))
    middleware = [Middleware(AccessLog)]
    if cors_origins:
        # Bearer tokens travel in a header, not cookies: no credentials mode.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", HEADER],
                expose_headers=[HEADER],
            )
        )
    return Starlette(routes=routes, middleware=middleware)
