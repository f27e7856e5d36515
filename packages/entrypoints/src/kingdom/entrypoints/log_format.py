"""One JSON object per log line, for every logger of the server (uvicorn's included).

Log shippers read a line as one event: a multi-line traceback becomes one
escaped string in ``exception``. Structured fields travel on a record as
``extra={"fields": {...}}`` (see :mod:`kingdom.entrypoints.http.access_log`)
and become top-level keys next to ``time``, ``level``, ``logger`` and
``message``.

:func:`logging_config` is the ``logging.config.dictConfig`` the server hands
to uvicorn, which applies it in the main process and in every worker.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

import orjson

_RESERVED: Final = frozenset({"time", "level", "logger", "message", "exception"})


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            event.update((key, value) for key, value in fields.items() if key not in _RESERVED)
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # default=str: a field that is not JSON (a UUID, a path) is still logged.
        return orjson.dumps(event, default=str).decode()


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """Everything to stderr as JSON lines; uvicorn's access log off (ours replaces it)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's loggers propagate to the root handler instead of their own.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
