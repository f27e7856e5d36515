"""How an outbox message travels as text: the body of an SQS message (and of the embedded hop).

The body is one JSON object holding everything a consumer needs, so a
message can be decoded from the body alone; the same fields (but the
payload) also go into SQS message attributes, where filters and humans
look. Decoding is strict: a body that is not such an object raises
:class:`EnvelopeError`, and the consumer fails that record alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kingdom.services.ports.outbox import OutboxMessage

ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """A message body that is not a Kingdom event envelope."""


def encode_envelope(message: OutboxMessage) -> str:
    return json.dumps(
        {
            "envelope": ENVELOPE_VERSION,
            "message_id": message.message_id,
            "event_type": message.event_type,
            "schema_version": message.schema_version,
            "payload": message.payload,
            "occurred_at": message.occurred_at.isoformat(),
            "aggregate_type": message.aggregate_type,
            "aggregate_id": message.aggregate_id,
            "aggregate_version": message.aggregate_version,
            "trace_parent": message.trace_parent,
            "actor_id": message.actor_id,
            "request_id": message.request_id,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def decode_envelope(body: str) -> OutboxMessage:
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as error:
        raise EnvelopeError(f"not JSON: {error}") from None
    if not isinstance(data, Mapping) or data.get("envelope") != ENVELOPE_VERSION:
        raise EnvelopeError(f"not a version-{ENVELOPE_VERSION} event envelope")
    try:
        occurred_at = datetime.fromisoformat(_text(data, "occurred_at"))
    except ValueError as error:
        raise EnvelopeError(f"occurred_at: {error}") from None
    if occurred_at.tzinfo is None:
        raise EnvelopeError("occurred_at has no offset")
    payload = data.get("payload")
    if not isinstance(payload, Mapping):
        raise EnvelopeError("payload must be an object")
    return OutboxMessage(
        message_id=_text(data, "message_id"),
        event_type=_text(data, "event_type"),
        schema_version=_integer(data, "schema_version"),
        payload=payload,
        occurred_at=occurred_at,
        aggregate_type=_optional(data, "aggregate_type", str),
        aggregate_id=_optional(data, "aggregate_id", str),
        aggregate_version=_optional(data, "aggregate_version", int),
        trace_parent=_optional(data, "trace_parent", str),
        actor_id=_optional(data, "actor_id", str),
        # Absent from envelopes sent before it existed: None, like a null.
        request_id=_optional(data, "request_id", str),
    )


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise EnvelopeError(f"{name} must be non-empty text")
    return value


def _integer(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise EnvelopeError(f"{name} must be an integer")
    return value


def _optional(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    # bool is an int: refuse it where an int is expected.
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise EnvelopeError(f"{name} must be {kind.__name__} or null")
    return value
