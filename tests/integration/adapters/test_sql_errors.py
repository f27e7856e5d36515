"""Which database failures become ConcurrencyConflict (retried) and which Conflict (refused)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from kingdom.adapters.sql.errors import translate, translated_errors
from kingdom.domain.shared import Conflict
from kingdom.services.ports import ConcurrencyConflict


class _PgError(Exception):
    """What asyncpg errors look like through SQLAlchemy's adaptation: a ``sqlstate``."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"postgres says {sqlstate}")
        self.sqlstate = sqlstate


def _postgres(sqlstate: str) -> DBAPIError:
    return DBAPIError("UPDATE ...", {}, _PgError(sqlstate))


def _sqlite(name: str, message: str) -> DBAPIError:
    original = sqlite3.OperationalError(message)
    original.sqlite_errorname = name
    return OperationalError("UPDATE ...", {}, original)


@pytest.mark.parametrize("sqlstate", ["40001", "40P01", "55P03", "23505"])
def test_transient_postgres_failures_are_concurrency_conflicts(sqlstate: str) -> None:
    assert isinstance(translate(_postgres(sqlstate)), ConcurrencyConflict)


@pytest.mark.parametrize("sqlstate", ["23514", "23503"])
def test_refused_constraints_are_plain_conflicts(sqlstate: str) -> None:
    translated = translate(_postgres(sqlstate))
    assert isinstance(translated, Conflict)
    assert not isinstance(translated, ConcurrencyConflict)


@pytest.mark.parametrize(
    ("name", "retried"),
    [
        ("SQLITE_BUSY", True),
        ("SQLITE_BUSY_SNAPSHOT", True),
        ("SQLITE_LOCKED", True),
        ("SQLITE_CONSTRAINT_UNIQUE", True),
        ("SQLITE_CONSTRAINT_PRIMARYKEY", True),
        ("SQLITE_CONSTRAINT_CHECK", False),
        ("SQLITE_CONSTRAINT_FOREIGNKEY", False),
    ],
)
def test_sqlite_failures_by_result_code(name: str, retried: bool) -> None:
    translated = translate(_sqlite(name, "database is locked"))
    assert isinstance(translated, Conflict)
    assert isinstance(translated, ConcurrencyConflict) is retried


def test_a_stale_version_is_a_concurrency_conflict() -> None:
    assert isinstance(translate(StaleDataError("0 rows matched")), ConcurrencyConflict)


@pytest.mark.parametrize(
    "error",
    [_postgres("42P01"), _sqlite("SQLITE_ERROR", "no such table"), ValueError("unrelated")],
)
def test_anything_else_is_left_alone(error: Exception) -> None:
    assert translate(error) is error


async def test_the_context_manager_chains_the_original() -> None:
    original = _postgres("40001")
    with pytest.raises(ConcurrencyConflict) as raised:
        async with translated_errors():
            raise original
    assert raised.value.__cause__ is original
