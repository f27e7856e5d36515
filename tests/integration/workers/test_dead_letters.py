"""Dead letters: a poison message ends in the dead-letter queue, and redrive brings it back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from integration.workers.sqs import Queues, make_queues
from kingdom.adapters.messaging.sqs import SqsTransport
from kingdom.adapters.messaging.sqs_client import sqs_client
from kingdom.adapters.messaging.sqs_queue import SqsQueue
from kingdom.workers import redrive
from kingdom.workers.lambda_handler import handle_batch
from kingdom.workers.poller import poll_once
from unit.workers.support import FakeConsumer, deposit, outbox_message

ATTEMPTS = 30


@pytest.fixture()
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def environ(queues: Queues, endpoint: str) -> dict[str, str]:
    return {"KINGDOM_SQS_QUEUE_URL": queues.url, "KINGDOM_AWS_ENDPOINT_URL": endpoint}


def count(queues: Queues, url: str) -> int:
    attributes = queues.client.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


async def test_a_poison_message_reaches_the_dead_letter_queue_and_redrive_brings_it_back(
    sqs_endpoint: str, loop: asyncio.AbstractEventLoop, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = make_queues(sqs_endpoint, max_receive_count=2, visibility=1)
    good = deposit(5)
    await SqsTransport(queues.client, queues.url, fifo=False).send([outbox_message(good)])
    queues.client.send_message(
        QueueUrl=queues.url,
        MessageBody="{poison",
        MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
    )
    queue = SqsQueue(sqs_client(sqs_endpoint), queues.url)
    consumer = FakeConsumer()

    def handler(event: Any, context: Any) -> Any:
        return handle_batch(event, consumer, loop)

    failures = 0
    for _ in range(ATTEMPTS):
        failures += (await poll_once(queue, handler, wait_seconds=2)).failed
        if count(queues, queues.dead_letter_url) == 1:
            break

    assert consumer.consumed == [good]
    assert failures == 2  # maxReceiveCount receives, each a failure
    assert count(queues, queues.url) == 0
    assert count(queues, queues.dead_letter_url) == 1

    status = await asyncio.to_thread(redrive.run, [], environ(queues, sqs_endpoint))

    assert status == 0
    assert capsys.readouterr().out.startswith(
        f"kingdom redrive: moved 1 message(s) from {queues.dead_letter_url}"
    )
    assert count(queues, queues.dead_letter_url) == 0
    [back] = queues.receive_all()
    assert back["Body"] == "{poison"
    assert back["MessageAttributes"]["origin"]["StringValue"] == "test"
    assert back["Attributes"]["ApproximateReceiveCount"] == "1"  # a fresh start


def test_redrive_moves_at_most_max_messages(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = make_queues(sqs_endpoint)
    for n in range(15):
        queues.client.send_message(QueueUrl=queues.dead_letter_url, MessageBody=f"dead-{n}")

    assert redrive.run(["--max", "12"], environ(queues, sqs_endpoint)) == 0

    assert "moved 12 message(s)" in capsys.readouterr().out
    assert count(queues, queues.url) == 12
    assert count(queues, queues.dead_letter_url) == 3


def test_redrive_takes_an_explicit_dead_letter_queue(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = make_queues(sqs_endpoint)
    other = queues.client.create_queue(QueueName=f"{queues.url.rsplit('/', 1)[1]}-other")
    queues.client.send_message(QueueUrl=other["QueueUrl"], MessageBody="elsewhere")

    arguments = ["--dead-letter-url", other["QueueUrl"]]
    assert redrive.run(arguments, environ(queues, sqs_endpoint)) == 0

    assert "moved 1 message(s)" in capsys.readouterr().out
    assert [m["Body"] for m in queues.receive_all()] == ["elsewhere"]


def test_an_empty_dead_letter_queue_moves_nothing(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = make_queues(sqs_endpoint)

    assert redrive.run([], environ(queues, sqs_endpoint)) == 0
    assert "moved 0 message(s)" in capsys.readouterr().out


def test_a_queue_without_a_redrive_policy_needs_an_explicit_dead_letter_queue(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = make_queues(sqs_endpoint)
    lone = queues.client.create_queue(QueueName=f"{queues.url.rsplit('/', 1)[1]}-lone")

    status = redrive.run(
        [], {**environ(queues, sqs_endpoint), "KINGDOM_SQS_QUEUE_URL": lone["QueueUrl"]}
    )

    assert status == 2
    assert "has no RedrivePolicy" in capsys.readouterr().err


def test_a_missing_queue_is_an_sqs_failure(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{sqs_endpoint}/123456789012/no-such-queue"

    status = redrive.run(
        [], {"KINGDOM_SQS_QUEUE_URL": missing, "KINGDOM_AWS_ENDPOINT_URL": sqs_endpoint}
    )

    assert status == 1
    assert capsys.readouterr().err.startswith("kingdom redrive: ")


def test_fifo_dead_letters_go_back_to_their_message_group(
    sqs_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = make_queues(sqs_endpoint, fifo=True)
    for n, group in enumerate(["account-a", "account-b"]):
        queues.client.send_message(
            QueueUrl=queues.dead_letter_url,
            MessageBody=json.dumps({"n": n}),
            MessageGroupId=group,
            MessageDeduplicationId=f"dedup-{n}",
        )

    assert redrive.run([], environ(queues, sqs_endpoint)) == 0

    assert "moved 2 message(s)" in capsys.readouterr().out
    back = queues.receive_all()
    assert sorted(m["Attributes"]["MessageGroupId"] for m in back) == ["account-a", "account-b"]
