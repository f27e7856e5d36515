"""The GraphQL endpoint: GraphQL over HTTP on graphql-core, as a plain ASGI app.

ariadne binds the schema (:mod:`.schema`); everything between the HTTP
request and graphql-core's ``execute`` is here, on the raw ASGI scope: one
pass over the headers, the body read as it comes, orjson both ways, the
answer sent as two ASGI messages. It follows the GraphQL-over-HTTP
specification (https://graphql.github.io/graphql-over-http/draft/),
its SHOULDs included.

**Requests.** ``POST`` with an ``application/json`` body (UTF-8; anything
else, or no ``Content-Type``, is 415), one operation per request (a JSON
array is refused); ``GET`` with ``query``, ``variables`` (JSON) and
``operationName`` in the URL, for queries only: a mutation over GET is 405
with ``Allow: POST``, a GET without ``query`` is 400 (in development a
browser's GET without one gets the explorer, :mod:`..http.explorer`). Other
methods are 405 with ``Allow: GET, POST``. Both methods get the same
checks: at most one ``Authorization`` header, a body (or URL) of at most
:data:`MAX_BODY_BYTES` (413, 414), the query limits, the token.

**Media types.** The answer is ``application/graphql-response+json`` when
the ``Accept`` header prefers it, else ``application/json`` (for
``application/json``, ``*/*``, ``application/*`` or no ``Accept`` at all),
both with ``; charset=utf-8``. For a missing ``Accept`` the draft's
watershed note leans to the new type, but the media type also decides the
status of a refused document, so a client that never asked for the new
type would get 400s it does not expect: like the reference implementation
and its audit ("SHOULD assume application/json when accept is missing"),
such a client gets ``application/json``. An ``Accept`` that admits neither
type is 406, the specification's recommended choice over ignoring the
header (see :mod:`..http.media_types` for q-values and wildcards).

**Status codes.** They depend on the answer's media type only for
*request errors*, documents that cannot run although the HTTP request is
well-formed: a parse error, a validation error or query limit, an
operation that cannot be determined, a variable that does not coerce (or
holds a NUL character). Those are 200 under ``application/json`` and 400
under ``application/graphql-response+json``, with ``errors`` and no
``data``. Otherwise, for both:

- 200 once the operation ran, whatever its field errors (``data`` present);
- 400 for a request that is not a well-formed GraphQL-over-HTTP request
  (not JSON, not one object, ``query`` missing or not a string,
  ``variables``/``extensions`` not objects, ``operationName`` not a string,
  two ``Authorization`` headers), as the specification's text asks (the
  reference audit, graphql-http, still expects 200 under
  ``application/json`` here: those few audit warnings are deliberate);
  405, 406, 413, 414, 415 as above;
- 401 with ``WWW-Authenticate`` for a malformed or refused token (the
  specification asks for 401/403 when the client may not ask);
- 503 with ``Retry-After`` when the database is out of reach, for the token
  check, the read snapshot or a field, as long as nothing was produced (no
  root field has a value: ``data`` is then left out, the errors' paths
  say what failed). If other root fields did produce data, it is a 200
  with that data and ``Retry-After``: the specification requires 200 for a
  response with data, and the client must see what was done;
- 504 ``DEADLINE_EXCEEDED`` for a query still running after its deadline
  (:data:`DEFAULT_DEADLINE`): its resolvers are cancelled. Mutations are
  not cut off midway, since a write stopped between its statements would
  leave the client unsure whether it happened; they are bounded by the
  alias limit and by their own handlers.

Every error has an ``extensions.code``; errors of the request itself, and
unexpected ones, carry the request's ``X-Request-ID`` (set by the access
log, :mod:`..http.access_log`) as ``extensions.requestId``, which is also
in the log line of an internal error. The first error's code, the
operation and the caller are noted in the scope's state for the access log
and the metrics.

A document is parsed and validated once per distinct text
(:class:`~.documents.DocumentPreparer`); a text never seen is prepared on a
thread of its own, so the event loop keeps answering meanwhile. A query
runs through its compiled plan (:mod:`.plans`) when it has one, and through
graphql-core's executor otherwise or whenever the plan steps aside (an error
to report). A query with several root fields reads from one snapshot
(:func:`snapshot_for`).
Production mode refuses introspection, serves no explorer and strips
"Did you mean ...?" hints from error messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from http import HTTPStatus
from typing import Any, Final

import orjson
from graphql import (
    ExecutionResult,
    Executor,
    ExperimentalIncrementalExecutionResults,
    GraphQLError,
    GraphQLSchema,
)
from graphql.pyutils import AwaitableOrValue
from starlette.types import Receive, Scope, Send

from kingdom.domain.shared import Unauthenticated
from kingdom.entrypoints.graphql.context import ContextFactory, RequestContext, request_id
from kingdom.entrypoints.graphql.deadline import Deadline, timeout
from kingdom.entrypoints.graphql.documents import DocumentPreparer, Operation, PreparedDocument
from kingdom.entrypoints.graphql.errors import (
    BAD_USER_INPUT,
    DEADLINE_EXCEEDED,
    INTERNAL_MESSAGE,
    INTERNAL_SERVER_ERROR,
    OUTAGE_MESSAGES,
    UNAUTHENTICATED,
    RequestErrors,
    code_for_exception,
    error_body,
)
from kingdom.entrypoints.graphql.params import (
    BadRequest,
    Params,
    from_body,
    from_query_string,
    has_query,
    holds_nul,
)
from kingdom.entrypoints.graphql.plans import Unplannable
from kingdom.entrypoints.http.access_log import OPERATION, OPERATION_TYPE, USER_ID, note_error
from kingdom.entrypoints.http.explorer import ExplorerPage
from kingdom.entrypoints.http.media_types import (
    GRAPHQL_RESPONSE,
    HTML,
    JSON,
    Negotiator,
    is_json,
)
from kingdom.services.outages import Outage

logger = logging.getLogger("kingdom.entrypoints.graphql")

MAX_BODY_BYTES: Final = 1024 * 1024
"""A query and its variables are small; anything bigger is refused unread."""
DEFAULT_DEADLINE: Final = 5.0
"""Seconds a query may run (``KINGDOM_QUERY_DEADLINE_MS``)."""

Headers = Sequence[tuple[bytes, bytes]]

_CONTENT_TYPES: Final = {
    JSON: (b"content-type", b"application/json; charset=utf-8"),
    GRAPHQL_RESPONSE: (b"content-type", b"application/graphql-response+json; charset=utf-8"),
}
_REQUEST_ERROR_STATUS: Final = {JSON: HTTPStatus.OK, GRAPHQL_RESPONSE: HTTPStatus.BAD_REQUEST}
"""A document that cannot run, by the answer's media type (see the module docs)."""
_ALLOW_GET_POST: Final = ((b"allow", b"GET, POST"),)
_ALLOW_POST: Final = ((b"allow", b"POST"),)
_WWW_AUTHENTICATE: Final = ((b"www-authenticate", b'Bearer error="invalid_token"'),)
_NUL_MESSAGE: Final = "text cannot contain NUL characters"


