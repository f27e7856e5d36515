"""Records back to events: every stored event type decodes; anything else fails alone."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kingdom.adapters.messaging.envelope import decode_envelope, encode_envelope
from kingdom.adapters.sql.event_codec import EVENTS
from kingdom.domain.shared import Event
from kingdom.workers.records import Delivery, RecordError, decode_message, decode_record
from unit.workers.support import (
    TRACE_PARENT,
    deposit,
    envelope,
    examples,
    outbox_message,
    sqs_record,
)

EXAMPLES = examples()


def test_the_examples_cover_every_event_type_the_codec_stores() -> None:
    assert {type(event) for event in EXAMPLES} == {schema.cls for schema in EVENTS.schemas}


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: type(event).__name__)
def test_every_event_type_round_trips_through_an_sqs_record(event: Event) -> None:
    record = sqs_record(envelope(event, TRACE_PARENT))

    assert decode_record(record) == Delivery(event, TRACE_PARENT)


def test_an_outbox_message_decodes_without_a_body() -> None:
    event = deposit()
    assert decode_message(outbox_message(event)) == Delivery(event, None)


@pytest.mark.parametrize("request_id", ["req-1", None])
def test_who_and_which_request_round_trip_through_the_envelope(request_id: str | None) -> None:
    event = deposit()
    message = dataclasses.replace(
        outbox_message(event, TRACE_PARENT), position=0, actor_id="u-1", request_id=request_id
    )  # the position stays home: it means nothing beyond the outbox

    assert decode_envelope(encode_envelope(message)) == message
    assert decode_record(sqs_record(encode_envelope(message))) == Delivery(
        event, TRACE_PARENT, "u-1", request_id
    )


def test_an_envelope_from_before_request_ids_still_decodes() -> None:
    data = json.loads(envelope(deposit(), TRACE_PARENT))
    del data["request_id"]  # what a relay of the previous release sent

    assert decode_envelope(json.dumps(data)).request_id is None


def test_a_request_id_that_is_not_text_is_a_record_error() -> None:
    data = {**json.loads(envelope(deposit())), "request_id": 42}
    with pytest.raises(RecordError, match="request_id must be str or null"):
        decode_record(sqs_record(json.dumps(data)))


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        json.dumps({"envelope": 99}),
        json.dumps({**json.loads(envelope(deposit())), "payload": "text"}),
    ],
    ids=["bad-json", "not-an-object", "unknown-envelope", "payload-not-an-object"],
)
def test_a_body_that_is_not_an_event_envelope_is_a_record_error(body: str) -> None:
    with pytest.raises(RecordError, match="not an event envelope"):
        decode_record(sqs_record(body))


def test_a_record_without_a_body_is_a_record_error() -> None:
    record = sqs_record("")
    del record["body"]
    with pytest.raises(RecordError, match="no text body"):
        decode_record(record)


def test_an_unknown_event_type_is_a_record_error() -> None:
    data = json.loads(envelope(deposit()))
    data["event_type"] = "ledger.Nonsense"
    with pytest.raises(RecordError, match="unknown event type 'ledger.Nonsense'"):
        decode_record(sqs_record(json.dumps(data)))


def test_a_payload_that_does_not_decode_is_named_without_its_values() -> None:
    data = json.loads(envelope(deposit()))
    data["payload"]["account_id"] = "secret-looking-value"
    data["payload"]["amount"] = "not a number"

    with pytest.raises(RecordError) as raised:
        decode_record(sqs_record(json.dumps(data)))

    assert "ledger.FundsDeposited" in str(raised.value)
    assert "not a number" not in str(raised.value)
    assert "secret-looking-value" not in str(raised.value)


def test_an_envelope_claiming_another_message_id_is_a_record_error() -> None:
    # The inbox deduplicates by the event's id: the two must agree.
    data = json.loads(envelope(deposit(message_id="msg-1")))
    data["message_id"] = "msg-2"
    with pytest.raises(RecordError, match="message_id"):
        decode_record(sqs_record(json.dumps(data)))
