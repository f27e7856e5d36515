"""Request ids and the access log: one id and one structured log line per HTTP request.

:class:`AccessLog` is the outermost middleware. It gives every request an
id (the client's or proxy's ``X-Request-ID`` when well-formed, else a new
one), returns it in the ``X-Request-ID`` header of every response (GraphQL,
health, JWKS, 404, 405, 413, a crash's 500), and logs one line on
``kingdom.access`` when the response is done::

    {"message": "POST /graphql 200", "request_id": "...", "method": "POST",
     "path": "/graphql", "status": 200, "duration_ms": 3.1,
     "operation": "Viewer", "operation_type": "query", "user_id": "..."}

The fields are on the record as ``record.fields``; the JSON formatter of
:mod:`kingdom.entrypoints.log_format` writes them out. The path is logged
without its query string (which may carry secrets), and never the body.

Inner layers tell it about the request through the ASGI scope's ``state``
(what Starlette shows as ``request.state``): :func:`note_operation` and
:func:`note_user`, called by the GraphQL handler.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Final

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kingdom.entrypoints.http.responses import OrjsonResponse

access_logger = logging.getLogger("kingdom.access")
logger = logging.getLogger("kingdom.entrypoints.http")

HEADER: Final = "X-Request-ID"
_HEADER_KEY: Final = b"x-request-id"
_WELL_FORMED: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")
"""Ids we pass on: short, and safe in a header, a log line or a URL."""

# Keys in scope["state"]. "request_id" is also what graphql.context.request_id reads.
REQUEST_ID: Final = "request_id"
OPERATION: Final = "access_operation"
OPERATION_TYPE: Final = "access_operation_type"
USER_ID: Final = "access_user_id"


def note_operation(connection: HTTPConnection, name: str | None, type_: str | None) -> None:
    """Record the GraphQL operation the request ran, for its access log line."""
    connection.state.access_operation = name
    connection.state.access_operation_type = type_


def note_user(connection: HTTPConnection, user_id: str | None) -> None:
    """Record the authenticated caller, for its access log line."""
    connection.state.access_user_id = user_id


def choose_request_id(offered: bytes | None) -> str:
    """``offered`` if it is a sane id, else a new random one."""
    if offered is not None and _WELL_FORMED.fullmatch(offered):
        return offered.decode("ascii")
    return uuid.uuid4().hex


class AccessLog:
    """ASGI middleware: request id header and one access log line per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = next((value for key, value in scope["headers"] if key == _HEADER_KEY), None)
        request_id = choose_request_id(offered)
        state: dict[str, Any] = scope.setdefault("state", {})
        state[REQUEST_ID] = request_id
        id_header = (_HEADER_KEY, request_id.encode("ascii"))
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (key, value)
                    for key, value in message.get("headers", ())
                    if key.lower() != _HEADER_KEY
                ]
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("request %s: unhandled error", request_id)
            if status is not None:
                raise  # the response has begun: all the server can do is drop it
            # Answer here rather than let Starlette's error middleware do it,
            # so that this 500 too carries the id and gets its log line.
            response = OrjsonResponse(
                {
                    "errors": [
                        {
                            "message": "Internal server error",
                            "extensions": {
                                "code": "INTERNAL_SERVER_ERROR",
                                "requestId": request_id,
                            },
                        }
                    ]
                },
                status_code=500,
            )
            await response(scope, receive, send_with_id)
        finally:
            _log(scope, state, request_id, status, started)


def _log(
    scope: Scope, state: dict[str, Any], request_id: str, status: int | None, started: float
) -> None:
    if not access_logger.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    method, path = scope["method"], scope["path"]
    access_logger.info(
        "%s %s %s",
        method,
        path,
        status if status is not None else "-",
        extra={
            "fields": {
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "operation": state.get(OPERATION),
                "operation_type": state.get(OPERATION_TYPE),
                "user_id": state.get(USER_ID),
            }
        },
    )
