"""One trace across the whole event path: the W3C trace context, and the port spans go through.

A trace starts at an HTTP request (the client's ``traceparent`` header, or a
new trace) and follows what the request caused: the command, the outbox row
its commit wrote, the relay's send, the worker's consumption and whatever
that worker writes and logs. What carries it inside a process is
:data:`TRACE_PARENT`, a :class:`~contextvars.ContextVar` holding the
``traceparent`` of the current span (``00-<trace id>-<span id>-<flags>``):
the unit of work copies it onto outbox rows, log records get its trace id
(a logging filter in the adapters), and each hop sets it for the work it
does. It holds a valid version-00 value or ``None``, never anything else:
values from outside go through :func:`parse_traceparent` first.

Spans are optional: :class:`Tracer` is the port (OpenTelemetry implements it
in the adapters when an OTLP endpoint is configured), and :data:`NO_TRACER`,
the default, records nothing and costs a call. Its spans return ``None`` as
their ``trace_parent``, so callers keep the trace they had; a recording
tracer makes each span the current trace while its block runs, and callers
pass its ``trace_parent`` on.

Only version ``00`` is understood (55 characters, lowercase hex, trace and
parent ids not all zeros). Anything else, future versions included, is
ignored and a new trace is started: the request is not refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Final, Literal, Protocol, runtime_checkable

from kingdom.services.injection import DependencyError

TRACE_PARENT: Final[ContextVar[str | None]] = ContextVar("kingdom_trace_parent", default=None)
"""The current span's ``traceparent``; ``None`` outside any trace."""

TRACEPARENT_LENGTH: Final = 55
"""``00-`` + 32 hex + ``-`` + 16 hex + ``-`` + 2 hex."""

_VERSION_00: Final = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE_ID: Final = "0" * 32
_ZERO_SPAN_ID: Final = "0" * 16
_ZERO_TRACE_ID_BYTES: Final = b"0" * 32
_ZERO_SPAN_ID_BYTES: Final = b"0" * 16
SAMPLED: Final = "01"
"""The flags of a trace this server starts: we record it (logs, audit trail, spans)."""


def parse_traceparent(value: str | bytes | None) -> str | None:
    """``value`` if it is a valid version-00 ``traceparent``, else ``None``.

    Valid: exactly ``00-<32 hex>-<16 hex>-<2 hex>``, lowercase (the spec
    forbids uppercase), trace id and parent id not all zeros. A header as
    bytes is accepted (and decoded) too.
    """
    if value is None or len(value) != TRACEPARENT_LENGTH:
        return None
    if isinstance(value, str):
        if not value.isascii():
            return None
        text, value = value, value.encode("ascii")
    else:
        text = None
    match = _VERSION_00.fullmatch(value)
    if match is None or match[1] == _ZERO_TRACE_ID_BYTES or match[2] == _ZERO_SPAN_ID_BYTES:
        return None
    return text if text is not None else value.decode("ascii")


# Ids come from os.urandom, the source of the secrets module, without its two
# wrapper calls: every request without a traceparent makes one.


def new_trace_parent(random_hex: str | None = None) -> str:
    """A new trace: random trace id, random span id, sampled.

    ``random_hex``: 48 random hex digits to take the ids from, for a caller
    that draws them together with its own (the access log, with a request id).
    """
    ids = os.urandom(24).hex() if random_hex is None else random_hex
    trace_id, span_id = ids[:32], ids[32:48]
    # Both all-zero ids are invalid; at odds of 2**-64 and 2**-128 a retry is cheap.
    if trace_id == _ZERO_TRACE_ID or span_id == _ZERO_SPAN_ID:
        return new_trace_parent()
    return f"00-{trace_id}-{span_id}-{SAMPLED}"


def child_trace_parent(parent: str) -> str:
    """A span under ``parent`` (a valid ``traceparent``): same trace and flags, new span id."""
    span_id = os.urandom(8).hex()
    if span_id == _ZERO_SPAN_ID:
        return child_trace_parent(parent)
    return f"{parent[:36]}{span_id}{parent[52:]}"


