"""Trace ids on log records: every line written inside a trace says which one.

:class:`TraceIdFilter` copies the current trace id
(:func:`kingdom.services.tracing.current_trace_id`) onto each record as
``record.trace_id`` (``None`` outside a trace; an id given explicitly with
``extra={"trace_id": ...}`` is kept). Attached to a *handler*, it sees every
record the handler writes, whichever logger made it, so no call site
changes. The server's JSON formatter writes it as ``trace_id``; so does
Lambda's JSON log format, which logs a record's extra attributes.

A handler calls its filters on the thread and in the context of the logging
call, which is where the trace is current.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kingdom.services.tracing import current_trace_id

TRACE_ID = "trace_id"
"""The record attribute (and JSON key) holding the trace id."""


class TraceIdFilter(logging.Filter):
    """Puts the current trace id on every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, TRACE_ID, None) is None:
            setattr(record, TRACE_ID, current_trace_id())
        return True


def add_trace_ids(handlers: Iterable[logging.Handler]) -> None:
    """Attach a :class:`TraceIdFilter` to each handler that has none yet."""
    for handler in handlers:
        if not any(isinstance(f, TraceIdFilter) for f in handler.filters):
            handler.addFilter(TraceIdFilter())


def trace_ids_in_logs(*names: str) -> None:
    """Trace ids on whatever the root logger's handlers, and ``names``' handlers, write.

    The workers call it when they start: Lambda's runtime, or the poller,
    installed those handlers before.
    """
    add_trace_ids(logging.getLogger().handlers)
    for name in names:
        add_trace_ids(logging.getLogger(name).handlers)
