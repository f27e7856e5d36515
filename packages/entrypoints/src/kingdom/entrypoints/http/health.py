"""Health probes for load balancers and orchestrators."""

from starlette.requests import Request
from starlette.responses import JSONResponse


async def live(request: Request) -> JSONResponse:
    """The process is up and serving HTTP; says nothing about dependencies."""
    return JSONResponse({"status": "ok"})
