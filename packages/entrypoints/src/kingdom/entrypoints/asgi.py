"""The ASGI application factory uvicorn imports in each worker process.

``uvicorn.run("kingdom.entrypoints.asgi:create", factory=True, workers=N)``:
every worker reads the same ``KINGDOM_*`` settings and builds its own pool.
"""

from __future__ import annotations

import os

from starlette.types import ASGIApp

from kingdom.entrypoints.composition import asgi_app, build
from kingdom.entrypoints.settings import Settings


def create() -> ASGIApp:
    return asgi_app(build(Settings.from_environ(os.environ)))
