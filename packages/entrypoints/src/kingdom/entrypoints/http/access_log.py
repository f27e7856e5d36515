"""Request ids and the access log: one id and one structured log line per HTTP request.

:class:`AccessLog` is the outermost middleware. It gives every request an
id (the client's or proxy's ``X-Request-ID`` when well-formed, else a new
one), returns it in the ``X-Request-ID`` header of every response (GraphQL,
health, JWKS, 404, 405, 413, a crash's 500), and logs one line on
``kingdom.access`` when the response is done::

    {"message": "POST /graphql 200", "request_id": "...", "method": "POST",
     "path": "/graphql", "status": 200, "duration_ms": 3.1,
     "operation": "Viewer", "operation_type": "query", "user_id": "...",
     "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}

Where the line goes is the middleware's ``sink``. The default,
:func:`log_record`, logs it as a record on ``kingdom.access`` with the fields
as ``record.fields`` (what tests and embedders see through ``logging``); the
server uses :func:`stderr_sink`, which writes the same JSON line
(:func:`kingdom.entrypoints.log_format.json_line`) straight to stderr: a
record, its formatter and its handler cost more than the rest of a small
request's logging. The path is logged without its query string (which may
carry secrets), and never the body.

Inner layers tell it about the request through the ASGI scope's ``state``
(what Starlette shows as ``request.state``): :func:`note_operation`,
:func:`note_user` and :func:`note_error`, called by the GraphQL handler.

Each request is a span of a W3C trace (:mod:`kingdom.services.tracing`):
a child of the client's ``traceparent`` header when it is valid, else the
root of a new trace. The span is current (``TRACE_PARENT``) while the
request runs, so the outbox rows it commits and the lines it logs carry it;
so is the request id (:data:`kingdom.services.causation.REQUEST_ID`), which
those rows carry on to the audit entries and mails they cause. The trace id
is in the access line, and the response's ``traceparent`` header names the
request's own span (same trace id, the server's span id, the caller's
flags), so a client that sent none learns the trace to look for. (That
header is not in the W3C recommendation, whose response header is still a
draft; ``tracestate`` is not carried.) With a tracer in the lifespan state
(``scope["state"]["tracer"]``, which the server's lifespan yields when an
OTLP endpoint is configured), the span is recorded, with the status and the
GraphQL operation; without one nothing but the two ContextVars and the two
ids is spent.

Given an ``observe`` callback (the server's metrics,
:class:`kingdom.entrypoints.http.metrics.RequestMetrics`), it hands it each
finished request's method, path, status, notes and duration, once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import select
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Final

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kingdom.entrypoints.http.responses import OrjsonResponse
from kingdom.entrypoints.log_format import json_line
from kingdom.services.causation import REQUEST_ID as CURRENT_REQUEST_ID
from kingdom.services.tracing import (
    TRACE_PARENT,
    TRACER,
    Span,
    Tracer,
    continue_trace,
    new_trace_parent,
    parse_traceparent,
)

access_logger = logging.getLogger("kingdom.access")
logger = logging.getLogger("kingdom.entrypoints.http")

HEADER: Final = "X-Request-ID"
_HEADER_KEY: Final = b"x-request-id"
_WELL_FORMED: Final = re.compile(rb"[A-Za-z0-9._-]{1,64}")
"""Ids we pass on: short, and safe in a header, a log line or a URL."""
TRACEPARENT_HEADER: Final = "traceparent"
_TRACEPARENT_KEY: Final = b"traceparent"
_GRAPHQL_PATH: Final = "/graphql"

# Keys in scope["state"]. "request_id" is also what graphql.context.request_id reads.
REQUEST_ID: Final = "request_id"
OPERATION: Final = "access_operation"
OPERATION_TYPE: Final = "access_operation_type"
USER_ID: Final = "access_user_id"
ERROR_CODE: Final = "access_error_code"


AccessSink = Callable[[Mapping[str, Any]], None]
"""Where a request's access log fields go (see :func:`log_record`, :func:`stderr_sink`)."""

RequestObserver = Callable[[str, str, int | None, Mapping[str, Any], float], None]
"""Called once per finished request: method, path, status (``None`` if no response
started), the scope's ``state`` (the notes) and the duration in seconds."""


def note_operation(connection: HTTPConnection, name: str | None, type_: str | None) -> None:
    """Record the GraphQL operation the request ran, for its access log line."""
    connection.state.access_operation = name
    connection.state.access_operation_type = type_


def note_user(connection: HTTPConnection, user_id: str | None) -> None:
    """Record the authenticated caller, for its access log line."""
    connection.state.access_user_id = user_id


def note_error(scope: Scope, code: str) -> None:
    """Record the ``extensions.code`` of the response's first error (the request's outcome)."""
    scope.setdefault("state", {})[ERROR_CODE] = code


def choose_request_id(offered: bytes | None) -> str:
    """``offered`` if it is a sane id, else a new random one."""
    if offered is not None and _WELL_FORMED.fullmatch(offered):
        return offered.decode("ascii")
    # 32 hex digits like a UUID4's, without building the UUID object.
    return os.urandom(16).hex()


def access_message(fields: Mapping[str, Any]) -> str:
    """The line's ``message``: ``POST /graphql 200`` (``-`` when no response started)."""
    status = fields["status"]
    return f"{fields['method']} {fields['path']} {status if status is not None else '-'}"