def continue_trace(offered: str | bytes | None) -> str:
    """The ``traceparent`` of a span serving a request that offered ``offered``.

    A child of ``offered`` when it is valid, else the root of a new trace.
    """
    parent = parse_traceparent(offered)
    return child_trace_parent(parent) if parent is not None else new_trace_parent()


def trace_id_of(trace_parent: str | None) -> str | None:
    """The 32-hex trace id of a valid ``traceparent`` (``None`` for ``None``)."""
    return trace_parent[3:35] if trace_parent is not None else None


def current_trace_parent() -> str | None:
    """The current span's ``traceparent``, or ``None`` outside any trace."""
    return TRACE_PARENT.get()


def current_trace_id() -> str | None:
    """The current trace's id, or ``None`` outside any trace (what log records carry)."""
    trace_parent = TRACE_PARENT.get()
    return trace_parent[3:35] if trace_parent is not None else None


def in_trace(trace_parent: str | None) -> AbstractContextManager[str | None]:
    """``with in_trace(trace_parent):`` makes it the current trace for the block.

    ``trace_parent`` comes from outside (a message attribute): an invalid
    one means no trace, not a broken one. Entering gives the value set.
    """
    return _InTrace(trace_parent)


class _InTrace(AbstractContextManager[str | None]):
    def __init__(self, trace_parent: str | None) -> None:
        self._value = parse_traceparent(trace_parent)
        self._token: Token[str | None] | None = None

    def __enter__(self) -> str | None:
        self._token = TRACE_PARENT.set(self._value)
        return self._value

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            TRACE_PARENT.reset(self._token)
            self._token = None


SpanKind = Literal["internal", "server", "client", "producer", "consumer"]
AttributeValue = str | bool | int | float


class Span(Protocol):
    """A span while its block runs."""

    @property
    def trace_parent(self) -> str | None:
        """This span's ``traceparent`` (what its children name as parent); ``None`` if unrecorded."""

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Describe the span (OpenTelemetry's semantic-convention keys where one fits)."""

    def set_error(self, description: str) -> None:
        """Mark the span failed without an exception (a refused message, a 5xx answer)."""


@runtime_checkable
class Tracer(Protocol):
    """Makes spans. An exception leaving a span's block marks it failed (its type only:
    messages may carry personal data)."""

    def span(
        self,
        name: str,
        parent: str | None,
        *,
        kind: SpanKind = "internal",
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> AbstractContextManager[Span]:
        """A span under ``parent`` (a ``traceparent``; ``None`` or invalid: a new trace).

        While the block runs, a recording tracer makes it the current trace
        (:data:`TRACE_PARENT`).
        """


class _NoSpan(AbstractContextManager["_NoSpan"]):
    """The one span :data:`NO_TRACER` hands out: records nothing, changes no context."""

    trace_parent: None = None

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        pass

    def set_error(self, description: str) -> None:
        pass


_NO_SPAN: Final = _NoSpan()


class NoTracer:
    """The tracer when none is configured: every span is the same no-op."""

    def span(
        self,
        name: str,
        parent: str | None,
        *,
        kind: SpanKind = "internal",
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> _NoSpan:
        return _NO_SPAN


NO_TRACER: Final[Tracer] = NoTracer()

TRACER: Final = "tracer"
"""The dependency name under which the bus and the consumer find the tracer (default:
:data:`NO_TRACER`); handlers may ask for it too."""


def tracer_in(dependencies: Mapping[str, object]) -> Tracer:
    """The tracer among ``dependencies``, else :data:`NO_TRACER`."""
    tracer = dependencies.get(TRACER, NO_TRACER)
    if not isinstance(tracer, Tracer):
        raise DependencyError(f"the {TRACER!r} dependency is not a Tracer: {tracer!r}")
    return tracer
