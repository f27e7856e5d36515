"""From an SQS record (or an outbox message) back to the domain event it carries.

What comes out is a :class:`Delivery`: the event, and the W3C ``traceparent``
of the request that caused it, which the consumer passes on to handlers.

A record that does not decode raises :class:`RecordError`: the batch handler
fails that record alone, and after the queue's ``maxReceiveCount`` SQS moves
it to the dead-letter queue. The error's text names what is wrong but never
repeats the body or payload (it is logged, and events carry personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kingdom.adapters.messaging.envelope import EnvelopeError, decode_envelope
from kingdom.adapters.sql.event_codec import EVENTS, EventCodec, EventCodecError, UnknownEvent
from kingdom.domain.shared import Event
from kingdom.services.ports.outbox import OutboxMessage


class RecordError(ValueError):
    """A record or message that does not carry a Kingdom event."""


@dataclass(frozen=True)
class Delivery:
    """One event as it reached a worker."""

    event: Event
    trace_parent: str | None = None
    actor_id: str | None = None
    """Who committed the event (set as the actor while the workers consume it)."""
    request_id: str | None = None
    """The request that committed it (set as the current request id meanwhile)."""


def decode_record(record: Mapping[str, Any], codec: EventCodec = EVENTS) -> Delivery:
    """The event in one record of Lambda's SQS event (``{"messageId", "body", ...}``)."""
    body = record.get("body")
    if not isinstance(body, str):
        raise RecordError("the record has no text body")
    try:
        message = decode_envelope(body)
    except EnvelopeError as error:
        raise RecordError(f"not an event envelope: {error}") from None
    return decode_message(message, codec)


def decode_message(message: OutboxMessage, codec: EventCodec = EVENTS) -> Delivery:
    """The event an outbox message carries, checked against the envelope around it."""
    where = f"event {message.event_type!r} v{message.schema_version}"
    try:
        event = codec.decode(message.event_type, message.schema_version, message.payload)
    except UnknownEvent as error:
        raise RecordError(str(error)) from None
    except EventCodecError as error:
        # The codec's text may quote payload values: keep it in the chain, out of the logs.
        raise RecordError(f"{where}: the payload does not decode") from error
    if event.message_id != message.message_id:
        # Consumers deduplicate by the event's id: an envelope claiming another
        # id would be processed under the wrong one.
        raise RecordError(f"{where}: the envelope's message_id is not the event's")
    return Delivery(event, message.trace_parent, message.actor_id, message.request_id)