def log_record(fields: Mapping[str, Any]) -> None:
    """The default sink: a record on ``kingdom.access`` carrying the fields as ``record.fields``."""
    if access_logger.isEnabledFor(logging.INFO):
        access_logger.info(access_message(fields), extra={"fields": fields})


class JsonLineSink:
    """A sink writing each access line as JSON straight to a binary stream.

    The line is the one :class:`~kingdom.entrypoints.log_format.JsonFormatter`
    would write for :func:`log_record`'s record; ``kingdom.access``'s level
    still decides whether it is written. Lines are written together once
    per turn of the event loop (a busy server ends several requests per
    turn, and a write is a system call), at most :data:`BATCH_BYTES` at a
    time: a write of up to ``PIPE_BUF`` bytes to a pipe is atomic, so
    batches of several workers sharing one stderr pipe never interleave
    inside a line, nor do they with the whole lines ``logging`` writes.
    Outside an event loop each line is written at once.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._scheduled = False

    def __call__(self, fields: Mapping[str, Any]) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        line = json_line(time.time(), "INFO", access_logger.name, access_message(fields), fields)
        if self._pending_bytes + len(line) > BATCH_BYTES:
            self.flush()
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is pending, in one write."""
        self._scheduled = False
        if not self._pending:
            return
        batch = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        try:
            self._stream.write(batch)
            self._stream.flush()
        except (OSError, ValueError):
            # A closed or broken stderr must not fail the request (``logging``
            # handlers do the same); the next line tries again.
            pass


BATCH_BYTES: Final = select.PIPE_BUF
"""The most :class:`JsonLineSink` writes at once (a longer line is written alone)."""


def stderr_sink() -> AccessSink:
    """The server's sink: JSON lines on this process's stderr (where ``logging`` writes too).

    Falls back to :func:`log_record` when stderr has no binary buffer to write to.
    """
    stream = getattr(sys.stderr, "buffer", None)
    return JsonLineSink(stream) if stream is not None else log_record


class AccessLog:
    """ASGI middleware: request id header and one access log line per HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        sink: AccessSink = log_record,
        observe: RequestObserver | None = None,
    ) -> None:
        self.app = app
        self.sink = sink
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = offered_trace = None
        # One pass finds both (the first of each): a request has a handful of headers.
        for key, value in scope["headers"]:
            if key == _HEADER_KEY:
                if offered is None:
                    offered = value
            elif key == _TRACEPARENT_KEY and offered_trace is None:
                offered_trace = value
        state: dict[str, Any] = scope.setdefault("state", {})
        tracer: Tracer | None = state.get(TRACER)
        if tracer is None:
            # No spans recorded: the request's span id is only made up, for
            # its header, its log line and what it commits.
            if offered is None and offered_trace is None:
                # Most clients send neither: one draw of randomness for both.
                ids = os.urandom(40).hex()
                request_id, trace_parent = ids[:32], new_trace_parent(ids[32:])
            else:
                request_id, trace_parent = choose_request_id(offered), continue_trace(offered_trace)
            await self._serve(scope, receive, send, started, request_id, trace_parent, None)
            return
        method, path = scope["method"], scope["path"]
        with tracer.span(
            # Span names stay few: any other path is named by its method alone.
            f"{method} {path}" if path == _GRAPHQL_PATH else method,
            parse_traceparent(offered_trace),
            kind="server",
            attributes={"http.request.method": method, "url.path": path},
        ) as span:
            trace_parent = span.trace_parent or continue_trace(offered_trace)
            request_id = choose_request_id(offered)
            await self._serve(scope, receive, send, started, request_id, trace_parent, span)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        request_id: str,
        trace_parent: str,
        span: Span | None,
    ) -> None:
        state: dict[str, Any] = scope["state"]
        state[REQUEST_ID] = request_id
        id_header = (_HEADER_KEY, request_id.encode("ascii"))
        trace_header = (_TRACEPARENT_KEY, trace_parent.encode("ascii"))
        # What the request commits (outbox rows) and logs carries its trace,
        # and its id (the audit entries and mails it causes name the request).
        trace_token = TRACE_PARENT.set(trace_parent)
        id_token = CURRENT_REQUEST_ID.set(request_id)
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
                headers.append(trace_header)
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
            elapsed = time.perf_counter() - started
            TRACE_PARENT.reset(trace_token)
            CURRENT_REQUEST_ID.reset(id_token)
            self.sink(
                {
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "operation": state.get(OPERATION),
                    "operation_type": state.get(OPERATION_TYPE),
                    "user_id": state.get(USER_ID),
                    "trace_id": trace_parent[3:35],
                }
            )
            if self.observe is not None:
                self.observe(scope["method"], scope["path"], status, state, elapsed)
            if span is not None:
                _describe(span, status, state)


def _describe(span: Span, status: int | None, state: Mapping[str, Any]) -> None:
    """The answer, on the request's span (a 5xx, or no answer at all, is the server's failure)."""
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    operation, operation_type = state.get(OPERATION), state.get(OPERATION_TYPE)
    if operation is not None:
        span.set_attribute("graphql.operation.name", operation)
    if operation_type is not None:
        span.set_attribute("graphql.operation.type", operation_type)
    if status is None or status >= 500:
        span.set_error(f"HTTP {status if status is not None else 'no response'}")
