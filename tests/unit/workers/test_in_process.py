"""The embedded transport: outbox messages consumed in this process; failures left to retry."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from kingdom.adapters.metrics.worker import WorkerMetrics
from kingdom.workers.in_process import InProcessTransport
from unit.workers.support import TRACE_PARENT, FakeConsumer, deposit, examples, outbox_message


async def test_every_event_type_reaches_the_consumer_in_order() -> None:
    events = examples()
    consumer = FakeConsumer()

    not_sent = await InProcessTransport(consumer).send(
        [outbox_message(event, TRACE_PARENT) for event in events]
    )

    assert list(not_sent) == []
    assert consumer.consumed == events
    assert consumer.trace_parents == [TRACE_PARENT] * len(events)


async def test_the_messages_that_failed_are_reported_and_the_others_consumed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ok, failing, garbled = deposit(1), deposit(2), deposit(3)
    broken = replace(outbox_message(garbled), event_type="ledger.Nonsense")
    consumer = FakeConsumer(failing={failing.message_id})
    caplog.set_level(logging.WARNING, logger="kingdom.workers")

    not_sent = await InProcessTransport(consumer).send(
        [outbox_message(failing), broken, outbox_message(ok)]
    )

    assert list(not_sent) == [failing.message_id, garbled.message_id]
    assert consumer.consumed == [ok]
    lines = [r.getMessage() for r in caplog.records if r.name == "kingdom.workers.in_process"]
    assert len(lines) == 2
    assert lines[0].startswith(f"message {failing.message_id} not consumed: ledger.FundsDeposited")
    assert lines[1].startswith(f"message {garbled.message_id} not consumed: unknown event type")


async def test_nothing_to_send_is_nothing_failed() -> None:
    assert list(await InProcessTransport(FakeConsumer()).send([])) == []


async def test_outcomes_are_counted_and_a_message_offered_again_is_a_redelivery() -> None:
    registry = CollectorRegistry()
    ok, flaky = deposit(1), deposit(2)
    consumer = FakeConsumer(failing={flaky.message_id})
    transport = InProcessTransport(consumer, metrics=WorkerMetrics(registry))

    await transport.send([outbox_message(ok), outbox_message(flaky)])
    consumer.failing.clear()  # fixed: the relay's next round delivers it
    await transport.send([outbox_message(flaky)])

    def count(outcome: str) -> float | None:
        return registry.get_sample_value("kingdom_worker_messages_total", {"outcome": outcome})

    assert (count("processed"), count("failed"), count("redelivered")) == (2, 1, 1)
