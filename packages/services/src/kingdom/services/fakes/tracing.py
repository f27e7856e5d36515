"""A tracer that keeps its spans in memory, for tests of what makes spans.

It behaves as a recording tracer must (:class:`~kingdom.services.tracing.Tracer`):
each span continues its parent's trace (or starts one), is the current trace
while its block runs, and is marked failed by an exception leaving it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import Token
from dataclasses import dataclass, field
from types import TracebackType

from kingdom.services.tracing import (
    TRACE_PARENT,
    AttributeValue,
    SpanKind,
    continue_trace,
    parse_traceparent,
)


@dataclass
class RecordedSpan:
    name: str
    parent: str | None
    """The parent the caller named (``None``: a new trace)."""
    kind: SpanKind
    trace_parent: str
    """This span's own ``traceparent``."""
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    error: str | None = None
    ended: bool = False
    _token: Token[str | None] | None = None

    @property
    def trace_id(self) -> str:
        return self.trace_parent[3:35]

    @property
    def span_id(self) -> str:
        return self.trace_parent[36:52]

    def __enter__(self) -> RecordedSpan:
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
        if kind is not None:
            self.error = kind.__name__
        self.ended = True

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.attributes[key] = value

    def set_error(self, description: str) -> None:
        self.error = description


class RecordingTracer:
    """Keeps every span it makes, in the order they were started."""

    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []

    def span(
        self,
        name: str,
        parent: str | None,
        *,
        kind: SpanKind = "internal",
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> RecordedSpan:
        recorded = RecordedSpan(
            name,
            parent,
            kind,
            continue_trace(parse_traceparent(parent)),
            dict(attributes or {}),
        )
        self.spans.append(recorded)
        return recorded

    def named(self, prefix: str) -> list[RecordedSpan]:
        """The spans whose name starts with ``prefix``."""
        return [span for span in self.spans if span.name.startswith(prefix)]
