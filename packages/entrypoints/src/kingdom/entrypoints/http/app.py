"""Builds the ASGI application."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from kingdom.entrypoints.http import health


def create_app(
    graphql: ASGIApp | None = None, ready: health.ReadinessCheck | None = None
) -> Starlette:
    """The HTTP surface: health probes, and the GraphQL API at ``/graphql`` if given.

    ``ready`` backs ``/health/ready`` (typically a database round trip).

    ``graphql`` is typically ``kingdom.entrypoints.graphql.create_graphql_app(...)``;
    it answers POST (and GET with the explorer when built with ``debug``) itself.
    """
    routes: list[BaseRoute] = [Route("/health/live", health.live, methods=["GET"])]
    if ready is not None:
        routes.append(Route("/health/ready", health.ready(ready), methods=["GET"]))
    if graphql is not None:
        # A Route, not a Mount: "/graphql" itself, without a redirect to "/graphql/".
        routes.append(Route("/graphql", graphql))
    return Starlette(routes=routes)
