"""The audit trail's read side: keyset pages of ``audit_entries``, newest first.

Scope and filter are both part of the WHERE clause (so pages stay full and
totals count only what matches), and the page seeks on one of the table's
three ``(…, occurred_at, message_id)`` indexes: by subject when the filter
names one, else by actor when it names one, else the whole trail's. Event
types and the time window narrow the rows met along that index.

Cursors are bound to the filter as well as the listing: a cursor from one
filter is refused by another (as a transfer cursor is by another account).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, RowMapping, select

from kingdom.adapters.sql.audit import audit_entries
from kingdom.adapters.sql.cursors import CursorCodec
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.keyset import Keyset, allowed_ids, map_page, member_of, scoped
from kingdom.adapters.sql.snapshot import read_connection
from kingdom.domain.access import ReadScope
from kingdom.services.ports.audit import AuditEntry
from kingdom.services.ports.audit_queries import AuditFilter, AuditQueries
from kingdom.services.ports.queries import Page, PageRequest

AUDIT_LOG = Keyset(
    "audit",
    (audit_entries.c.occurred_at, audit_entries.c.message_id),
    (datetime, str),
    descending=True,
)
"""Entries newest first; the message id orders entries of the same instant."""

_COLUMNS = tuple(audit_entries.c)


class SqlAuditQueries(AuditQueries):
    """``audit_entries`` within the caller's audit scope (totals when the request asks)."""

    def __init__(self, database: Database, codec: CursorCodec) -> None:
        # Every read here is one statement: no transaction needed.
        self._engine = database.reader
        self._dialect = database.dialect
        self._codec = codec

    async def list(
        self, scope: ReadScope, page: PageRequest, filter: AuditFilter | None = None
    ) -> Page[AuditEntry]:
        wanted = filter or AuditFilter()
        pager = AUDIT_LOG.cursors(self._codec, listing_name(wanted))
        query = pager.query(page)  # a bad cursor fails before any I/O
        matching = conditions(wanted)
        branches = [
            [*branch, *matching]
            for branch in scoped(audit_entries.c.message_id, scope, self._dialect)
        ]
        if not branches:
            return Page.empty()
        async with read_connection(self._engine) as connection:
            rows = await pager.fetch(
                connection,
                query,
                columns=_COLUMNS,
                branches=branches,
                count_total=page.count_total,
            )
        return map_page(rows, _entry)

    async def by_ids(self, scope: ReadScope, ids: Sequence[str]) -> Mapping[str, AuditEntry]:
        # Entries have no owner: the ids alone decide.
        wanted = allowed_ids(scope, ids)
        if not wanted:
            return {}
        async with read_connection(self._engine) as connection:
            result = await connection.execute(
                select(*_COLUMNS).where(
                    member_of(audit_entries.c.message_id, wanted, self._dialect)
                )
            )
            return {row["message_id"]: _entry(row) for row in result.mappings()}


def conditions(filter: AuditFilter) -> list[ColumnElement[bool]]:
    """``filter`` as WHERE conditions on ``audit_entries`` (none: the whole trail)."""
    table = audit_entries.c
    found: list[ColumnElement[bool]] = []
    if filter.subject is not None:
        found += [table.subject_id == filter.subject.id, table.subject_type == filter.subject.type]
    if filter.actor_id is not None:
        found.append(table.actor_id == filter.actor_id)
    if filter.event_types is not None:
        found.append(table.event_type.in_(sorted(filter.event_types)))
    if filter.since is not None:
        found.append(table.occurred_at >= filter.since)
    if filter.until is not None:
        found.append(table.occurred_at < filter.until)
    return found


def listing_name(filter: AuditFilter) -> str:
    """The listing's name in its cursors: ``audit`` and the filter, unambiguously (JSON)."""
    if filter == AuditFilter():
        return AUDIT_LOG.listing
    subject = None if filter.subject is None else [filter.subject.type, filter.subject.id]
    types = None if filter.event_types is None else sorted(filter.event_types)
    spelled = [subject, filter.actor_id, types, _moment(filter.since), _moment(filter.until)]
    return f"{AUDIT_LOG.listing}?{json.dumps(spelled, separators=(',', ':'))}"


def _moment(value: datetime | None) -> str | None:
    # One spelling per instant, whatever offset the client wrote it with.
    return None if value is None else value.astimezone(UTC).isoformat()


def _entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        message_id=row["message_id"],
        event_type=row["event_type"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        summary=row["summary"],
        actor_id=row["actor_id"],
        related_ids=tuple(row["related_ids"]),
        trace_parent=row["trace_parent"],
        request_id=row["request_id"],
    )
