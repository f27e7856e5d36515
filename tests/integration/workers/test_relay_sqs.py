"""The relay over a real outbox (SQLite, PostgreSQL) into a real SQS endpoint (moto, over HTTP)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from integration.workers.conftest import OCCURRED, deposit, fill_outbox
from integration.workers.sqs import Queues, make_queues
from kingdom.adapters.messaging.envelope import decode_envelope
from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.event_codec import EVENTS
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.services.fakes import FakeClock
from kingdom.services.ports.outbox import EventTransport, OutboxMessage
from kingdom.services.relay import OutboxRelay

STAMP = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Recording(EventTransport):
    """Passes every batch on, remembering what went in which order."""

    def __init__(self, inner: EventTransport) -> None:
        self.inner = inner
        self.batches: list[list[OutboxMessage]] = []

    async def send(self, messages: Sequence[OutboxMessage]) -> Collection[str]:
        self.batches.append(list(messages))
        return await self.inner.send(messages)


async def drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.relay_once():
        total += published
    return total


def take_all(queues: Queues) -> list[dict[str, Any]]:
    """Receive and delete until the queue is empty (a FIFO group shows its next message only
    once the one before it is deleted)."""
    taken: list[dict[str, Any]] = []
    while True:
        batch = queues.client.receive_message(
            QueueUrl=queues.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return taken
        for message in batch:
            queues.client.delete_message(
                QueueUrl=queues.url, ReceiptHandle=message["ReceiptHandle"]
            )
        taken += batch


def attribute(message: dict[str, Any], name: str) -> str:
    return str(message["MessageAttributes"][name]["StringValue"])


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_the_relay_publishes_in_order_and_stamps_every_row(
    outbox_database: Database, sqs_endpoint: str, fifo: bool
) -> None:
    ids = await fill_outbox(outbox_database, 25)
    queues = make_queues(sqs_endpoint, fifo=fifo)
    transport = Recording(SqsTransport(queues.client, queues.url, fifo=fifo))
    relay = OutboxRelay(
        SqlOutboxFeed(outbox_database, FakeClock(STAMP)), transport, FakeClock(STAMP), batch_size=10
    )

    assert await drain(relay) == 25

    assert [len(batch) for batch in transport.batches] == [10, 10, 5]
    sent = [message for batch in transport.batches for message in batch]
    assert [m.message_id for m in sent] == ids
    assert [m.position for m in sent] == sorted(m.position for m in sent)
    async with outbox_database.engine.connect() as connection:
        result = await connection.execute(select(outbox.c.published_at))
        stamps: list[datetime | None] = list(result.scalars())
    assert stamps == [STAMP] * 25

    received = take_all(queues)
    assert sorted(attribute(m, "message_id") for m in received) == ids
    for message in received:
        envelope = decode_envelope(message["Body"])
        n = int(envelope.message_id.removeprefix("evt-"))
        assert EVENTS.decode(envelope.event_type, envelope.schema_version, envelope.payload) == (
            deposit(n)
        )
        assert envelope.occurred_at == deposit(n).occurred_at
        assert (envelope.aggregate_type, envelope.aggregate_id, envelope.aggregate_version) == (
            "account",
            f"acc-{n % 3}",
            n,
        )
        assert attribute(message, "event_type") == envelope.event_type == "ledger.FundsDeposited"
        assert message["MessageAttributes"]["schema_version"]["DataType"] == "Number"
        assert attribute(message, "schema_version") == str(envelope.schema_version)
        assert attribute(message, "aggregate_type") == "account"
        assert attribute(message, "aggregate_id") == f"acc-{n % 3}"
        assert attribute(message, "aggregate_version") == str(n)
        assert {"traceparent", "request_id"}.isdisjoint(message["MessageAttributes"])
        if fifo:
            assert message["Attributes"]["MessageGroupId"] == f"acc-{n % 3}"
            assert message["Attributes"]["MessageDeduplicationId"] == envelope.message_id
    if fifo:  # each group arrives in commit order
        for group in ("acc-0", "acc-1", "acc-2"):
            arrived = [
                attribute(m, "message_id")
                for m in received
                if m["Attributes"]["MessageGroupId"] == group
            ]
            assert arrived == sorted(arrived)


async def test_a_message_without_an_aggregate_groups_by_type_and_carries_its_trace_and_request(
    sqs_endpoint: str,
) -> None:
    queues = make_queues(sqs_endpoint, fifo=True)
    message = OutboxMessage(
        message_id="m/1:odd id",  # not a valid batch entry id: the transport must not use it
        event_type="identity.RoleCreated",
        schema_version=2,
        payload={"role_code": "auditor"},
        occurred_at=OCCURRED,
        trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        actor_id="u-1",
        request_id="req-1",
    )
    assert await SqsTransport(queues.client, queues.url, fifo=True).send([message]) == []

    [received] = queues.receive_all()
    assert decode_envelope(received["Body"]) == message
    assert received["Attributes"]["MessageGroupId"] == "identity.RoleCreated"
    assert attribute(received, "traceparent") == message.trace_parent
    assert attribute(received, "request_id") == "req-1"
    assert {"aggregate_type", "aggregate_id", "aggregate_version"}.isdisjoint(
        received["MessageAttributes"]
    )


async def test_a_whole_call_failure_raises(sqs_endpoint: str) -> None:
    queues = make_queues(sqs_endpoint)
    gone = queues.url + "-gone"
    message = OutboxMessage("m-1", "test.Happened", 1, {}, OCCURRED)
    with pytest.raises(ClientError):
        await SqsTransport(queues.client, gone, fifo=False).send([message])


class RefusingClient:
    """A boto3 client stand-in whose SendMessageBatch refuses the entries it is told to."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries += Entries
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"}
            for e in Entries
            if decode_envelope(e["MessageBody"]).message_id in self.refuse
        ]
        return {"Successful": [], "Failed": failed}


async def test_failed_entries_map_back_to_their_message_ids() -> None:
    batch = [OutboxMessage(f"m-{n}", "test.Happened", 1, {}, OCCURRED) for n in range(23)]
    client = RefusingClient({"m-3", "m-17", "m-22"})
    refused = await SqsTransport(client, "http://queue", fifo=False).send(batch)
    assert sorted(refused) == ["m-17", "m-22", "m-3"]
    assert len(client.entries) == 23
    assert all(entry["Id"].isalnum() and len(entry["Id"]) <= 80 for entry in client.entries)
