"""The transactional outbox: every committed event, stored in the same transaction.

A relay reads unpublished rows in ``position`` order, publishes them and
stamps ``published_at``; because the rows commit (or roll back) together with
the state change they describe, an event is never lost and never announced
for a change that did not happen. ``message_id`` is unique so consumers (and
the relay) can deduplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Index, Integer, String, Table, text

from kingdom.adapters.sql.event_codec import EVENTS, EventCodec
from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.types import BigIntegerId, EventPayload, UtcDateTime
from kingdom.domain.shared import Event
from kingdom.services.causation import MAX_REQUEST_ID_LENGTH
from kingdom.services.tracing import TRACEPARENT_LENGTH

outbox = Table(
    "outbox",
    metadata,
    Column("position", BigIntegerId, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", EventPayload(), nullable=False),
    Column("aggregate_type", String(32), nullable=True),
    Column("aggregate_id", String(64), nullable=True),
    Column("aggregate_version", Integer, nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=True),
    # The W3C traceparent current when the event was committed (its request's
    # span, or the command's when spans are recorded): the relay sends it on,
    # so the worker that handles the event continues the same trace.
    Column("trace_parent", String(TRACEPARENT_LENGTH), nullable=True),
    # The user whose command committed the event (None: the system, a stranger).
    Column("actor_id", String(64), nullable=True),
    # The X-Request-ID of the request that committed it (None: no request).
    Column("request_id", String(MAX_REQUEST_ID_LENGTH), nullable=True),
    # Only the unpublished tail is ever scanned by the relay: a partial index
    # stays small however long the table grows.
    Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
    # SQLite: AUTOINCREMENT never reuses a position, even after deletes.
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class EventSource:
    """The aggregate an event came from, as stored with it (type, id, version after commit)."""

    aggregate_type: str
    aggregate_id: str
    aggregate_version: int


def outbox_row(
    event: Event, source: EventSource | None, codec: EventCodec = EVENTS
) -> dict[str, Any]:
    """The outbox row for ``event``: its encoded payload plus who, when and which version.

    Without ``trace_parent``, which is the committing unit of work's to add (the
    trace is the commit's, not the event's); a row without one stores NULL.
    """
    event_type, schema_version, payload = codec.encode(event)
    return {
        "message_id": event.message_id,
        "event_type": event_type,
        "schema_version": schema_version,
        "payload": payload,
        "aggregate_type": source.aggregate_type if source else None,
        "aggregate_id": source.aggregate_id if source else None,
        "aggregate_version": source.aggregate_version if source else None,
        "occurred_at": event.occurred_at,
    }
