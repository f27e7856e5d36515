"""The GraphQL ASGI app: one operation per POST, JSON in and out.

Before anything executes, the request must be one JSON object holding a
GraphQL operation (batches are refused), and its credentials must be valid:
a bad body is a 400, a bad or refused token a 401, each with a GraphQL-shaped
error and a code. Every response carries the request's ``X-Request-ID``,
which is also in the log line of any internal error.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLHTTPHandler
from ariadne.explorer import ExplorerGraphiQL, ExplorerHttp405
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql.context import ContextFactory, GraphQLServices, request_id
from kingdom.entrypoints.graphql.errors import (
    BAD_REQUEST,
    INTERNAL_MESSAGE,
    INTERNAL_SERVER_ERROR,
    UNAUTHENTICATED,
    ErrorLog,
    QuietAriadneLogger,
    error_body,
    format_error,
)
from kingdom.entrypoints.graphql.schema import build_schema

logger = logging.getLogger("kingdom.entrypoints.graphql")

MAX_BODY_BYTES = 1024 * 1024
"""A query and its variables are small; anything bigger is refused unread."""


def create_graphql_app(
    services: GraphQLServices, *, debug: bool, introspection: bool = True
) -> GraphQL:
    """The GraphQL API over ``services``, as an ASGI app to mount at ``/graphql``.

    ``debug`` serves the GraphiQL explorer on GET (otherwise GET is a 405);
    error responses are the same either way. ``introspection=False`` refuses
    schema introspection queries.
    """
    return GraphQL(
        build_schema(),
        context_value=ContextFactory(services),
        debug=debug,
        introspection=introspection,
        explorer=ExplorerGraphiQL() if debug else ExplorerHttp405(),
        error_formatter=format_error,
        logger=QuietAriadneLogger(),
        http_handler=OperationHandler(extensions=[ErrorLog]),
    )


class BadRequest(Exception):
    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class OperationHandler(GraphQLHTTPHandler):
    """ariadne's HTTP handler, stricter about what it accepts and who is asking."""

    async def graphql_http_server(self, request: Request) -> Response:
        rid = request_id(request)
        try:
            data = await read_operation(request)
        except BadRequest as error:
            return _refusal(error.status, error.message, BAD_REQUEST, rid)
        try:
            context = await self.get_context_for_request(request, data)
        except Unauthenticated as error:
            return _refusal(
                HTTPStatus.UNAUTHORIZED,
                error.message,
                UNAUTHENTICATED,
                rid,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        except Exception:
            logger.exception("request %s: could not authenticate the caller", rid)
            return _refusal(
                HTTPStatus.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, INTERNAL_SERVER_ERROR, rid
            )
        success, result = await self.execute_graphql_query(request, data, context_value=context)
        response = await self.create_json_response(request, result, success)
        response.headers["X-Request-ID"] = rid
        return response

    async def create_json_response(
        self, request: Request, result: dict[str, Any], success: bool
    ) -> Response:
        """200 once the operation ran, whatever its field errors; 400 if it could not run.

        ariadne answers 400 whenever ``data`` ends up null, which happens when
        an error in a non-null field propagates to the root: then a forbidden
        read or an internal failure would look like a malformed request.
        Field errors have a ``path``; errors of parsing, validation and
        variables do not.
        """
        errors = result.get("errors") or ()
        ran = success or result.get("data") is not None or any("path" in e for e in errors)
        return JSONResponse(result, status_code=HTTPStatus.OK if ran else HTTPStatus.BAD_REQUEST)


async def read_operation(request: Request) -> dict[str, Any]:
    """The request's single GraphQL operation, or :class:`BadRequest`.

    Only the shape is checked here (a JSON object with a string ``query``, an
    object or null ``variables``, a string or null ``operationName``); the
    operation itself is GraphQL's to validate.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(
            "send the operation as application/json", HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest("the request body is too large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest("the request body is not valid JSON") from None
    if isinstance(data, list):
        raise BadRequest("batched operations are not supported: send one operation per request")
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object with a 'query'")
    if not isinstance(data.get("query"), str) or not data["query"].strip():
        raise BadRequest("'query' must be a non-empty string")
    if data.get("variables") is not None and not isinstance(data["variables"], dict):
        raise BadRequest("'variables' must be an object or null")
    if data.get("operationName") is not None and not isinstance(data["operationName"], str):
        raise BadRequest("'operationName' must be a string or null")
    return data


def _refusal(
    status: HTTPStatus,
    message: str,
    code: str,
    rid: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(message, code, rid),
        status_code=status,
        headers={"X-Request-ID": rid, **(headers or {})},
    )
