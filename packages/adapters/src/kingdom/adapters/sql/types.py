"""Column types that make both databases hand back exactly what the domain wrote.

* :class:`UtcDateTime` — aware datetimes in, aware UTC datetimes out. SQLite
  has no time zone support (SQLAlchemy stores a naive string), so the value is
  normalised to UTC on the way in and marked UTC on the way out; naive
  datetimes are refused rather than guessed at.
* :class:`PolicySet` — a ``set[Policy]`` as a JSON list in a canonical order
  (see :mod:`kingdom.adapters.sql.policies`), JSONB on PostgreSQL.
* :func:`policies_as_read` — such a column in a read model: a sorted tuple,
  decoded once per distinct value.
* :data:`BigIntegerId` — a 64-bit auto-increment key that is still SQLite's
  ``INTEGER PRIMARY KEY`` (a rowid alias; ``BIGINT`` would not auto-increment).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Enum, Integer, Label, Text, cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from kingdom.adapters.sql.policies import decode_policies, encode_policies, policies_of_text
from kingdom.domain.access import Policy

BigIntegerId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that round-trips aware UTC datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime: {value!r}")
        utc = value.astimezone(UTC)
        # SQLite would store the offset-less text anyway; make that explicit.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class PolicySet(TypeDecorator[set[Policy]]):
    """A set of policies stored as a canonical JSON list (JSONB on PostgreSQL)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(
        self, value: Iterable[Policy] | None, dialect: Dialect
    ) -> list[dict[str, object]] | None:
        if value is None:
            return None
        return encode_policies(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> set[Policy] | None:
        if value is None:
            return None
        return set(decode_policies(value))

    def compare_values(self, x: Any, y: Any) -> bool:
        # Sets compare by value; the ORM uses this to tell a real change from
        # re-assigning an equal set (which must not bump the version).
        return bool(x == y)


class _PoliciesText(TypeDecorator[tuple[Policy, ...]]):
    """Read-only: a :class:`PolicySet` column read as its text (see :func:`policies_as_read`)."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[Policy, ...]:
        return () if value is None else policies_of_text(value)


def policies_as_read(column: Column[Any]) -> Label[tuple[Policy, ...]]:
    """``column`` (a :class:`PolicySet`) selected for a view: its policies as a sorted tuple.

    Selected as text (on PostgreSQL the driver would otherwise decode the
    JSONB of every row), then decoded through a bounded cache keyed by that
    text (:func:`~kingdom.adapters.sql.policies.policies_of_text`).
    """
    return cast(column, _PoliciesText()).label(column.key)


class EventPayload(TypeDecorator[dict[str, Any]]):
    """An event's JSON payload: JSONB on PostgreSQL, JSON (text) elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def StatusEnum(enum: type[StrEnum]) -> Enum:  # - reads like a type
    """A ``StrEnum`` stored by *value* in a ``VARCHAR(16)``, loaded back as the enum member.

    No native enum type and no CHECK constraint: adding a status then needs
    no schema migration, and the domain is the one place that validates it.
    """
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
