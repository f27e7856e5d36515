"""Builds the ASGI application."""

from starlette.applications import Starlette
from starlette.routing import Route

from kingdom.entrypoints.http import health


def create_app() -> Starlette:
    return Starlette(
        routes=[Route("/health/live", health.live, methods=["GET"])],
    )
