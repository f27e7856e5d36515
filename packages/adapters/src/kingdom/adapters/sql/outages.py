"""Lost and unreachable databases, raised as :mod:`kingdom.services.outages` errors.

:func:`watch_outages` hooks an engine so that every failure meaning "could not
reach the database" or "lost the connection" surfaces as
:class:`~kingdom.services.outages.Unavailable` (nothing was written), or as
:class:`~kingdom.services.outages.OutcomeUnknown` when the connection went
during ``COMMIT`` (the write may have happened), wherever it happens: reads,
the token check, the unit of work. Such a connection is also marked
disconnected, so SQLAlchemy discards it and every pooled connection older
than it: once the database answers again the pool reconnects by itself,
without a ping on every checkout.

What counts as an outage:

* connecting fails, whatever the reason: refused, timed out, DNS, the
  server starting up or shutting down (57P0x), too many clients (53300), a
  database not accepting connections, credentials refused;
* an established connection fails: the driver saw it close (asyncpg's
  ``ConnectionDoesNotExistError``, ``InterfaceError`` "connection is
  closed", "another operation is in progress" on a connection left half-way),
  SQLSTATE class 08, an administrator terminating the backend (57P01);
* no pooled connection became free within the pool timeout;
* SQLite cannot open or read its file (``SQLITE_CANTOPEN``, ``SQLITE_IOERR``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Final

import asyncpg
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Dialect, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

from kingdom.services.outages import OutcomeUnknown, Unavailable

_COMMITTING: Final = "kingdom_committing"
_LOST_SQLSTATES: Final = frozenset({"57P01", "57P02", "57P03", "53300"})
_LOST_MESSAGES: Final = (
    "connection is closed",
    "connection was closed",
    "another operation",
    "underlying connection is closed",
)
_NOT_SENT: Final = "underlying connection is closed"
"""asyncpg refuses COMMIT on a connection already closed: it was never sent."""
_SQLITE_LOST: Final = ("SQLITE_CANTOPEN", "SQLITE_IOERR")


def is_lost(error: BaseException | None) -> bool:
    """Whether ``error`` (a driver's, or SQLAlchemy's wrapping one) means the database is out of reach."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if _is_lost_here(error):
            return True
        error = error.__cause__ or getattr(error, "orig", None)
    return False


def _is_lost_here(error: BaseException) -> bool:
    if isinstance(error, exc.TimeoutError):  # the pool's: no connection came free
        return True
    if isinstance(error, OSError | asyncio.TimeoutError):  # refused, unreachable, DNS
        return True
    if isinstance(
        error, asyncpg.PostgresConnectionError | asyncpg.exceptions.OperatorInterventionError
    ):
        return not isinstance(error, asyncpg.exceptions.QueryCanceledError)
    if isinstance(error, asyncpg.exceptions.TooManyConnectionsError):
        return True
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "") or ""
        return name.startswith(_SQLITE_LOST)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _LOST_SQLSTATES):
        return True
    if isinstance(error, asyncpg.InterfaceError | asyncpg.InternalClientError):
        return any(message in str(error) for message in _LOST_MESSAGES)
    return False


def watch_outages(engine: AsyncEngine) -> None:
    """Raise outage errors for ``engine`` (and every engine derived from it with options)."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "do_connect")
    def _connect(
        dialect: Dialect, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> Any:
        # Whatever stops a connection (refused, a password the server no longer
        # takes, too many clients), the request cannot be served now.
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as error:
            raise Unavailable(f"cannot connect to the database: {first_line(error)}") from error

    @event.listens_for(sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.info[_COMMITTING] = False

    @event.listens_for(sync_engine, "commit")
    def _commit(connection: Connection) -> None:
        connection.info[_COMMITTING] = True

    @event.listens_for(sync_engine, "handle_error")
    def _handle_error(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool handles a failed ping by reconnecting
        connection = context.connection
        committing = (
            connection is not None
            and not connection.invalidated
            and context.execution_context is None
            and bool(connection.info.get(_COMMITTING, False))
        )
        outage = outage_for(
            context.original_exception, disconnected=context.is_disconnect, committing=committing
        )
        if outage is not None:
            context.is_disconnect = True  # discard it, and the pool's older connections
            raise outage from context.original_exception


def outage_for(
    error: BaseException, *, disconnected: bool = False, committing: bool = False
) -> Unavailable | OutcomeUnknown | None:
    """The outage ``error`` means, if any.

    ``disconnected``: the driver already knows the connection is gone.
    ``committing``: the error came from ``COMMIT`` itself. Then the outcome is
    unknown, unless the driver refused to send it on a closed connection.
    """
    if not isinstance(error, Exception):
        return None  # cancelled (a deadline) or exiting: not an outage, let it through
    if not (disconnected or is_lost(error)):
        return None
    if committing and _NOT_SENT not in str(error):
        return OutcomeUnknown(f"lost the database connection while committing: {first_line(error)}")
    return Unavailable(f"lost the database connection: {first_line(error)}")


class OutagePool(AsyncAdaptedQueuePool):
    """The async queue pool, whose timeout (every connection busy) is an :class:`Unavailable`."""

    def _do_get(self) -> ConnectionPoolEntry:
        try:
            return super()._do_get()
        except exc.TimeoutError as error:
            raise Unavailable(f"no database connection came free: {error}") from error


def first_line(error: object) -> str:
    """An error's first line, for messages that must stay short (no driver dump)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
