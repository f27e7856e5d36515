"""One JSON object per log line, for every logger of the server (uvicorn's included).

Log shippers read a line as one event: a multi-line traceback becomes one
escaped string in ``exception``. Structured fields travel on a record as
``extra={"fields": {...}}`` and become top-level keys next to ``time``,
``level``, ``logger`` and ``message``; a record made inside a trace also
carries its ``trace_id`` (see :mod:`kingdom.adapters.trace_logging`).

:func:`json_line` is that format without a :class:`logging.LogRecord`: the
access log (:mod:`kingdom.entrypoints.http.access_log`) writes its one line
per request with it straight to stderr, skipping the logging machinery on
the hot path, and its lines are the same as the formatter's.

:func:`logging_config` is the ``logging.config.dictConfig`` the server hands
to uvicorn, which applies it in the main process and in every worker.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from kingdom.adapters.trace_logging import TraceIdFilter

_RESERVED: Final = frozenset({"time", "level", "logger", "message", "exception"})


def event(
    created: float, level: str, logger: str, message: str, fields: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The JSON object of one log line: the standard keys, then ``fields``."""
    if fields and not _RESERVED.isdisjoint(fields):
        fields = {key: value for key, value in fields.items() if key not in _RESERVED}
    # One dict built at its final size (every access line comes this way).
    return {
        "time": timestamp(created),
        "level": level,
        "logger": logger,
        "message": message,
        **(fields or {}),
    }


_second: tuple[int, str] = (0, datetime.fromtimestamp(0, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
"""The last whole second :func:`timestamp` formatted, and its text."""

_MILLISECONDS: Final = tuple(f".{millis:03d}+00:00" for millis in range(1000))
"""Each millisecond's ending of a timestamp, formatted once."""


def timestamp(created: float) -> str:
    """``created`` in UTC, ISO 8601 to the millisecond: ``2026-01-02T03:04:05.678+00:00``.

    What ``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")``
    gives, at under a quarter of its cost: the date and time of day are formatted
    once per second and the milliseconds are looked up (every request writes
    a line, so this is on the hot path).
    """
    global _second
    # Rounded to the microsecond as datetime does it (modf, then half to even).
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)
    seconds = int(whole)
    if micros >= 1_000_000:
        seconds += 1
        micros -= 1_000_000
    cached, text = _second
    if seconds != cached:
        text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (seconds, text)
    return text + _MILLISECONDS[micros // 1000]


def json_line(
    created: float, level: str, logger: str, message: str, fields: Mapping[str, Any] | None
) -> bytes:
    """One log line, newline included, as :class:`JsonFormatter` writes it."""
    # default=str: a field that is not JSON (a UUID, a path) is still logged.
    return orjson.dumps(
        event(created, level, logger, message, fields),
        default=str,
        option=orjson.OPT_APPEND_NEWLINE,
    )


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        line = event(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            fields if isinstance(fields, dict) else None,
        )
        # Set by kingdom.adapters.trace_logging.TraceIdFilter inside a trace.
        trace_id = getattr(record, "trace_id", None)
        if trace_id is not None:
            line["trace_id"] = trace_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """Everything to stderr as JSON lines; uvicorn's access log off (ours replaces it)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        # Every line written inside a trace carries its trace id.
        "filters": {"trace_id": {"()": f"{TraceIdFilter.__module__}.TraceIdFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["trace_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's loggers propagate to the root handler instead of their own.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # At DEBUG these log statements with their parameters: a queued mail's
            # body (a reset code) among them. Never below WARNING, whatever the level.
            "aiosqlite": {"level": "WARNING"},
            "sqlalchemy": {"level": "WARNING"},
            "asyncpg": {"level": "WARNING"},
        },
    }
