"""The audit trail in SQL: one row per audited event, keyed by its message id.

Indexed for what reading it will need: newest first overall, keyset-paged on
(occurred_at, message_id), and newest first for one subject or one actor.
Related ids are a short JSON list (JSONB on PostgreSQL). A second entry for
the same event clashes on the primary key at commit, a
:class:`~kingdom.services.ports.ConcurrencyConflict` like any concurrent
duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Table, insert, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.records import SqlTransaction
from kingdom.adapters.sql.types import UtcDateTime
from kingdom.services.audit.entries import MAX_SUMMARY_LENGTH, MAX_TRACE_PARENT_LENGTH
from kingdom.services.causation import MAX_REQUEST_ID_LENGTH
from kingdom.services.ports import Change
from kingdom.services.ports.audit import AuditEntry, AuditTrail
from kingdom.services.ports.tracking import Tracker


class IdList(TypeDecorator[tuple[str, ...]]):
    """A tuple of ids as a JSON list (JSONB on PostgreSQL), read back as a tuple."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Iterable[str] | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else list(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> tuple[str, ...] | None:
        return None if value is None else tuple(value)


audit_entries = Table(
    "audit_entries",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor_id", String(64), nullable=True),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("related_ids", IdList(), nullable=False),
    Column("summary", String(MAX_SUMMARY_LENGTH), nullable=False),
    Column("trace_parent", String(MAX_TRACE_PARENT_LENGTH), nullable=True),
    Column("request_id", String(MAX_REQUEST_ID_LENGTH), nullable=True),
    # Newest first, keyset-paged: the whole trail, one subject's, one actor's.
    Index(None, "occurred_at", "message_id"),
    Index(None, "subject_id", "occurred_at", "message_id"),
    Index(None, "actor_id", "occurred_at", "message_id"),
)

_INSERT = insert(audit_entries)
_COLUMNS = tuple(column.key for column in audit_entries.c)


class SqlAuditTrail(AuditTrail):
    def __init__(self, transaction: SqlTransaction, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self._transaction = transaction

    async def _find(self, message_id: str) -> AuditEntry | None:
        result = await self._transaction.execute(
            select(audit_entries).where(audit_entries.c.message_id == message_id)
        )
        row = result.mappings().one_or_none()
        return None if row is None else AuditEntry(**row)

    async def write(self, change: Change) -> None:
        """Insert the staged entry (in the commit's transaction)."""
        entry: AuditEntry = change.record
        await self._transaction.execute(_INSERT, {key: getattr(entry, key) for key in _COLUMNS})
