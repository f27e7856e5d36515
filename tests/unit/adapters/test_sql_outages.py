"""Which database failures are outages, and which outages leave the outcome unknown."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc

from kingdom.adapters.sql.outages import is_lost, outage_for
from kingdom.services.outages import OutcomeUnknown, Unavailable


def _sqlite_error(name: str) -> sqlite3.Error:
    error = sqlite3.OperationalError("boom")
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        asyncpg.InterfaceError("connection is closed"),
        exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"),
        _sqlite_error("SQLITE_CANTOPEN"),
        _sqlite_error("SQLITE_IOERR_SHORT_READ"),
    ],
    ids=repr,
)
def test_lost_connections_are_outages(error: Exception) -> None:
    assert is_lost(error)
    assert isinstance(outage_for(error), Unavailable)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.InterfaceError("cannot use Connection.transaction() in a manually started one"),
        _sqlite_error("SQLITE_BUSY"),
        _sqlite_error("SQLITE_CONSTRAINT_CHECK"),
    ],
    ids=repr,
)
def test_other_failures_are_not(error: Exception) -> None:
    assert not is_lost(error)
    assert outage_for(error) is None


def test_a_wrapped_driver_error_is_seen_through() -> None:
    driver = asyncpg.ConnectionDoesNotExistError("connection was closed")
    wrapped = exc.DBAPIError("SELECT 1", None, driver)

    assert is_lost(wrapped)


def test_cancellation_is_never_an_outage_even_on_a_dropped_connection() -> None:
    assert outage_for(asyncio.CancelledError(), disconnected=True) is None


def test_a_connection_lost_during_commit_leaves_the_outcome_unknown() -> None:
    lost = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    assert isinstance(outage_for(lost, committing=True), OutcomeUnknown)
    assert isinstance(outage_for(lost, committing=False), Unavailable)


def test_a_commit_the_driver_never_sent_is_plainly_unavailable() -> None:
    refused = asyncpg.InterfaceError(
        "cannot call Transaction.commit(): the underlying connection is closed"
    )

    assert isinstance(outage_for(refused, committing=True), Unavailable)
