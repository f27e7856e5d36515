"""The relay's rules over in-memory ports: order, partial failures, back-off, pruning."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import pytest

from kingdom.services.fakes import EPOCH, FakeClock
from kingdom.services.fakes.outbox import InMemoryOutbox, RecordingTransport, messages
from kingdom.services.ports.outbox import EventTransport, OutboxMessage
from kingdom.services.relay import OutboxRelay
from kingdom.services.retry import RetryPolicy

# Back-off fast enough for a unit test; ``random`` = 1 makes each wait its cap.
FAST = RetryPolicy(base_delay=0.001, max_delay=0.004, random=lambda: 1.0)


def relay(
    outbox: InMemoryOutbox,
    transport: EventTransport,
    batch_size: int = 10,
    poll_interval: timedelta = timedelta(milliseconds=5),
) -> OutboxRelay:
    return OutboxRelay(
        outbox,
        transport,
        outbox.clock,
        batch_size=batch_size,
        retention=timedelta(hours=1),
        poll_interval=poll_interval,
        backoff=FAST,
    )


async def run_until(relay: OutboxRelay, done: asyncio.Event | None = None, *, rounds: int) -> None:
    """Run the relay until ``done`` is set (or give up after ``rounds`` of its poll)."""
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    for _ in range(rounds):
        if done is not None and done.is_set():
            break
        await asyncio.sleep(0.005)
    stop.set()
    await asyncio.wait_for(task, 5)


@pytest.fixture()
def outbox() -> InMemoryOutbox:
    return InMemoryOutbox(FakeClock())


async def test_a_round_sends_the_oldest_batch_in_order_and_marks_it(
    outbox: InMemoryOutbox,
) -> None:
    outbox.add(*messages(25, EPOCH))
    transport = RecordingTransport()
    relay_ = relay(outbox, transport)

    assert await relay_.relay_once() == 10
    assert transport.sent_ids() == [f"m-{n:04d}" for n in range(1, 11)]
    assert outbox.published_ids() == transport.sent_ids()
    assert [await relay_.relay_once() for _ in range(3)] == [10, 5, 0]
    assert transport.sent_ids() == [f"m-{n:04d}" for n in range(1, 26)]
    assert [m.position for m in transport.sent] == list(range(1, 26))


async def test_refused_messages_stay_unpublished_and_only_they_go_again(
    outbox: InMemoryOutbox,
) -> None:
    outbox.add(*messages(5, EPOCH))
    transport = RecordingTransport(refuse={"m-0002", "m-0004"})
    relay_ = relay(outbox, transport)

    assert await relay_.relay_once() == 3
    assert outbox.published_ids() == ["m-0001", "m-0003", "m-0005"]
    assert await relay_.relay_once() == 2
    assert transport.sent_ids() == ["m-0001", "m-0003", "m-0005", "m-0002", "m-0004"]
    assert sorted(outbox.published_ids()) == [f"m-{n:04d}" for n in range(1, 6)]


async def test_a_failed_send_marks_nothing(outbox: InMemoryOutbox) -> None:
    outbox.add(*messages(3, EPOCH))
    relay_ = relay(outbox, RecordingTransport(failures=1))
    with pytest.raises(ConnectionError):
        await relay_.relay_once()
    assert outbox.published_ids() == []


async def test_run_backs_off_logs_once_and_gets_everything_out(
    outbox: InMemoryOutbox, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.add(*messages(30, EPOCH))
    transport = RecordingTransport(failures=4)
    done = asyncio.Event()

    class Watching(EventTransport):
        async def send(self, batch: Sequence[OutboxMessage]) -> Collection[str]:
            refused = await transport.send(batch)
            if len(transport.sent) == 30:
                done.set()
            return refused

    with caplog.at_level(logging.INFO, logger="kingdom.relay"):
        await run_until(relay(outbox, Watching()), done, rounds=400)

    assert transport.sent_ids() == [f"m-{n:04d}" for n in range(1, 31)]
    assert transport.calls == 4 + 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "TransportDown: the queue is unreachable" in warnings[0].getMessage()
    assert any("recovered after 4 failed rounds" in r.getMessage() for r in caplog.records)


async def test_run_resends_refused_messages(outbox: InMemoryOutbox) -> None:
    outbox.add(*messages(12, EPOCH))
    transport = RecordingTransport(refuse={"m-0003", "m-0011"})
    await run_until(relay(outbox, transport), rounds=50)
    assert sorted(transport.sent_ids()) == [f"m-{n:04d}" for n in range(1, 13)]
    assert len(outbox.published_ids()) == 12


async def test_a_wake_up_relays_a_commit_without_waiting_for_the_poll(
    outbox: InMemoryOutbox,
) -> None:
    transport = RecordingTransport()
    relay_ = relay(outbox, transport, poll_interval=timedelta(hours=1))
    stop = asyncio.Event()
    task = asyncio.create_task(relay_.run(stop))
    await asyncio.sleep(0.01)  # idle, waiting for news
    outbox.add(*messages(1, EPOCH))
    relay_.wake()
    for _ in range(200):
        if transport.sent:
            break
        await asyncio.sleep(0.005)
    stop.set()
    await asyncio.wait_for(task, 5)  # stopping ends the hour-long idle wait too
    assert transport.sent_ids() == ["m-0001"]


async def test_pruning_deletes_only_published_messages_older_than_the_retention(
    outbox: InMemoryOutbox,
) -> None:
    clock = outbox.clock
    assert isinstance(clock, FakeClock)
    outbox.add(*messages(3, EPOCH, prefix="old"))
    relay_ = relay(outbox, RecordingTransport(refuse={"old-0003"}))
    await relay_.relay_once()  # old-1 and old-2 published at EPOCH; old-3 refused
    clock.advance(timedelta(minutes=30))
    outbox.add(*messages(1, EPOCH, prefix="new"))
    await relay_.relay_once()  # new-1 published 30 minutes in (and old-3 at last)
    clock.advance(timedelta(minutes=40))

    assert await relay_.prune() == 2
    assert [row.message.message_id for row in outbox.rows] == ["old-0003", "new-0001"]


async def test_run_prunes_about_once_a_minute(outbox: InMemoryOutbox) -> None:
    clock = outbox.clock
    assert isinstance(clock, FakeClock)
    prunes: list[datetime] = []

    class Counting(InMemoryOutbox):
        async def prune(self, published_before: datetime) -> int:
            prunes.append(published_before)
            return 0

    counting = Counting(clock)
    relay_ = relay(counting, RecordingTransport())
    stop = asyncio.Event()
    task = asyncio.create_task(relay_.run(stop))
    await asyncio.sleep(0.05)  # many idle rounds, one prune
    assert prunes == [EPOCH - timedelta(hours=1)]
    clock.advance(timedelta(seconds=61))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(prunes) == 2
