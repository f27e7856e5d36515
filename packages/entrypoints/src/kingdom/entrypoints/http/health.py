"""Health probes for load balancers and orchestrators."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request

from kingdom.entrypoints.http.responses import OrjsonResponse

logger = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


async def live(request: Request) -> OrjsonResponse:
    """The process is up and serving HTTP; says nothing about dependencies."""
    return OrjsonResponse({"status": "ok"})


def ready(check: ReadinessCheck) -> Callable[[Request], Awaitable[OrjsonResponse]]:
    """The process can serve requests: ``check`` (the database) answered."""

    async def endpoint(request: Request) -> OrjsonResponse:
        try:
            await check()
        except Exception:
            logger.warning("readiness check failed", exc_info=True)
            return OrjsonResponse({"status": "unavailable"}, status_code=503)
        return OrjsonResponse({"status": "ok"})

    return endpoint
