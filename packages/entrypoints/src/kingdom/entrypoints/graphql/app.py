"""The GraphQL ASGI app: one operation per POST, JSON in and out.

Before anything executes, the request must be one JSON object holding a
GraphQL operation (batches are refused), the document must be valid and
within the query limits (parsed and validated once per distinct text, see
:mod:`.documents`), and the credentials must be valid: a bad body is a 400
(413 when too large), a refused document a 400, a bad or refused token a
401, each with a GraphQL-shaped error and a code. Every response carries the
request's ``X-Request-ID`` (set by the HTTP layer's access log middleware),
which is also in the log line of any internal error and in its response.

A query runs under a deadline (:data:`DEFAULT_DEADLINE`): past it, its
resolvers are cancelled and the answer is a 504 ``DEADLINE_EXCEEDED``.
Mutations are not cut off midway, since a write stopped between its
statements would leave the client unsure whether it happened; they are
bounded by the alias limit and by their own handlers.

Production mode refuses introspection, serves no explorer, and strips
"Did you mean ...?" hints from error messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from http import HTTPStatus
from inspect import isawaitable
from typing import Any

import orjson
from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLHTTPHandler
from ariadne.explorer import ExplorerHttp405
from ariadne.types import GraphQLResult
from graphql import Executor, GraphQLError, GraphQLSchema, execute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql.context import ContextFactory, GraphQLServices, request_id
from kingdom.entrypoints.graphql.documents import DocumentPreparer, Operation, PreparedDocument
from kingdom.entrypoints.graphql.errors import (
    BAD_REQUEST,
    BAD_USER_INPUT,
    DEADLINE_EXCEEDED,
    INTERNAL_MESSAGE,
    INTERNAL_SERVER_ERROR,
    OUTAGE_MESSAGES,
    UNAUTHENTICATED,
    QuietAriadneLogger,
    RequestErrors,
    code_for_exception,
    error_body,
    format_error,
)
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.graphql.schema import build_schema
from kingdom.entrypoints.http.access_log import note_error, note_operation, note_user
from kingdom.entrypoints.http.explorer import ExplorerPage
from kingdom.entrypoints.http.responses import OrjsonResponse
from kingdom.services.outages import Outage

logger = logging.getLogger("kingdom.entrypoints.graphql")

MAX_BODY_BYTES = 1024 * 1024
"""A query and its variables are small; anything bigger is refused unread."""
DEFAULT_DEADLINE = 5.0
"""Seconds a query may run (``KINGDOM_QUERY_DEADLINE_MS``)."""


def create_graphql_app(
    services: GraphQLServices,
    *,
    debug: bool = False,
    production: bool = False,
    limits: QueryLimits | None = None,
    deadline: float = DEFAULT_DEADLINE,
    schema: GraphQLSchema | None = None,
) -> GraphQL:
    """The GraphQL API over ``services``, as an ASGI app to mount at ``/graphql``.

    ``debug`` serves the GraphiQL explorer on GET (otherwise GET is a 405).
    ``production`` refuses introspection, hides suggestions and never serves
    the explorer. Error responses are otherwise the same either way.
    ``deadline`` is how many seconds a query may run.
    ``schema`` replaces the built one (tests bind their own resolvers).
    Everything that does not depend on the request (schema, rules, cost map,
    document cache) is built here, once.
    """
    schema = schema if schema is not None else build_schema()
    documents = DocumentPreparer(
        schema,
        limits or QueryLimits(),
        introspection=not production,
        hide_suggestions=production,
    )
    explorer = debug and not production
    return GraphQL(
        schema,
        context_value=ContextFactory(services),
        introspection=not production,  # ariadne's switch for the explorer on GET
        explorer=ExplorerPage() if explorer else ExplorerHttp405(),
        error_formatter=format_error,
        logger=QuietAriadneLogger(),
        http_handler=OperationHandler(documents, hide_suggestions=production, deadline=deadline),
    )


class GraphQLResponse(OrjsonResponse):
    """Every answer of :class:`OperationHandler`: JSON that notes its first error's code.

    The code (``extensions.code``) is the request's outcome in the metrics
    (:func:`~kingdom.entrypoints.http.access_log.note_error`); taken here,
    from the body before it is serialized, so no error path can miss it.
    """

    error_code: str | None = None

    def render(self, content: Any) -> bytes:
        errors = content.get("errors")
        if errors:
            self.error_code = (errors[0].get("extensions") or {}).get("code")
        return super().render(content)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        if self.error_code is not None:
            note_error(scope, self.error_code)
        return super().__call__(scope, receive, send)


class BadRequest(Exception):
    def __init__(
        self,
        message: str,
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        code: str = BAD_REQUEST,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class OperationHandler(GraphQLHTTPHandler):
    """ariadne's HTTP handler, stricter about what it accepts and who is asking.

    It validates with its own :class:`DocumentPreparer` (cached, with the
    query limits) and executes the validated document itself, so nothing
    parses or validates it again.
    """

    def __init__(
        self,
        documents: DocumentPreparer,
        *,
        hide_suggestions: bool = False,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        super().__init__()
        self.documents = documents
        self.hide_suggestions = hide_suggestions
        self.deadline = deadline
        # One thread: new documents wait their turn there, not on the event loop.
        self._preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-prepare")

    async def graphql_http_server(self, request: Request) -> Response:
        rid = request_id(request)
        try:
            data = await read_operation(request)
        except BadRequest as error:
            return _refusal(error.status, error.message, error.code, rid)
        prepared = await self.prepared(data["query"])
        operation = prepared.operation(data.get("operationName"))
        if operation is not None:
            note_operation(request, operation.name, operation.type)
        errors = RequestErrors(rid, hide_suggestions=self.hide_suggestions)
        refused = prepared.errors or self.documents.variable_errors(
            prepared, data.get("variables"), data.get("operationName")
        )
        if refused:
            # Nothing runs for a refused document, not even authentication.
            return await self.create_json_response(
                request, {"errors": [errors(error) for error in refused]}, False
            )
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
        except Outage as error:
            logger.warning("request %s: could not authenticate the caller: %s", rid, error)
            return _outage(error, rid)
        except Exception:
            logger.exception("request %s: could not authenticate the caller", rid)
            return _refusal(
                HTTPStatus.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, INTERNAL_SERVER_ERROR, rid
            )
        actor = getattr(context, "actor", None)
        if actor is not None and not actor.is_anonymous:
            note_user(request, actor.user_id)
        # Only queries are cut off (see the module docs); None waits for ever.
        deadline = self.deadline if operation is not None and operation.type == "query" else None
        try:
            async with asyncio.timeout(deadline), snapshot_for(context, operation):
                success, result = await self.execute_prepared(data, prepared, context, errors)
        except Outage as error:  # the snapshot could not be opened: nothing ran
            logger.warning("request %s: could not open a read snapshot: %s", rid, error)
            return _outage(error, rid)
        except TimeoutError:
            logger.warning("request %s: the query ran past its deadline and was stopped", rid)
            body = error_body(
                f"The query took longer than {self.deadline:g} s and was stopped:"
                " ask for less (smaller pages, fewer nested lists).",
                DEADLINE_EXCEEDED,
                rid,
            )
            body["errors"][0]["extensions"]["limit"] = round(self.deadline * 1000)
            return GraphQLResponse(body, status_code=HTTPStatus.GATEWAY_TIMEOUT)
        if errors.outage is not None:
            # Part of it could not be read or written: say when to ask again.
            return GraphQLResponse(
                result,
                status_code=HTTPStatus.SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(errors.outage.retry_after_seconds)},
            )
        return await self.create_json_response(request, result, success)

    async def prepared(self, query: str) -> PreparedDocument:
        """``query`` from the document cache, or prepared on the preparing thread.

        A text never seen costs milliseconds of pure Python (up to ~20 ms at
        the token limit). On the event loop, a few clients sending new texts
        would hold every other request (and ``/health/live``) behind them; on
        a thread, the loop gets the interpreter back every few milliseconds
        (``sys.getswitchinterval()``) and keeps answering. The caches are
        used on the loop only.
        """
        prepared = self.documents.cached(query)
        if prepared is None:
            loop = asyncio.get_running_loop()
            prepared = await loop.run_in_executor(
                self._preparing, self.documents.prepare_uncached, query
            )
            self.documents.remember(query, prepared)
        return prepared

    async def execute_prepared(
        self,
        data: Mapping[str, Any],
        prepared: PreparedDocument,
        context: Any,
        errors: RequestErrors,
    ) -> GraphQLResult:
        """Run a valid document with graphql-core's ``execute``, as ariadne's ``graphql()`` would.

        ariadne's wrapper would only check the body's shape again
        (:func:`read_operation` did), skip parsing and validation (the
        preparer did them), find no extensions, middleware or root value
        (this app configures none) and refuse subscriptions (the schema has
        none); going straight to ``execute`` saves its overhead on every
        request. Errors are formatted (and logged) by ``errors`` as before.
        """
        assert self.schema is not None, "configured by the GraphQL app"
        assert prepared.document is not None, "only valid documents are executed"
        try:
            result = execute(
                self.schema,
                prepared.document,
                context_value=context,
                variable_values=data.get("variables"),
                operation_name=data.get("operationName"),
                # No hints in variable errors either.
                hide_suggestions=self.hide_suggestions,
                # The plain executor: the default one sets up for @defer and
                # @stream, which this schema does not define (validation
                # refuses them), at a cost on every request.
                executor_class=Executor,
            )
            if isawaitable(result):
                result = await result
        except GraphQLError as error:
            return False, {"errors": [errors(error)]}
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [errors(error) for error in result.errors]
        return result.data is not None, response

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
        return GraphQLResponse(result, status_code=HTTPStatus.OK if ran else HTTPStatus.BAD_REQUEST)


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
    if len(request.headers.getlist("authorization")) > 1:
        # Which one counts would depend on who reads the headers (proxy, server).
        raise BadRequest("send at most one Authorization header")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest("the request body is too large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BadRequest("the request body is too large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    try:
        data = orjson.loads(body)
    # Also invalid UTF-8 and nesting past orjson's limit. Integers beyond 64
    # bits come back as floats, which every Int and Amount input refuses.
    except orjson.JSONDecodeError:
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
    if data.get("variables") and _holds_nul(data["variables"]):
        # PostgreSQL cannot store NUL in text: the client's error on every
        # backend rather than a failing statement (literals: NoNulCharacters).
        raise BadRequest("text cannot contain NUL characters", code=BAD_USER_INPUT)
    return data


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def snapshot_for(context: Any, operation: Operation | None) -> AbstractAsyncContextManager[None]:
    """One read snapshot for a query with several root fields, so they agree with each other.

    A single root field reads as before (each statement its own snapshot):
    no transaction, no connection held for the whole operation.
    """
    services = getattr(context, "services", None)
    read_snapshot = getattr(services, "read_snapshot", None)
    if (
        read_snapshot is None
        or operation is None
        or operation.type != "query"
        or operation.root_fields < 2
    ):
        return nullcontext()
    snapshot: AbstractAsyncContextManager[None] = read_snapshot()
    return snapshot


def _outage(error: Outage, rid: str) -> Response:
    """503: the database is out of reach (or went while committing); try again later."""
    code = code_for_exception(error)
    body = error_body(OUTAGE_MESSAGES[code], code, rid)
    body["errors"][0]["extensions"]["retryAfter"] = error.retry_after_seconds
    return GraphQLResponse(
        body,
        status_code=HTTPStatus.SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(error.retry_after_seconds)},
    )


def _refusal(
    status: HTTPStatus,
    message: str,
    code: str,
    rid: str,
    headers: dict[str, str] | None = None,
) -> Response:
    return GraphQLResponse(error_body(message, code, rid), status_code=status, headers=headers)
