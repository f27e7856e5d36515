"""The SQS batch handler: a partial batch response naming exactly the records that failed."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kingdom.workers.lambda_handler import handle_batch, report_metrics
from unit.workers.support import TRACE_PARENT, FakeConsumer, deposit, envelope, sqs_record

FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:kingdom.fifo"


@pytest.fixture()
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def failed_ids(response: Any) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_only_the_poison_record_and_the_failing_one_are_reported(
    loop: asyncio.AbstractEventLoop,
) -> None:
    events = [deposit(amount) for amount in range(1, 9)]
    failing = deposit(99)
    records = [sqs_record(envelope(event), f"ok-{i}") for i, event in enumerate(events)]
    records.insert(3, sqs_record("{this is not json", "poison"))
    records.insert(7, sqs_record(envelope(failing), "handler-fails"))
    consumer = FakeConsumer(failing={failing.message_id})

    response = handle_batch({"Records": records}, consumer, loop)

    assert len(records) == 10
    assert sorted(failed_ids(response)) == ["handler-fails", "poison"]
    assert consumer.consumed == events  # all the others, in order


def test_an_entirely_successful_batch_reports_nothing(loop: asyncio.AbstractEventLoop) -> None:
    events = [deposit(amount) for amount in range(1, 4)]
    consumer = FakeConsumer()

    response = handle_batch(
        {"Records": [sqs_record(envelope(event, TRACE_PARENT)) for event in events]},
        consumer,
        loop,
    )

    assert response == {"batchItemFailures": []}
    assert consumer.consumed == events
    assert consumer.trace_parents == [TRACE_PARENT] * 3


def test_an_event_with_no_records_reports_nothing(loop: asyncio.AbstractEventLoop) -> None:
    consumer = FakeConsumer()

    assert handle_batch({"Records": []}, consumer, loop) == {"batchItemFailures": []}
    assert consumer.consumed == []


def test_a_batch_where_everything_failed_names_every_record(
    loop: asyncio.AbstractEventLoop,
) -> None:
    # Powertools would raise by default; an answer naming them all is the same
    # to SQS, and the poller can act on it.
    records = [sqs_record("poison", "a"), sqs_record("[]", "b")]

    response = handle_batch({"Records": records}, FakeConsumer(), loop)

    assert sorted(failed_ids(response)) == ["a", "b"]


def test_the_loop_is_reused_from_one_batch_to_the_next(loop: asyncio.AbstractEventLoop) -> None:
    # What the database's pooled connections need (see kingdom.workers.composition).
    seen: list[asyncio.AbstractEventLoop] = []

    class LoopWatcher(FakeConsumer):
        async def consume(self, event: Any, *, trace_parent: str | None = None) -> None:
            seen.append(asyncio.get_running_loop())

    for _ in range(2):
        handle_batch({"Records": [sqs_record(envelope(deposit()))]}, LoopWatcher(), loop)

    assert seen == [loop, loop]


def test_on_a_fifo_queue_a_failure_holds_back_the_rest_of_its_group_only(
    loop: asyncio.AbstractEventLoop,
) -> None:
    first, second, other = deposit(1), deposit(2), deposit(3)
    records = [
        sqs_record(envelope(first), "a-1", queue_arn=FIFO_ARN, group="account-a"),
        sqs_record(envelope(other), "b-1", queue_arn=FIFO_ARN, group="account-b"),
        sqs_record(envelope(second), "a-2", queue_arn=FIFO_ARN, group="account-a"),
    ]
    consumer = FakeConsumer(failing={first.message_id})

    response = handle_batch({"Records": records}, consumer, loop)

    assert sorted(failed_ids(response)) == ["a-1", "a-2"]
    assert consumer.consumed == [other]


def test_each_failure_is_one_log_line_with_its_message_id_and_never_the_body(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    failing = deposit(42)
    records = [
        sqs_record('{"secret": "ann@example.org"', "poison"),
        sqs_record(envelope(failing), "handler-fails"),
    ]
    caplog.set_level(logging.WARNING, logger="kingdom.workers")

    handle_batch({"Records": records}, FakeConsumer(failing={failing.message_id}), loop)

    lines = [r.getMessage() for r in caplog.records if r.name == "kingdom.workers.lambda_handler"]
    assert len(lines) == 2
    assert lines[0].startswith("record poison failed: not an event envelope")
    assert lines[1].startswith("record handler-fails failed: FundsDeposited: RuntimeError")
    assert not any("ann@example.org" in line or "a-1" in line for line in lines)


def test_a_batch_reports_its_outcomes_in_embedded_metric_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = [
        {"messageId": "a", "attributes": {"ApproximateReceiveCount": "1"}},
        {"messageId": "b", "attributes": {"ApproximateReceiveCount": "3"}},
        {"messageId": "c", "attributes": {"ApproximateReceiveCount": "1"}},
    ]
    report_metrics({"Records": records}, {"batchItemFailures": [{"itemIdentifier": "b"}]})

    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Kingdom"
    outcomes = ("MessagesProcessed", "MessagesFailed", "MessagesRedelivered")
    assert [line[name] for name in outcomes] == [[2.0], [1.0], [1.0]]
