"""Database failures, translated into the errors the services ring understands.

Two kinds matter to callers:

* :class:`~kingdom.services.ports.ConcurrencyConflict` — someone else got
  there first; running the command again on fresh data may succeed, so the
  message bus retries it. A stale version (0 rows updated), a PostgreSQL
  serialization failure (40001) or deadlock (40P01), a lock that could not be
  taken (55P03), a unique key taken by a concurrent insert (23505) and SQLite
  being busy or locked are all this kind.
* :class:`~kingdom.domain.shared.Conflict` — the database refused a state the
  domain should never have produced (a CHECK or foreign-key constraint), e.g.
  a negative balance. Retrying would not help.

Anything else is a genuine fault and propagates unchanged.

The translated errors' messages may reach a client (as ``CONFLICT``), so
they say what happened in the client's terms and nothing more: no SQLSTATE,
constraint name or driver text. Those stay on the error (``detail``) and in
its ``__cause__``, for the log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from kingdom.adapters.sql.outages import first_line
from kingdom.domain.shared import Conflict
from kingdom.services.ports import ConcurrencyConflict

_RETRYABLE_SQLSTATES = {
    "40001": "serialization failure",
    "40P01": "deadlock",
    "55P03": "lock not available",
    "23505": "unique key taken concurrently",
}
_REFUSED_SQLSTATES = {
    "23514": "check constraint violated",
    "23503": "foreign key violated",
}
_SQLITE_RETRYABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CONSTRAINT_UNIQUE",
    "SQLITE_CONSTRAINT_PRIMARYKEY",
)
_SQLITE_REFUSED = ("SQLITE_CONSTRAINT_CHECK", "SQLITE_CONSTRAINT_FOREIGNKEY")


RETRYABLE_MESSAGE = "the data changed concurrently; try again"
REFUSED_MESSAGE = "the change was refused: it would break a rule the stored data must keep"


def _retryable(detail: str) -> ConcurrencyConflict:
    conflict = ConcurrencyConflict(RETRYABLE_MESSAGE)
    conflict.detail = detail  # type: ignore[attr-defined]
    return conflict


def _refused(detail: str) -> Conflict:
    conflict = Conflict(REFUSED_MESSAGE)
    conflict.detail = detail  # type: ignore[attr-defined]
    return conflict


def translate(error: BaseException) -> BaseException:
    """The services-level error for ``error``, or ``error`` itself if it is not one we know."""
    if isinstance(error, StaleDataError):
        return _retryable(f"stale version: {error}")
    if not isinstance(error, DBAPIError):
        return error
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(sqlstate, str):
        if sqlstate in _RETRYABLE_SQLSTATES:
            return _retryable(f"{_RETRYABLE_SQLSTATES[sqlstate]} ({sqlstate})")
        if sqlstate in _REFUSED_SQLSTATES:
            return _refused(f"{_REFUSED_SQLSTATES[sqlstate]} ({sqlstate}): {first_line(original)}")
        return error
    if isinstance(original, sqlite3.Error):
        return _translate_sqlite(error, original)
    return error


def _translate_sqlite(error: DBAPIError, original: sqlite3.Error) -> BaseException:
    # Python 3.11+ exposes SQLite's extended result code name on the exception.
    name = getattr(original, "sqlite_errorname", "") or ""
    if name.startswith(_SQLITE_RETRYABLE):
        return _retryable(f"{name}: {first_line(original)}")
    if name.startswith(_SQLITE_REFUSED):
        return _refused(f"{name}: {first_line(original)}")
    return error


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Run the block, re-raising known database failures as services-level errors."""
    try:
        yield
    except (DBAPIError, StaleDataError) as error:
        translated = translate(error)
        if translated is error:
            raise
        raise translated from error
