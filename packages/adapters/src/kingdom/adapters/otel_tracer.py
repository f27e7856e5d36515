"""The services' :class:`~kingdom.services.tracing.Tracer` port, implemented with OpenTelemetry.

Parents are always explicit: a span's parent is the ``traceparent`` the
caller names (an incoming header, an outbox row's, the current trace), turned
into a remote :class:`~opentelemetry.trace.SpanContext`. The services'
:data:`~kingdom.services.tracing.TRACE_PARENT` is the one current context:
OpenTelemetry's own is never attached, so nothing else (an instrumentation
library) can reparent our spans behind our back.

An exception leaving a span marks it failed with the exception's type only
(``error.type``): messages and tracebacks may carry personal data, and the
log line under the same trace id has the details.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

from kingdom.services.tracing import (
    TRACE_PARENT,
    AttributeValue,
    Tracer,
    parse_traceparent,
)
from kingdom.services.tracing import SpanKind as KindName

_KINDS: Final[Mapping[KindName, SpanKind]] = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}


class OtelTracer(Tracer):
    """Spans of an OpenTelemetry tracer (of a provider the composition root configured)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def span(
        self,
        name: str,
        parent: str | None,
        *,
        kind: KindName = "internal",
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> OtelSpan:
        return OtelSpan(self._tracer, name, parent, _KINDS[kind], attributes)


class OtelSpan:
    """One span: started on entering the block, ended on leaving it."""

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        parent: str | None,
        kind: SpanKind,
        attributes: Mapping[str, AttributeValue] | None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._span: trace.Span = trace.INVALID_SPAN
        self._token: Token[str | None] | None = None
        self.trace_parent: str | None = None

    def __enter__(self) -> OtelSpan:
        self._span = self._tracer.start_span(
            self._name,
            context=parent_context(self._parent),
            kind=self._kind,
            attributes=self._attributes,
        )
        self.trace_parent = format_traceparent(self._span.get_span_context())
        self._token = TRACE_PARENT.set(self.trace_parent)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            TRACE_PARENT.reset(self._token)
            self._token = None
        if kind is not None:
            self._span.set_attribute("error.type", kind.__qualname__)
            self._span.set_status(Status(StatusCode.ERROR, kind.__qualname__))
        self._span.end()

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)

    def set_error(self, description: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, description))


def parent_context(trace_parent: str | None) -> Context:
    """An OpenTelemetry context whose span is the remote parent ``trace_parent`` names.

    Empty (the span starts a new trace) when ``trace_parent`` is missing or invalid.
    """
    valid = parse_traceparent(trace_parent)
    if valid is None:
        return Context()
    parent = SpanContext(
        trace_id=int(valid[3:35], 16),
        span_id=int(valid[36:52], 16),
        is_remote=True,
        trace_flags=TraceFlags(int(valid[53:55], 16)),
    )
    return set_span_in_context(NonRecordingSpan(parent), Context())


def format_traceparent(context: SpanContext) -> str:
    """The W3C ``traceparent`` of a span context (version 00)."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
