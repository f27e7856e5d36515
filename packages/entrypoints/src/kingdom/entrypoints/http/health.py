"""Health probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


async def live(request: Request) -> JSONResponse:
    """The process is up and serving HTTP; says nothing about dependencies."""
    return JSONResponse({"status": "ok"})


def ready(check: ReadinessCheck) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The process can serve requests: ``check`` (the database) answered."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            await check()
        except Exception:
            logger.warning("readiness check failed", exc_info=True)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return endpoint