class _Disconnected(Exception):
    """The client went away before its request body arrived: nobody to answer."""


class GraphQLEndpoint:
    """The GraphQL API as an ASGI app (see the module docs for what it answers).

    Everything that does not depend on the request (schema, document cache,
    media type answers, header values) is built once, here.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        documents: DocumentPreparer,
        context: ContextFactory,
        *,
        hide_suggestions: bool = False,
        deadline: float = DEFAULT_DEADLINE,
        explorer: ExplorerPage | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.schema = schema
        self.documents = documents
        self.context = context
        self.hide_suggestions = hide_suggestions
        self.deadline = deadline
        self.explorer = explorer
        self.max_body_bytes = max_body_bytes
        self._negotiate = Negotiator((GRAPHQL_RESPONSE, JSON), default=JSON)
        self._wants_html = Negotiator((HTML,), default=HTML)
        # One thread: new documents wait their turn there, not on the event loop.
        self._preparing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphql-prepare")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        content_type = accept = authorization = declared = None
        authorizations = 0
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"accept":
                # Several Accept fields mean what one joined by commas does.
                accept = value if accept is None else accept + b"," + value
            elif key == b"authorization":
                authorization = value
                authorizations += 1
            elif key == b"content-length":
                declared = value
        method = scope["method"]
        if (
            method == "GET"
            and self.explorer is not None
            and not has_query(scope["query_string"])
            and self._wants_html(accept) is not None
        ):
            await self.explorer(scope, receive, send)
            return
        rid = request_id(scope)
        negotiated = self._negotiate(accept)
        # Refusals are answered in the client's media type if it named one we
        # have, else in JSON.
        media = negotiated or JSON
        try:
            if method != "POST" and method != "GET":
                raise BadRequest(
                    f"{method} is not supported here: use POST (or GET for queries)",
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    headers=_ALLOW_GET_POST,
                )
            if negotiated is None:
                raise BadRequest(
                    "this endpoint answers application/graphql-response+json or"
                    " application/json: accept one of them",
                    HTTPStatus.NOT_ACCEPTABLE,
                )
            if authorizations > 1:
                # Which one counts would depend on who reads the headers (proxy, server).
                raise BadRequest("send at most one Authorization header")
            if method == "POST":
                if not is_json(content_type):
                    raise BadRequest(
                        "send the operation as application/json",
                        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    )
                params = from_body(await self._body(receive, declared))
            else:
                query_string: bytes = scope["query_string"]
                if len(query_string) > self.max_body_bytes:
                    raise BadRequest("the URL is too long", HTTPStatus.REQUEST_URI_TOO_LONG)
                params = from_query_string(query_string)
        except BadRequest as refusal:
            await self._refuse(scope, send, media, refusal, rid)
            return
        except _Disconnected:
            return
        await self._run(scope, send, media, params, authorization, rid, method == "GET")

    async def _run(
        self,
        scope: Scope,
        send: Send,
        media: str,
        params: Params,
        authorization: bytes | None,
        rid: str,
        over_get: bool,
    ) -> None:
        """Prepare, check, authenticate and execute one well-formed request, and answer it."""
        prepared = self.documents.cached(params.query)
        if prepared is None:
            prepared = await self._prepare_off_loop(params.query)
        operation = prepared.operation(params.operation_name)
        state: dict[str, Any] = scope["state"]
        if operation is not None:
            state[OPERATION] = operation.name
            state[OPERATION_TYPE] = operation.type
            if over_get and operation.type == "mutation":
                refusal = BadRequest(
                    "mutations are sent with POST (GET only runs queries)",
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    headers=_ALLOW_POST,
                )
                await self._refuse(scope, send, media, refusal, rid)
                return
        # Nothing runs for a refused document, not even authentication.
        if prepared.errors:
            await self._request_errors(scope, send, media, prepared.errors, rid)
            return
        variables = params.variables
        if variables and holds_nul(variables):
            # PostgreSQL cannot store NUL in text: the client's error on every
            # backend rather than a failing statement (literals: NoNulCharacters).
            body = error_body(_NUL_MESSAGE, BAD_USER_INPUT, rid)
            await self._answer(scope, send, _REQUEST_ERROR_STATUS[media], body, media)
            return
        too_costly = self.documents.variable_errors(prepared, variables, params.operation_name)
        if too_costly:
            await self._request_errors(scope, send, media, too_costly, rid)
            return
        try:
            context = (
                self.context.anonymous(scope, rid)
                if authorization is None
                else await self.context(scope, authorization, rid)
            )
        except Unauthenticated as error:
            refusal = BadRequest(
                error.message, HTTPStatus.UNAUTHORIZED, UNAUTHENTICATED, _WWW_AUTHENTICATE
            )
            await self._refuse(scope, send, media, refusal, rid)
            return
        except Outage as error:
            logger.warning("request %s: could not authenticate the caller: %s", rid, error)
            await self._outage(scope, send, media, error, rid)
            return
        except Exception:
            logger.exception("request %s: could not authenticate the caller", rid)
            refusal = BadRequest(
                INTERNAL_MESSAGE, HTTPStatus.INTERNAL_SERVER_ERROR, INTERNAL_SERVER_ERROR
            )
            await self._refuse(scope, send, media, refusal, rid)
            return
        actor = context.actor
        if not actor.is_anonymous:
            state[USER_ID] = actor.user_id
        try:
            result = await self._execute(prepared, params, context, operation)
        except Outage as error:  # the snapshot could not be opened: nothing ran
            logger.warning("request %s: could not open a read snapshot: %s", rid, error)
            await self._outage(scope, send, media, error, rid)
            return
        except TimeoutError:
            logger.warning("request %s: the query ran past its deadline and was stopped", rid)
            body = error_body(
                f"The query took longer than {self.deadline:g} s and was stopped:"
                " ask for less (smaller pages, fewer nested lists).",
                DEADLINE_EXCEEDED,
                rid,
            )
            body["errors"][0]["extensions"]["limit"] = round(self.deadline * 1000)
            await self._answer(scope, send, HTTPStatus.GATEWAY_TIMEOUT, body, media)
            return
        except GraphQLError as error:
            await self._request_errors(scope, send, media, (error,), rid)
            return
        data, raised = result.data, result.errors
        if not raised:
            await self._answer_data(send, {"data": data}, media)
            return
        if data is None and all(error.path is None for error in raised):
            # The operation could not start: no such operation, or its variables
            # did not coerce. Field errors always have a path.
            await self._request_errors(scope, send, media, raised, rid)
            return
        errors = RequestErrors(rid, hide_suggestions=self.hide_suggestions)
        formatted = [errors(error) for error in raised]
        outage = errors.outage
        if outage is None:
            body = {"data": data, "errors": formatted}
            await self._answer(scope, send, HTTPStatus.OK, body, media)
            return
        # Part of it could not be read or written: say when to ask again.
        retry = ((b"retry-after", str(outage.retry_after_seconds).encode("ascii")),)
        if data is not None and any(value is not None for value in data.values()):
            body = {"data": data, "errors": formatted}
            await self._answer(scope, send, HTTPStatus.OK, body, media, retry)
        else:
            body = {"errors": formatted}
            await self._answer(scope, send, HTTPStatus.SERVICE_UNAVAILABLE, body, media, retry)

    async def _execute(
        self,
        prepared: PreparedDocument,
        params: Params,
        context: RequestContext,
        operation: Operation | None,
    ) -> ExecutionResult:
        """graphql-core's execution of the prepared document, under the query deadline.

        What ``graphql.execute`` does, in its two public steps: build the
        executor (which finds the operation and coerces the variables), then
        run the operation. With the plain executor: the default one sets up
        for ``@defer`` and ``@stream``, which this schema does not define
        (validation refuses them), at a cost on every request.

        graphql-core's executor refers to itself (its ``async_helpers`` hold
        two of its bound methods): left as it is, every request's executor,
        and the context and loaders it holds, would wait for the cyclic
        garbage collector, which would then run every few dozen requests.
        Once the operation is done nothing uses them, so the cycle is cut
        there and reference counting frees the request at once.

        Only queries have a deadline (see the module docs and
        :class:`~.deadline.Deadline`), counted from their first wait.
        """
        assert prepared.document is not None, "only valid documents are executed"
        deadline = None
        if operation is not None and operation.type == "query":
            # One deadline for the plan and, if it steps aside, graphql-core.
            deadline = Deadline(self.deadline)
            planned = await self._run_plan(prepared, params, context, operation, deadline)
            if planned is not None:
                return planned
        executor = Executor.build(
            self.schema,
            prepared.document,
            context_value=context,
            raw_variable_values=params.variables,
            operation_name=params.operation_name,
            # No hints in variable errors either.
            hide_suggestions=self.hide_suggestions,
        )
        if isinstance(executor, list):  # no such operation, or variables that do not coerce
            return ExecutionResult(None, executor)
        snapshot = _snapshot(context, operation)
        try:
            if snapshot is None:
                started = executor.execute_operation()
                if isinstance(started, ExecutionResult):
                    return started
                if deadline is None:
                    return await _result(started)
                async with timeout(deadline):
                    return await _result(started)
            async with timeout(deadline), snapshot:
                return await _result(executor.execute_operation())
        finally:
            del executor.async_helpers

    async def _run_plan(
        self,
        prepared: PreparedDocument,
        params: Params,
        context: RequestContext,
        operation: Operation,
        deadline: Deadline,
    ) -> ExecutionResult | None:
        """The query's answer through its compiled plan (:mod:`.plans`), if it has one.

        ``None`` when graphql-core must run it: the document uses what plans
        leave out, or this run went off the successful path (an error to
        report with its path, a null to propagate); a query has no side
        effects, so running it again costs only time.
        """
        plan = prepared.plan(self.schema, params.operation_name)
        if plan is None:
            return None
        snapshot = _snapshot(context, operation)
        try:
            if snapshot is None:
                # The plan sets the timer only if it has something to await.
                data = await plan.run(context, params.variables, deadline)
            else:
                async with timeout(deadline), snapshot:
                    data = await plan.run(context, params.variables, deadline)
            return ExecutionResult(data, None)
        except Unplannable:
            return None

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
            prepared = await self._prepare_off_loop(query)
        return prepared

    async def _prepare_off_loop(self, query: str) -> PreparedDocument:
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            self._preparing, self.documents.prepare_uncached, query
        )
        self.documents.remember(query, prepared)
        return prepared

    async def _body(self, receive: Receive, declared: bytes | None) -> bytes:
        """The request body, refused (413) as soon as it is known to be too large."""
        limit = self.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large()
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise _too_large()
            return body
        received = bytearray(body)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected
            received += message.get("body", b"")
            if len(received) > limit:
                raise _too_large()
            if not message.get("more_body", False):
                return bytes(received)

    async def _request_errors(
        self,
        scope: Scope,
        send: Send,
        media: str,
        raised: Sequence[GraphQLError],
        rid: str,
    ) -> None:
        """A document that cannot run: errors and no ``data``, 200 or 400 by media type."""
        errors = RequestErrors(rid, hide_suggestions=self.hide_suggestions)
        body = {"errors": [errors(error) for error in raised]}
        await self._answer(scope, send, _REQUEST_ERROR_STATUS[media], body, media)

    async def _refuse(
        self, scope: Scope, send: Send, media: str, refusal: BadRequest, rid: str
    ) -> None:
        body = error_body(refusal.message, refusal.code, rid)
        await self._answer(scope, send, refusal.status, body, media, refusal.headers)

    async def _outage(self, scope: Scope, send: Send, media: str, error: Outage, rid: str) -> None:
        """503: the database is out of reach (or went while committing); try again later."""
        code = code_for_exception(error)
        body = error_body(OUTAGE_MESSAGES[code], code, rid)
        body["errors"][0]["extensions"]["retryAfter"] = error.retry_after_seconds
        retry = ((b"retry-after", str(error.retry_after_seconds).encode("ascii")),)
        await self._answer(scope, send, HTTPStatus.SERVICE_UNAVAILABLE, body, media, retry)

    async def _answer(
        self,
        scope: Scope,
        send: Send,
        status: int,
        body: dict[str, Any],
        media: str,
        headers: Headers = (),
    ) -> None:
        """Send ``body``, noting its first error's code (the request's outcome in the metrics)."""
        errors = body.get("errors")
        if errors:
            code = (errors[0].get("extensions") or {}).get("code")
            if isinstance(code, str):
                note_error(scope, code)
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    _CONTENT_TYPES[media],
                    (b"content-length", b"%d" % len(payload)),
                    *headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _answer_data(self, send: Send, body: dict[str, Any], media: str) -> None:
        """The common case: the operation ran without an error."""
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_CONTENT_TYPES[media], (b"content-length", b"%d" % len(payload))],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def snapshot_for(context: Any, operation: Operation | None) -> AbstractAsyncContextManager[None]:
    """One read snapshot for a query with several root fields, so they agree with each other.

    A single root field reads as before (each statement its own snapshot):
    no transaction, no connection held for the whole operation.
    """
    snapshot = _snapshot(context, operation)
    return snapshot if snapshot is not None else nullcontext()


def _snapshot(
    context: Any, operation: Operation | None
) -> AbstractAsyncContextManager[None] | None:
    if operation is None or operation.type != "query" or operation.root_fields < 2:
        return None
    services = getattr(context, "services", None)
    read_snapshot = getattr(services, "read_snapshot", None)
    if read_snapshot is None:
        return None
    snapshot: AbstractAsyncContextManager[None] = read_snapshot()
    return snapshot


async def _result(
    started: AwaitableOrValue[ExecutionResult | ExperimentalIncrementalExecutionResults],
) -> ExecutionResult:
    """The plain executor's one result (incremental delivery is the default executor's)."""
    result = await started if isinstance(started, Awaitable) else started
    assert isinstance(result, ExecutionResult), "the plain executor delivers one result"
    return result


def _too_large() -> BadRequest:
    return BadRequest("the request body is too large", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop (for the endpoint served on its own)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
